#!/usr/bin/env bash
# Builds the local control plane (kube-apiserver, etcd) and its launcher
# llcluster from Go modules, into a cache that outlives the clone. A second
# run with the same sources and Go version rebuilds nothing.
# Prints the directory holding the three binaries as its last line.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../tools/lib.sh"
cd "$here"

export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-mod=readonly
go_version=$(go env GOVERSION)
k8s_version=$(go list -m -f "{{.Version}}" k8s.io/kubernetes)
hash_of() { cat "$@" | { sha256sum; echo "$go_version"; } | sha256sum | cut -c1-16; }

out="$LEASELOCKER_CACHE/cluster/kubernetes-$k8s_version-$(hash_of build.sh go.mod go.sum cmd/kube-apiserver/*.go cmd/etcd/*.go)"
mkdir -p "$out"
# Stamp the version as Kubernetes' own build does, so /version tells the truth.
minor=${k8s_version#v1.}; minor=${minor%%.*}
version_pkg=k8s.io/component-base/version
build_flags=(-trimpath -ldflags "-s -w -X $version_pkg.gitVersion=$k8s_version -X $version_pkg.gitMajor=1 -X $version_pkg.gitMinor=$minor -X $version_pkg.gitTreeState=clean")

if [ -x "$out/kube-apiserver" ] && [ -x "$out/etcd" ] && [ -f "$out/.complete" ]; then
  log "control plane: kube-apiserver $k8s_version and etcd cached in $out"
else
  log "control plane: building kube-apiserver $k8s_version and etcd from Go modules into $out"
  log "control plane: a cold build takes about 3-20 min on 2 cores; the result is cached for next time"
  start=$SECONDS
  rm -f "$out/.complete"
  run_with_progress "control plane build" "(go build of kube-apiserver + etcd; cached afterwards in $out)" \
    go build "${build_flags[@]}" -o "$out/" ./cmd/kube-apiserver ./cmd/etcd
  touch "$out/.complete"
  log "control plane: built in $((SECONDS - start)) s"
fi

tool_stamp=$(hash_of cmd/llcluster/*.go)
if [ "$(cat "$out/.llcluster-stamp" 2>/dev/null)" != "$tool_stamp" ] || [ ! -x "$out/llcluster" ]; then
  log "control plane: building llcluster"
  go build "${build_flags[@]}" -o "$out/" ./cmd/llcluster
  echo "$tool_stamp" > "$out/.llcluster-stamp"
fi
echo "$out"
