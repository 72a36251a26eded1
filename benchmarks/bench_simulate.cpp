// Simulated images per second: 420x420 (the paper's size) with all threads and with one,
// and a 3D volume.
#include <memory>

#include <benchmark/benchmark.h>
#include <tbb/global_control.h>

#include "qanet/simulate.hpp"

namespace {

using namespace qanet;

void run_2d(benchmark::State& state, int threads) {
  std::unique_ptr<tbb::global_control> limit;
  if (threads > 0) limit = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism, threads);
  const SimulationOptions<2> opt;  // 420x420, SIM+-like
  std::uint64_t k = 0;
  for (auto _ : state) benchmark::DoNotOptimize(simulate_image(opt, 1, k++).image.data());
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
void BM_simulate_420x420(benchmark::State& s) { run_2d(s, 0); }
void BM_simulate_420x420_1thread(benchmark::State& s) { run_2d(s, 1); }
BENCHMARK(BM_simulate_420x420)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_simulate_420x420_1thread)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_simulate_3d_48x256x256(benchmark::State& state) {
  const SimulationOptions<3> opt;
  std::uint64_t k = 0;
  for (auto _ : state) benchmark::DoNotOptimize(simulate_image(opt, 1, k++).image.data());
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_simulate_3d_48x256x256)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(2);

}  // namespace

BENCHMARK_MAIN();
