#!/usr/bin/env bash
# The test suite under AddressSanitizer + UndefinedBehaviorSanitizer (CMake preset "asan",
# build-asan/). Usage: scripts/run_sanitizers.sh [all|quick]
#   all   (default) every test binary; too long to build for CI on two cores, run it by hand
#   quick the tests of the parsers and kernels (TIFF and model files, metrics, network layers and
#         models, perturbations, preprocessing, intervals): what CI runs in its budget
# Leaks, out-of-bounds accesses and undefined behaviour abort the test that hit them.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
quick=(test_core test_io test_metrics test_nn_io test_nn_layers test_nn_models test_perturb test_qa_interval test_qa_preprocess)
scripts/install_deps.sh
cmake --preset asan
case "$what" in
  all)
    cmake --build --preset asan -j"$(nproc)"
    ctest --preset asan -j"$(nproc)" ;;
  quick)
    cmake --build --preset asan -j"$(nproc)" --target "${quick[@]}"
    ctest --preset asan -j"$(nproc)" -R "^($(IFS='|'; echo "${quick[*]}"))\$" ;;
  *)
    echo "usage: scripts/run_sanitizers.sh [all|quick]" >&2
    exit 2 ;;
esac
