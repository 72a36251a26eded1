#!/usr/bin/env bash
# Installs every dependency of qanet from Debian 12 packages (run as root).
#   scripts/install_deps.sh          build + test dependencies
#   scripts/install_deps.sh --python also the peers used by tests and benchmarks: Python (numpy,
#                                    scipy, PIL, tifffile, torch) and Chromium, in which a test
#                                    looks at the triage report page
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
packages=(build-essential cmake pkg-config git
          libeigen3-dev libtbb-dev libtiff-dev zlib1g-dev
          doctest-dev libbenchmark-dev nlohmann-json3-dev libcli11-dev libpng-dev)
if [[ "${1:-}" == "--python" ]]; then
  packages+=(python3 python3-numpy python3-scipy python3-pil python3-tifffile python3-torch chromium)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "qanet dependencies installed"
