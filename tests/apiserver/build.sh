#!/usr/bin/env bash
# Builds kube-apiserver and etcd from this wrapper module into a cache directory keyed by
# go.sum, so only the first run on a machine pays the cold build (~10-25 min on 2 cores).
# The last stdout line is always the directory holding both binaries.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache_root=${K8S_AUDIT_CACHE:-$HOME/.cache/k8s-isolation-audit}
key=$(sha256sum "$here/go.sum" | cut -c1-16)
out="$cache_root/apiserver-$key"

if [[ -x $out/kube-apiserver && -x $out/etcd ]]; then
  echo "$out"
  exit 0
fi

command -v go >/dev/null || { echo "build.sh: 'go' not on PATH and no cached binaries in $out" >&2; exit 3; }

start=$SECONDS
cd "$here"
version=$(go list -m -f '{{.Version}}' k8s.io/kubernetes)   # e.g. v1.35.4
minor=${version#v1.}; minor=${minor%%.*}

# Without these stamps /version says v0.0.0-master and the emulated version falls back
# to a default; the auditor reads /version, so it must see the real release.
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean"
done

# Build into a scratch dir and rename into place, so an interrupted build never leaves a
# half-written binary that the cache check above would accept.
mkdir -p "$cache_root"
tmp=$(mktemp -d "$cache_root/.build-XXXXXX")
trap 'rm -rf "$tmp"' EXIT

export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -mod=readonly"
# -p 2: one compile job per core; more only adds memory pressure (links take ~2-3 GiB).
timeout 45m go build -p 2 -trimpath -ldflags "$ldflags" -o "$tmp/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
timeout 20m go build -p 2 -trimpath -ldflags "-s -w" -o "$tmp/etcd" ./cmd/etcd

mkdir -p "$out"
mv -f "$tmp/etcd" "$out/etcd"
mv -f "$tmp/kube-apiserver" "$out/kube-apiserver"
echo "build.sh: built $version + etcd in $((SECONDS - start))s" >&2
echo "$out"
