#!/usr/bin/env bash
# Fuzzes the message parser: bash scripts/fuzz.sh [seconds, default 60] [extra libFuzzer args]
# cargo-fuzz needs nightly flags: it uses the nightly toolchain when one is installed, else
# stable with RUSTC_BOOTSTRAP=1 (which unlocks them; stable ships the sanitizer runtime).
# Installs cargo-fuzz from crates.io when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
if rustup run nightly rustc --version >/dev/null 2>&1; then
  toolchain=(+nightly)
else
  export RUSTC_BOOTSTRAP=1
  toolchain=()
fi
cargo "${toolchain[@]}" fuzz run parse -- -max_total_time="$seconds" -max_len=65536 "$@"
