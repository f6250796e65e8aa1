#!/usr/bin/env bash
# Builds the library with the lowest `mongodb` that Cargo.toml accepts, on the toolchain that
# `rust-version` names, with dependencies resolved for that toolchain, in a scratch copy.
#   bash scripts/msrv.sh [dupkey features, default: bson-2]
# Skips (exit 0, saying so) when that toolchain cannot be installed.
set -euo pipefail
cd "$(dirname "$0")/.."
features=${1:-bson-2}
msrv=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml)
lowest=$(sed -n 's/^mongodb = { version = "\([^"]*\)".*/\1/p' Cargo.toml | head -n 1)
if ! rustup toolchain install "$msrv" --profile minimal >/dev/null 2>&1; then
  echo "msrv: Rust $msrv cannot be installed on this machine; skipped"
  exit 0
fi
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
git ls-files -z | xargs -0 cp --parents -t "$scratch"
export CARGO_TARGET_DIR="$PWD/target/msrv"
cd "$scratch"
CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS=fallback cargo generate-lockfile --quiet
cargo update --quiet -p mongodb --precise "$lowest"
# mongodb 3.4.1 asks for bson 3.0.0 but builds only with 3.1.0 or newer (it converts arrays
# into `Bson`, which 3.1.0 added), so bson stays at the version resolved here.
major=2
case ",$features," in *,bson-3,*) major=3 ;; esac
bson=$(sed -n "/^name = \"bson\"/{n;s/^version = \"\\($major[^\"]*\\)\"/\\1/p}" Cargo.lock)
echo "msrv: Rust $msrv, mongodb $lowest, bson $bson, features $features,mongodb/rustls-tls"
cargo "+$msrv" build --lib --locked --no-default-features --features "$features,mongodb/rustls-tls"
