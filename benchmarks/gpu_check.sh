#!/usr/bin/env bash
# The one command to run whenever a GPU is lent (about 5 minutes on one H100; budget 8):
#   benchmarks/gpu_check.sh [BUILD_DIR]
# 1. configures and builds the CUDA targets with -DQANET_CUDA=ON (Release, explicit sm_80/sm_90),
# 2. runs every GPU test (tests/cuda: op parity with the CPU, whole-model parity, ten training
#    steps, model files, out-of-memory),
# 3. runs the GPU benchmarks next to PyTorch eager (benchmarks/torch_gpu_compare.py: paper 2D
#    256x256 batch 32, paper 3D 32x256x256 batch 2; tf32 and bf16),
# 4. prints a summary.
# Exit status: 0 everything passed on a real GPU; 1 a build, test or benchmark failed;
# 2 no usable CUDA device (the build worked and the GPU tests reported "skipped": nothing on the
# GPU was verified).
# QANET_GPU_SKIP_BUILD=1 runs the executables already in BUILD_DIR (built on another machine of
# the same image and carried over) and saves the device time of the build.
# Environment: PYTHON (default: the first of python3, /usr/bin/python3 that imports torch), QANET_GPU_JOBS (default nproc), QANET_SKIP_TORCH=1.
set -u
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${1:-$ROOT/build-gpu-check}"
JOBS="${QANET_GPU_JOBS:-$(nproc)}"
# The first interpreter that imports torch (the Debian one under /usr/bin may be the one with it).
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for c in python3 /usr/bin/python3; do
    if command -v "$c" >/dev/null && "$c" -c "import torch" >/dev/null 2>&1; then PY="$c"; break; fi
  done
  PY="${PY:-python3}"
fi
LOG="$BUILD/gpu_check_logs"
T0=$(date +%s)
declare -a SUMMARY=()
FAILED=0
note() { SUMMARY+=("$1"); echo "== $1"; }
elapsed() { echo "$(( $(date +%s) - T0 ))s"; }

echo "== qanet GPU check: $ROOT -> $BUILD ($JOBS jobs)"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || echo "(no nvidia-smi)"

# ---------------------------------------------------------------- build
mkdir -p "$BUILD"
if [ "${QANET_GPU_SKIP_BUILD:-0}" = "1" ]; then
  for e in tests/cuda/test_cuda_host tests/cuda/test_cuda_kernels_emu tests/cuda/test_cuda_ops tests/cuda/test_cuda_models benchmarks/bench_cuda; do
    [ -x "$BUILD/$e" ] || { echo "== FAILED: QANET_GPU_SKIP_BUILD=1 but $BUILD/$e is missing"; exit 1; }
  done
  mkdir -p "$LOG"
  note "build: skipped (QANET_GPU_SKIP_BUILD=1, executables from $BUILD)"
elif ! cmake -S "$ROOT" -B "$BUILD" -DQANET_CUDA=ON -DCMAKE_BUILD_TYPE=Release \
     -DQANET_BUILD_TESTS=ON -DQANET_BUILD_BENCHMARKS=ON -DQANET_BUILD_EXAMPLES=OFF >"$BUILD/configure.log" 2>&1; then
  tail -30 "$BUILD/configure.log"
  echo "== FAILED: configure (see $BUILD/configure.log)"
  exit 1
else
  mkdir -p "$LOG"
  if ! cmake --build "$BUILD" --target test_cuda_host test_cuda_kernels_emu test_cuda_ops test_cuda_models bench_cuda -j "$JOBS" >"$LOG/build.log" 2>&1; then
    grep -E "error|Error" "$LOG/build.log" | head -40
    echo "== FAILED: build (see $LOG/build.log)"
    exit 1
  fi
  note "build: OK ($(elapsed))"
fi

# ---------------------------------------------------------------- tests
NO_GPU=0
for t in test_cuda_host test_cuda_kernels_emu test_cuda_ops test_cuda_models; do
  exe="$BUILD/tests/cuda/$t"
  timeout 300 "$exe" >"$LOG/$t.log" 2>&1
  rc=$?
  skipped=$(grep -c "skipped: no usable CUDA device" "$LOG/$t.log")
  counts=$(grep -E "^\[doctest\] (test cases|assertions)" "$LOG/$t.log" | tr -s ' ' | tr '\n' ' ')
  if [ $rc -ne 0 ]; then
    FAILED=1
    note "$t: FAILED (exit $rc) $counts"
    grep -B2 -A12 -E "ERROR|FATAL|error:" "$LOG/$t.log" | head -60
  elif [ "$skipped" -gt 0 ]; then
    NO_GPU=1
    note "$t: skipped on this machine ($skipped test cases: $(grep -m1 -o 'no usable CUDA device (.*)' "$LOG/$t.log"))"
  else
    note "$t: passed $counts"
  fi
  grep -E "MESSAGE: .*(worst|training|out-of-memory|CUDA device: )" "$LOG/$t.log" | sed 's/^.*MESSAGE: /     /' | head -20
done
note "tests done ($(elapsed))"

# ---------------------------------------------------------------- benchmarks
if [ $NO_GPU -eq 1 ]; then
  "$BUILD/benchmarks/bench_cuda" --preset small --size 64 --batch 2 --steps 1 --warmup 1 | tee "$LOG/bench_cuda.log"
  note "benchmarks: not run (no usable CUDA device)"
else
  TORCH_ARGS=()
  [ "${QANET_SKIP_TORCH:-0}" = "1" ] && TORCH_ARGS+=(--skip-torch)
  if ! "$PY" -c "import torch; assert torch.cuda.is_available()" >/dev/null 2>&1; then
    echo "(PyTorch with CUDA not importable by $PY: qanet figures only)"
    TORCH_ARGS+=(--skip-torch)
  fi
  # No new benchmark run starts after 240 s; the hard limit stops a hung one.
  timeout 360 "$PY" "$ROOT/benchmarks/torch_gpu_compare.py" --qanet-bench "$BUILD/benchmarks/bench_cuda" --budget 240 \
      --json "$LOG/torch_gpu_compare.json" "${TORCH_ARGS[@]}" 2>&1 | tee "$LOG/torch_gpu_compare.log"
  rc=${PIPESTATUS[0]}
  if [ $rc -ne 0 ]; then
    FAILED=1
    note "benchmarks: FAILED (exit $rc, see $LOG/torch_gpu_compare.log)"
  else
    note "benchmarks: OK ($(elapsed))"
  fi
fi

# ---------------------------------------------------------------- summary
echo
echo "================ qanet GPU check summary ($(elapsed)) ================"
for s in "${SUMMARY[@]}"; do echo "  $s"; done
if [ -f "$LOG/torch_gpu_compare.log" ]; then
  sed -n '/^configuration/,$p' "$LOG/torch_gpu_compare.log" | sed 's/^/  /'
fi
echo "  logs: $LOG"
if [ $FAILED -ne 0 ]; then echo "RESULT: FAILED"; exit 1; fi
if [ $NO_GPU -ne 0 ]; then echo "RESULT: NO GPU (built; GPU tests skipped; nothing verified on a GPU)"; exit 2; fi
echo "RESULT: PASSED"
exit 0
