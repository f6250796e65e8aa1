#!/usr/bin/env bash
# Every driver setup dupkey supports, each with clippy and a live run, timed:
#   default       clippy on all targets, the full test suite
#   bson-3        clippy, unit tests, the live smoke test (tests/smoke.rs); clippy on the
#                 dupkey tool under bson 3
#   features      every optional feature (sync, anyhow, axum, actix-web, cli): clippy on all
#                 targets, the full test suite
#   sync          clippy, unit tests, the smoke test and the blocking helpers' live races
#   sync,bson-3   the same under bson 3
#   dependents    tests/downstream, an application with its own `mongodb` line and dupkey's
#                 defaults: bson 3 switched on by the application; `--no-default-features
#                 --features bson-2` on dupkey's side with the application's openssl-tls, and
#                 with its rustls-tls (clippy on dupkey in each of those driver setups too)
#   msrv          the lowest mongodb accepted, on the rust-version toolchain, bson-2 and bson-3
# .ci/run covers default, every optional feature, bson-3 and sync,bson-3, the bson 3 dependent
# and the MSRV with bson-2.
# openssl-tls needs OpenSSL's headers: installed with apt-get when missing (as root).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
results=()
cpu_file=$(mktemp)
trap 'rm -f "$cpu_file"' EXIT
cpu() { # sets cpu_now: CPU seconds of everything run so far (`times` in this shell)
  times >"$cpu_file"
  cpu_now=$(tail -n 1 "$cpu_file" | awk '{ t = 0; for (i = 1; i <= 2; i++) { split($i, p, /[ms]/); t += p[1] * 60 + p[2] } printf "%d", t }')
}
combo() {
  local label=$1 t0 c0
  shift
  echo
  echo "== $label"
  t0=$(date +%s)
  cpu
  c0=$cpu_now
  "$@"
  cpu
  results+=("$(printf '%5d s wall %5d s CPU  %s' $(($(date +%s) - t0)) $((cpu_now - c0)) "$label")")
}

if ! pkg-config --exists openssl 2>/dev/null; then
  echo "== installing libssl-dev and pkg-config (openssl-tls)"
  apt-get update -qq && apt-get install -y -qq libssl-dev pkg-config >/dev/null
fi

default() {
  cargo clippy --all-targets --locked -- -D warnings
  cargo test --locked
}
bson3() {
  cargo clippy --no-default-features --features bson-3 --lib --test smoke --locked -- -D warnings
  cargo test --no-default-features --features bson-3 --lib --test smoke --locked
  cargo clippy --no-default-features --features bson-3,cli --bin dupkey --locked -- -D warnings
}
features() {
  cargo clippy --all-targets --locked --features sync,anyhow,axum,actix-web,cli -- -D warnings
  cargo test --locked --features sync,anyhow,axum,actix-web,cli
}
sync() {
  cargo clippy --features sync --lib --test smoke --test sync_live --locked -- -D warnings
  cargo test --features sync --lib --test smoke --test sync_live --locked
}
sync_bson3() {
  cargo clippy --no-default-features --features sync,bson-3 --lib --test smoke --test sync_live \
    --locked -- -D warnings
  cargo test --no-default-features --features sync,bson-3 --lib --test smoke --test sync_live \
    --locked
}
dependent() { # $1: the driver features tests/downstream picks (bson-3, rustls-tls, openssl-tls)
  local driver=mongodb/${1//,/,mongodb/}
  cargo clippy --lib --locked --no-default-features --features "bson-2,$driver" -- -D warnings
  CARGO_TARGET_DIR="$PWD/target" bash scripts/with-mongod.sh cargo run --locked \
    --manifest-path tests/downstream/Cargo.toml --no-default-features --features "$1"
}

combo "default" default
combo "bson-3" bson3
combo "every optional feature" features
combo "sync" sync
combo "sync,bson-3" sync_bson3
combo "dependent: bson-3 by the application, rustls-tls" dependent bson-3,rustls-tls
combo "dependent: bson-2, openssl-tls" dependent openssl-tls
combo "dependent: bson-2, rustls-tls" dependent rustls-tls
combo "msrv: bson-2" bash scripts/msrv.sh bson-2
combo "msrv: bson-3" bash scripts/msrv.sh bson-3

echo
echo "Time per combination:"
printf '%s\n' "${results[@]}"
