// Perturbations per second on 256x256 crops of a SIM+ ground truth (the reference pipeline's
// setting; compare with benchmarks/compare_perturb_reference.py), with one thread and with all.
// QANET_PERTURB_GT=FILE picks the ground truth; without data, simulated labels are used.
#include <cstdlib>
#include <filesystem>
#include <memory>

#include <benchmark/benchmark.h>
#include <tbb/global_control.h>

#include "qanet/io/tiff.hpp"
#include "qanet/perturb.hpp"
#include "qanet/simulate.hpp"

namespace {

using namespace qanet;

const LabelImage<2>& source() {
  static const LabelImage<2> gt = [] {
    const char* env = std::getenv("QANET_PERTURB_GT");
    const std::filesystem::path p =
        env ? std::filesystem::path(env)
            : std::filesystem::path(QANET_DATA_DIR) / "Fluo-N2DH-SIM+/01_GT/SEG/man_seg000.tif";
    std::error_code ec;
    if (std::filesystem::exists(p, ec)) return read_labels<2>(p);
    return simulate_image(SimulationOptions<2>{}, 1, 0).labels;
  }();
  return gt;
}

// Random 256x256 crops, as the reference does (a crop may hold no cell).
std::vector<LabelImage<2>> crops(Index n, Index size) {
  const auto& g = source();
  std::vector<LabelImage<2>> out;
  Rng rng(0);
  for (Index k = 0; k < n; ++k) {
    LabelImage<2> c(Shape<2>(size, size));
    const Index y0 = rng.uniform_int(0, g.shape()[0] - size), x0 = rng.uniform_int(0, g.shape()[1] - size);
    for (Index y = 0; y < size; ++y)
      for (Index x = 0; x < size; ++x) c(y, x) = g(y0 + y, x0 + x);
    out.push_back(std::move(c));
  }
  return out;
}

void run_perturb(benchmark::State& state, int threads, const PerturbOptions& opt) {
  std::unique_ptr<tbb::global_control> limit;
  if (threads > 0) limit = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism, threads);
  const auto cs = crops(64, 256);
  std::uint64_t k = 0;
  for (auto _ : state) {
    auto r = perturb_labels(cs[k % cs.size()].cview(), opt, k);
    benchmark::DoNotOptimize(r.labels.data());
    ++k;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

// The SPEC pipeline as the reference runs it (severity 0.5 = the SPEC values, no
// split/drop/spurious which the reference lacks) and the full default pipeline.
PerturbOptions reference_like() {
  PerturbOptions o;
  o.use_severity = false;
  o.split_probability = 0.0;
  o.drop_probability = 0.0;
  o.spurious_per_cell = 0.0;
  return o;
}

void BM_perturb_256_reference_like_1thread(benchmark::State& s) { run_perturb(s, 1, reference_like()); }
void BM_perturb_256_reference_like(benchmark::State& s) { run_perturb(s, 0, reference_like()); }
void BM_perturb_256_default_1thread(benchmark::State& s) { run_perturb(s, 1, PerturbOptions{}); }
void BM_perturb_256_default(benchmark::State& s) { run_perturb(s, 0, PerturbOptions{}); }
BENCHMARK(BM_perturb_256_reference_like_1thread)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_perturb_256_reference_like)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_perturb_256_default_1thread)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_perturb_256_default)->Unit(benchmark::kMillisecond)->UseRealTime();

// Independent samples in parallel: how a training loop uses it (one sample per task).
void BM_perturb_256_batch64(benchmark::State& state) {
  const auto cs = crops(64, 256);
  const PerturbOptions opt;
  for (auto _ : state) {
    std::vector<LabelImage<2>> out(cs.size());
    parallel_for_each_index(static_cast<Index>(cs.size()), 1,
                            [&](Index i) { out[i] = perturb_labels(cs[i].cview(), opt, i).labels; });
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * cs.size()));
}
BENCHMARK(BM_perturb_256_batch64)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_perturb_3d_32x128x128(benchmark::State& state) {
  SimulationOptions<3> so;
  so.shape = Shape<3>(32, 128, 128);
  so.radius_median = 12.0;
  const auto gt = simulate_image(so, 1, 0).labels;
  std::uint64_t k = 0;
  for (auto _ : state) benchmark::DoNotOptimize(perturb_labels(gt.cview(), PerturbOptions{}, k++).labels.data());
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_perturb_3d_32x128x128)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
