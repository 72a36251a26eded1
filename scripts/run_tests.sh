#!/usr/bin/env bash
# Sets up everything and runs the whole test suite: dependencies (Debian packages, including the
# Python peers the tests compare with), a Release build of the library, programs, tests and
# benchmarks, then ctest. Usage: scripts/run_tests.sh [build-dir]
# The build folder may already exist (for example configured by run_demo.sh with the tests
# off): every option the suite needs is set here explicitly, and ctest fails when no test ran.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
scripts/install_deps.sh --python
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release \
  -DQANET_BUILD_TESTS=ON -DQANET_BUILD_BENCHMARKS=ON -DQANET_BUILD_EXAMPLES=ON
cmake --build "$build" -j"$(nproc)"
ctest --test-dir "$build" --output-on-failure --no-tests=error -j"$(nproc)"
