#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian 12 machine (run as root):
# Debian packages for the real-kernel and real-node tests, the project with its test extras,
# and the binaries built from Go modules (cached after the first build): kube-apiserver and
# etcd, then kubelet, kube-scheduler, kube-controller-manager and kube-router, then helm,
# kustomize and kubectl for chart and overlay scanning.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pkg in runc iptables nftables iproute2 util-linux uidmap chromium \
           containerd containernetworking-plugins ipset; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'

# kube-apiserver + etcd: a cold build takes 10-20 minutes, later runs reuse the cache.
bash tests/apiserver/build.sh
# the real node's binaries (tests/realnode): a few more minutes on the warm Go build cache
bash tests/apiserver/build.sh node
bash tests/apiserver/build.sh kube-router
# helm, kustomize and kubectl (tests/render): a few minutes cold, from their own module
bash tests/apiserver/build.sh render-tools
