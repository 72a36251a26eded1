#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine (as root): installs the dependencies, builds the
# qanet program, and runs `qanet demo` (built-in synthetic data, the bundled model).
# Usage: scripts/run_demo.sh [build-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
scripts/install_deps.sh
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DQANET_BUILD_TESTS=OFF -DQANET_BUILD_BENCHMARKS=OFF
cmake --build "$build" --target qanet_cli -j"$(nproc)"
"$build/examples/qanet" demo --out qanet-demo
