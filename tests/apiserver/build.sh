#!/usr/bin/env bash
# Builds the test cluster's binaries from this wrapper module into a cache directory keyed
# by go.sum, so only the first run on a machine pays the cold build.
#   build.sh [control-plane]  kube-apiserver + etcd (~10-25 min cold on 2 cores)
#   build.sh node             those + kubelet, kube-scheduler, kube-controller-manager
#   build.sh kube-router      the NetworkPolicy controller, from its own module in kube-router/
#   build.sh render-tools     helm, kustomize and kubectl (chart/overlay scanning), from render-tools/
#   build.sh kube-score       the Go manifest linter the benchmark suite measures, from kube-score/
# The last stdout line is always the directory holding the requested binaries.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache_root=${K8S_AUDIT_CACHE:-$HOME/.cache/k8s-isolation-audit}
what=${1:-control-plane}

case $what in
  control-plane) module=$here; prefix=apiserver; binaries=(kube-apiserver etcd) ;;
  node) module=$here; prefix=apiserver
        binaries=(kube-apiserver etcd kubelet kube-scheduler kube-controller-manager) ;;
  kube-router) module=$here/kube-router; prefix=kube-router; binaries=(kube-router) ;;
  render-tools) module=$here/render-tools; prefix=render-tools; binaries=(helm kustomize kubectl) ;;
  kube-score) module=$here/kube-score; prefix=kube-score; binaries=(kube-score) ;;
  *) echo "build.sh: unknown target '$what' (control-plane, node, kube-router, render-tools or kube-score)" >&2
     exit 2 ;;
esac

key=$(sha256sum "$module/go.sum" | cut -c1-16)
out="$cache_root/$prefix-$key"

missing=()
for bin in "${binaries[@]}"; do
  [[ -x $out/$bin ]] || missing+=("$bin")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "$out"
  exit 0
fi

command -v go >/dev/null || { echo "build.sh: 'go' not on PATH and no cached ${missing[*]} in $out" >&2; exit 3; }

start=$SECONDS
cd "$module"

ldflags="-s -w"
if [[ $prefix == apiserver ]]; then
  version=$(go list -m -f '{{.Version}}' k8s.io/kubernetes)   # e.g. v1.35.4
  minor=${version#v1.}; minor=${minor%%.*}
  # Without these stamps /version says v0.0.0-master and the emulated version falls back
  # to a default; the auditor reads /version (and the node's kubeletVersion), so both must
  # see the real release.
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean"
  done
elif [[ $prefix == kube-router ]]; then
  version=$(go list -m -f '{{.Version}}' github.com/cloudnativelabs/kube-router/v2)
  ldflags+=" -X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=$version"
elif [[ $prefix == kube-score ]]; then
  version=$(go list -m -f '{{.Version}}' github.com/zegl/kube-score)
  ldflags+=" -X main.version=$version"
else
  helm=$(go list -m -f '{{.Version}}' helm.sh/helm/v4)
  kubectl=$(go list -m -f '{{.Version}}' k8s.io/kubectl)   # v0.Y.Z is kubernetes v1.Y.Z
  kubectl_release=v1.${kubectl#v0.}; minor=${kubectl_release#v1.}; minor=${minor%%.*}
  version="(helm $helm, kustomize $(go list -m -f '{{.Version}}' sigs.k8s.io/kustomize/kustomize/v5), kubectl $kubectl_release)"
  ldflags+=" -X helm.sh/helm/v4/internal/version.version=$helm"
  ldflags+=" -X k8s.io/component-base/version.gitVersion=$kubectl_release -X k8s.io/component-base/version.gitMajor=1"
  ldflags+=" -X k8s.io/component-base/version.gitMinor=$minor"
fi

# Build into a scratch dir and rename into place, so an interrupted build never leaves a
# half-written binary that the cache check above would accept.
mkdir -p "$cache_root"
tmp=$(mktemp -d "$cache_root/.build-XXXXXX")
trap 'rm -rf "$tmp"' EXIT

export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -mod=readonly"
package_of() {
  case $1 in
    etcd) echo ./cmd/etcd ;;
    kubectl) echo ./cmd/kubectl ;;  # render-tools/cmd/kubectl; the node target has no kubectl
    kube-router) echo github.com/cloudnativelabs/kube-router/v2/cmd/kube-router ;;
    kube-score) echo github.com/zegl/kube-score/cmd/kube-score ;;
    helm) echo helm.sh/helm/v4/cmd/helm ;;
    kustomize) echo sigs.k8s.io/kustomize/kustomize/v5 ;;
    *) echo "k8s.io/kubernetes/cmd/$1" ;;
  esac
}
mkdir -p "$out"
for bin in "${missing[@]}"; do
  t0=$SECONDS
  # -p 2: one compile job per core; more only adds memory pressure (links take ~2-3 GiB).
  timeout 45m nice -n 10 go build -p 2 -trimpath -ldflags "$ldflags" -o "$tmp/$bin" "$(package_of "$bin")"
  mv -f "$tmp/$bin" "$out/$bin"
  echo "build.sh: built $bin $version in $((SECONDS - t0))s" >&2
done
echo "build.sh: built ${missing[*]} in $((SECONDS - start))s" >&2
echo "$out"
