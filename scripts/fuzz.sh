#!/usr/bin/env bash
# Builds the libFuzzer harnesses (clang, with AddressSanitizer and UBSan) and runs each for a
# given time over its seed corpus: generated files (fuzz/make_seeds.cpp) and, when present, small
# files of ../shared/data. Prints executions, coverage and findings per harness and writes them
# to OUT/report.md. Crashes, hangs and leaks are kept in OUT/<harness>/ (artifact files).
#   scripts/fuzz.sh [seconds per harness, default 300] [out dir, default fuzz-out] [harness...]
# CI runs a 30-second smoke run of each (scripts/run_tests.sh with QANET_FUZZ_SECONDS=30).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-300}
out=${2:-fuzz-out}
shift $(( $# > 2 ? 2 : $# ))
harnesses=("$@")
((${#harnesses[@]})) || harnesses=(tiff model ctc cli)
build=${QANET_FUZZ_BUILD:-build-fuzz}

export DEBIAN_FRONTEND=noninteractive
scripts/install_deps.sh >/dev/null
need=()
for p in clang libclang-rt-14-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if ((${#need[@]})); then
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

CXX=clang++ cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQANET_BUILD_FUZZERS=ON \
  -DQANET_BUILD_TESTS=OFF -DQANET_BUILD_BENCHMARKS=OFF -DQANET_BUILD_EXAMPLES=OFF -DQANET_CUDA=OFF >/dev/null
targets=(qanet_fuzz_seeds)
for h in "${harnesses[@]}"; do targets+=("fuzz_$h"); done
cmake --build "$build" -j"$(nproc)" --target "${targets[@]}"

mkdir -p "$out"
seeds="$out/seeds"
rm -rf "$seeds"
"$build/fuzz/qanet_fuzz_seeds" "$seeds" >/dev/null
data=${QANET_DATA:-../shared/data}
if [[ -d "$data" ]]; then  # real files of at most 64 KiB as extra TIFF seeds
  mapfile -t small < <(find "$data" -name '*.tif' -size -64k 2>/dev/null | sort | head -40 || true)
  for f in "${small[@]}"; do cp "$f" "$seeds/tiff/real_$(echo "$f" | md5sum | cut -c1-12).tif"; done
fi

report="$out/report.md"
{
  echo "# Fuzzing: $seconds s per harness ($(date -u +%Y-%m-%dT%H:%MZ))"
  echo
  echo "| harness | executions | exec/s | coverage (edges) | features | corpus | findings |"
  echo "|---|---|---|---|---|---|---|"
} > "$report"
status=0
for h in "${harnesses[@]}"; do
  corpus="$out/$h/corpus"
  mkdir -p "$corpus"
  log="$out/$h/log.txt"
  # -rss_limit_mb bounds memory (an absurd header size must not allocate it); -timeout flags
  # hangs; leaks are reported by LeakSanitizer.
  set +e
  "$build/fuzz/fuzz_$h" "$corpus" "$seeds/$h" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 \
    -max_len=65536 -print_final_stats=1 -artifact_prefix="$out/$h/" > "$log" 2>&1
  rc=$?
  set -e
  runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo 0)
  rate=$(grep -oE 'stat::average_exec_per_sec: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo 0)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || echo 0)
  ft=$(grep -oE 'ft: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || echo 0)
  units=$(find "$corpus" -type f | wc -l)
  found=$(find "$out/$h" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
  echo "| $h | $runs | $rate | $cov | $ft | $units | $found |" >> "$report"
  if ((rc != 0 || found > 0)); then
    echo "fuzz_$h: exit $rc, $found finding(s); see $log" >&2
    status=1
  fi
done
cat "$report"
exit $status
