#!/usr/bin/env bash
# Builds the Go servers of the test environment (etcd, kube-apiserver, kube-controller-manager) from the
# Go module proxy through the wrapper modules in test/env/go/, and caches the binaries in
# $TL_CACHE_DIR/bin/<wrapper>-<key>/ where <key> hashes the wrapper's go.mod, go.sum, the Go version and the
# build flags: a second run with the same inputs builds nothing. Prints the directory of each wrapper's
# binaries as NAME=DIR lines on stdout (everything else goes to stderr).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${TL_CACHE_DIR:-$root/.cache}
export GOFLAGS=-mod=mod
export CGO_ENABLED=${CGO_ENABLED:-0}

k8s_version=$(awk '/^require k8s.io\/kubernetes /{print $3}' "$here/go/kubernetes/go.mod")
k8s_minor=$(echo "$k8s_version" | cut -d. -f2)
k8s_ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$k8s_version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$k8s_minor -X k8s.io/component-base/version.gitTreeState=clean"

build() { # wrapper-name ldflags tags binary=package...
  local name=$1 ldflags=$2 tags=$3; shift 3
  local dir="$here/go/$name"
  local key
  key=$( (cat "$dir/go.mod" "$dir/go.sum"; go version; echo "$ldflags $tags $CGO_ENABLED") | sha256sum | cut -c1-16)
  local out="$cache/bin/$name-$key"
  if [ ! -f "$out/.complete" ]; then
    local started=$SECONDS
    echo "building $name ($*) into $out ..." >&2
    rm -rf "$out.tmp" && mkdir -p "$out.tmp"
    (cd "$dir" && go mod download && for target in "$@"; do
      go build -trimpath -tags "$tags" -ldflags "$ldflags" -o "$out.tmp/${target%%=*}" "${target#*=}"
    done) >&2
    rm -rf "$out" && mv "$out.tmp" "$out" && touch "$out/.complete"
    echo "built $name in $((SECONDS - started)) s: $(du -sh "$out" | cut -f1)" >&2
  fi
  echo "${name^^}_BIN_DIR=$out"
}

build etcd "-s -w" "" etcd=go.etcd.io/etcd/server/v3
build kubernetes "$k8s_ldflags" "grpcnotrace" \
  kube-apiserver=k8s.io/kubernetes/cmd/kube-apiserver kube-controller-manager=k8s.io/kubernetes/cmd/kube-controller-manager
