#!/usr/bin/env bash
# Runs a command with a standalone mongod on 127.0.0.1 (from scripts/mongod.sh), its URI in
# DUPKEY_URI; the server and its dbpath are gone when the command ends, however it ends.
#   bash scripts/with-mongod.sh cargo run --manifest-path tests/downstream/Cargo.toml
set -euo pipefail
mongod=$(bash "$(dirname "$0")/mongod.sh")
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$mongod" --dbpath "$dir" --port "$port" --bind_ip 127.0.0.1 --logpath "$dir/mongod.log" \
  --fork --pidfilepath "$dir/mongod.pid" >/dev/null
stop() {
  kill "$(cat "$dir/mongod.pid")" 2>/dev/null || true
  while kill -0 "$(cat "$dir/mongod.pid")" 2>/dev/null; do sleep 0.1; done
  rm -rf "$dir"
}
trap stop EXIT
DUPKEY_URI="mongodb://127.0.0.1:$port" "$@"
