#!/usr/bin/env bash
# Sets up everything and runs the whole test suite: dependencies (Debian packages, including the
# Python peers the tests compare with), a Release build of the library, programs, tests and
# benchmarks, then ctest. Usage: scripts/run_tests.sh [build-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
scripts/install_deps.sh --python
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release
cmake --build "$build" -j"$(nproc)"
ctest --test-dir "$build" --output-on-failure -j"$(nproc)"
