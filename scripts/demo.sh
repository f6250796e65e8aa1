#!/usr/bin/env bash
# Runs the examples against a real local mongod that this script starts and stops.
#
#   bash scripts/demo.sh            # the demo, then every example
#   bash scripts/demo.sh signup     # one example
#
# mongod comes from scripts/mongod.sh (fetched once, cached outside the repository). It
# listens on a free port of 127.0.0.1 with a temporary dbpath (standalone), and is
# stopped (and its dbpath removed) when this script exits, however it exits.
set -euo pipefail
cd "$(dirname "$0")/.."

examples=("$@")
[ ${#examples[@]} -gt 0 ] || examples=(demo signup upsert bulk_import)

cargo build --quiet --examples
mongod=$(bash scripts/mongod.sh)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
dbpath=$(mktemp -d "${TMPDIR:-/tmp}/dupkey-demo.XXXXXX")
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$dbpath"
}
trap cleanup EXIT
"$mongod" --port "$port" --dbpath "$dbpath" --bind_ip 127.0.0.1 --nounixsocket \
  --logpath "$dbpath/mongod.log" --wiredTigerCacheSizeGB 0.25 \
  --wiredTigerEngineConfigString 'log=(prealloc=false,file_max=10MB)' \
  --setParameter diagnosticDataCollectionEnabled=false >/dev/null &
pid=$!
for _ in $(seq 600); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || { cat "$dbpath/mongod.log" >&2; exit 1; }
  sleep 0.1
done
export MONGODB_URI="mongodb://127.0.0.1:$port"
echo "mongod $("$mongod" --version | head -n 1 | cut -d' ' -f3) on $MONGODB_URI"
for example in "${examples[@]}"; do
  echo
  echo "== cargo run --example $example"
  cargo run --quiet --example "$example"
done
