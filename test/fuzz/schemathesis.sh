#!/usr/bin/env bash
# Prints the path of the schemathesis CLI (from PyPI, pinned below), installing it first when needed into a
# virtualenv under $TL_CACHE_DIR keyed by its version, so that a second run on the same machine reuses it.
# Needs Python >= 3.10 (python3.11 when present, else python3).
set -euo pipefail
VERSION=4.32.5
cache=${TL_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tenant-lifecycle}
venv=$cache/schemathesis-$VERSION
mkdir -p "$cache"
install() {
  [ -e "$venv/.installed" ] && return
  local python
  python=$(command -v python3.11 || command -v python3)
  rm -rf "$venv"
  "$python" -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$VERSION" >&2
  touch "$venv/.installed"
}
# Two runs installing at once would share one half-built venv: the second waits for the first.
if command -v flock >/dev/null; then
  exec 9>"$venv.lock"
  flock 9
fi
install
echo "$venv/bin/schemathesis"
