#!/usr/bin/env bash
# Installs what building and testing swcompose needs on a Debian machine (run as root, or with sudo).
set -euo pipefail
packages=(libyaml-dev libarchive-dev libseccomp-dev pkg-config python3 python3-pip busybox-static docker-registry skopeo apache2-utils openssl podman catatonit runc curl git)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# The Kubernetes OpenAPI schemas the kube tests validate against (PyPI).
if ! python3 -m kubernetes_validate --version >/dev/null 2>&1; then
  python3 -m pip install -q kubernetes-validate 2>/dev/null || python3 -m pip install -q --break-system-packages kubernetes-validate
fi
command -v swift >/dev/null || { echo "swift is not on PATH (expected /opt/swift/usr/bin)" >&2; exit 1; }
