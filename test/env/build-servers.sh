#!/usr/bin/env bash
# Builds the Go servers of the test environment (etcd, kube-apiserver, kube-controller-manager) from the
# Go module proxy through the wrapper modules in test/env/go/, and caches the binaries in
# $TL_CACHE_DIR/bin/<name>-<key>/ where <key> hashes the wrapper's go.mod, go.sum, its Go files, the Go
# version, the build flags and the binaries asked for: a second run with the same inputs builds nothing.
# Prints the directory of each set of binaries as NAME=DIR lines on stdout (everything else goes to stderr).
#
# `--node` also builds what the opt-in test node runs (test/env/node.ts): kubelet, kube-scheduler and
# kube-proxy from the same Kubernetes wrapper, CoreDNS, crane (its `registry serve` is the loopback OCI
# registry, and it assembles the images), node-tools (the pod sandbox's pause, an in-cluster API client) and
# kube-router (NetworkPolicy enforcement).
#
# `--knative` builds that and Knative on top: Serving's and Eventing's components (v0.50.0, the binaries their
# own config/ manifests name as ko:// images), Traefik, the ingress of Serving, and kubectl.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${TL_CACHE_DIR:-$root/.cache}
export GOFLAGS=-mod=mod
export CGO_ENABLED=${CGO_ENABLED:-0}

k8s_version=$(awk '/^require k8s.io\/kubernetes /{print $3}' "$here/go/kubernetes/go.mod")
k8s_minor=$(echo "$k8s_version" | cut -d. -f2)
k8s_ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$k8s_version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$k8s_minor -X k8s.io/component-base/version.gitTreeState=clean"

node=false knative=false
case "${1:-}" in
  --node) node=true ;;
  --knative) node=true knative=true ;;
  "") ;;
  *) echo "usage: $0 [--node | --knative]" >&2; exit 2 ;;
esac

build() { # wrapper-name ldflags tags binary=package...
  build_as "$1" "$@"
}

build_as() { # output-name wrapper-name ldflags tags binary=package...
  local name=$1 wrapper=$2 ldflags=$3 tags=$4; shift 4
  local dir="$here/go/$wrapper"
  local key extra=""
  # A set named after its wrapper is keyed on the wrapper and flags; another set of the same wrapper adds
  # its binaries to the key.
  [ "$name" = "$wrapper" ] || extra="$*"
  key=$( (cat "$dir/go.mod" "$dir/go.sum"; find "$dir" -name '*.go' | sort | xargs -r cat; go version; echo "$ldflags $tags $CGO_ENABLED$extra") |
    sha256sum | cut -c1-16)
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
  local var=${name^^}
  echo "${var//-/_}_BIN_DIR=$out"
}

build etcd "-s -w" "" etcd=go.etcd.io/etcd/server/v3
build kubernetes "$k8s_ldflags" "grpcnotrace" \
  kube-apiserver=k8s.io/kubernetes/cmd/kube-apiserver kube-controller-manager=k8s.io/kubernetes/cmd/kube-controller-manager

if $node; then
  build_as kubernetes-node kubernetes "$k8s_ldflags" "grpcnotrace" \
    kubelet=k8s.io/kubernetes/cmd/kubelet kube-scheduler=k8s.io/kubernetes/cmd/kube-scheduler \
    kube-proxy=k8s.io/kubernetes/cmd/kube-proxy
  build coredns "-s -w" "" coredns=.
  build registry "-s -w" "" crane=github.com/google/go-containerregistry/cmd/crane
  build node-tools "-s -w" "" pause=./pause kubeapi=./kubeapi
  build kube-router "-s -w" "" kube-router=github.com/cloudnativelabs/kube-router/v2/cmd/kube-router
fi

if $knative; then
  knative_ldflags="-s -w"
  serving=knative.dev/serving/cmd
  # kubectl deploys the product as a user does (`kubectl apply -k`).
  build_as kubernetes-cli kubernetes "$k8s_ldflags" "grpcnotrace" kubectl=k8s.io/kubernetes/cmd/kubectl
  build knative-serving "$knative_ldflags" "" \
    controller=$serving/controller webhook=$serving/webhook activator=$serving/activator \
    autoscaler=$serving/autoscaler queue=$serving/queue
  eventing=knative.dev/eventing/cmd
  build knative-eventing "$knative_ldflags" "" \
    controller=$eventing/controller webhook=$eventing/webhook mtping=$eventing/mtping \
    apiserver_receive_adapter=$eventing/apiserver_receive_adapter \
    broker_ingress=$eventing/broker/ingress broker_filter=$eventing/broker/filter \
    mtchannel_broker=$eventing/mtchannel_broker \
    channel_controller=$eventing/in_memory/channel_controller \
    channel_dispatcher=$eventing/in_memory/channel_dispatcher \
    auth_proxy=$eventing/auth_proxy jobsink=$eventing/jobsink requestreply=$eventing/requestreply
  build traefik "-s -w" "" traefik=github.com/traefik/traefik/v3/cmd/traefik
fi
