#!/usr/bin/env bash
# One-time setup of a machine for development, tests and the demo:
# Debian packages, the Python project with its test extras, and the local
# cluster's control plane and node (built once from their Go modules, then cached),
# and the images the node runs (built with buildah; layers cached under ~/.cache).
set -euo pipefail
cd "$(dirname "$0")/.."

# The control plane's etcd and the load tool; the real node's CNI plugins,
# iptables and conntrack; buildah and mmdebstrap for the images; gcc and libseccomp for
# runc's seccomp support and the static pause binary; Lua 5.1 (the language of Argo CD's
# gopher-lua) and its JSON module to run the Argo CD health and action scripts in tests.
APT_PACKAGES=(etcd-server wrk
  containernetworking-plugins iptables conntrack ethtool socat
  buildah mmdebstrap gcc libc6-dev libseccomp-dev
  lua5.1 lua-cjson)
missing=()
for package in "${APT_PACKAGES[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
command -v go >/dev/null || { echo "Go >= 1.24 is required to build the local control plane" >&2; exit 1; }
command -v kubectl >/dev/null || { echo "kubectl is required" >&2; exit 1; }

# A virtual environment in the checkout; it sees the machine's packages, so what is
# already installed is not downloaded again. uv (from PyPI) resolves and installs the
# project several times faster than pip and keeps its download cache in ~/.cache/uv.
[ -x .venv/bin/python ] || python3 -m venv --system-site-packages .venv
[ -x .venv/bin/uv ] || .venv/bin/python -m pip install --quiet --disable-pip-version-check "uv>=0.5"
.venv/bin/uv pip install --quiet --compile-bytecode --python .venv/bin/python -e ".[test]"
.venv/bin/mlops-dev cluster build
