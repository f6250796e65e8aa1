#!/usr/bin/env bash
# Fuzzes the message parser: bash scripts/fuzz.sh [seconds, default 60] [extra libFuzzer args]
# Needs the nightly toolchain (rustup toolchain install nightly); installs cargo-fuzz from
# crates.io when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
cargo +nightly fuzz run parse -- -max_total_time="$seconds" -max_len=65536 "$@"
