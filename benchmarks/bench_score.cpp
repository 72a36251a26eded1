// Google Benchmark of whole-frame scoring with the bundled 2D model: Assessor::assess on
// simulated frames of 512^2, 1024^2 and 2048^2 pixels with a perturbed mask, through the
// shared trunk (the convolutions once per band of patch rows) and patch by patch, with and
// without Winograd convolutions, at the measured scale as `qanet score` runs. Counters: frames/s, patches per frame, trunk passes.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <map>
#include <memory>

#include "qanet/perturb.hpp"
#include "qanet/qa/assessor.hpp"
#include "qanet/simulate.hpp"

namespace {

using namespace qanet;

const Assessor<2>& bundled() {
  static const Assessor<2> a(std::filesystem::path(QANET_SOURCE_DIR) / "models/qanet-seg-2d-small.safetensors");
  return a;
}

struct Frame {
  Image<float, 2> image;
  LabelImage<2> mask;
};

// One simulated frame per edge (seed 5, as docs/training.md times `qanet score`), made once.
const Frame& frame(Index edge) {
  static std::map<Index, std::unique_ptr<Frame>> frames;
  auto& f = frames[edge];
  if (!f) {
    SimulationOptions<2> so;
    so.shape = Shape<2>(edge, edge);
    auto sim = simulate_image(so, 5, 0);
    auto mask = perturb_labels(sim.labels.cview(), PerturbOptions{}, 7).labels;
    f = std::make_unique<Frame>(Frame{Image<float, 2>::from_view(sim.image.cview()), std::move(mask)});
  }
  return *f;
}

// Args: frame edge, shared trunk (1) or patch by patch (0), Winograd (1) or im2col + GEMM (0).
void BM_score_frame(benchmark::State& st) {
  const Frame& f = frame(st.range(0));
  AssessOptions opt;
  opt.shared_trunk = st.range(1) != 0;
  opt.winograd = st.range(2) != 0;
  Assessment<2> a;
  for (auto _ : st) {
    a = bundled().assess(f.image.cview(), f.mask.cview(), opt);
    benchmark::DoNotOptimize(a.score);
  }
  st.counters["frames/s"] = benchmark::Counter(static_cast<double>(st.iterations()), benchmark::Counter::kIsRate);
  st.counters["patches"] = static_cast<double>(a.patches.size());
  st.counters["trunk_passes"] = static_cast<double>(a.trunk_passes);
  st.counters["scale"] = a.scale;
}
BENCHMARK(BM_score_frame)
    ->ArgsProduct({{512, 1024, 2048}, {1, 0}, {1, 0}})
    ->ArgNames({"edge", "shared", "winograd"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
