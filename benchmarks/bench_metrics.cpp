// Benchmarks of the metrics module: SEG alone and all metrics (SEG + HD/MHD/MHD95/ASD/neMHD)
// on a 1024x1024 frame with ~300 cells and on a 64x512x512 volume, reported as pixels/s.
//
// Extra modes for benchmarks/compare_metrics_oracle.py (same data, same process as no Python):
//   bench_metrics --export DIR           writes the synthetic frames as int32 .npy files
//   bench_metrics --time GT.npy PRED.npy [--spacing z,y,x] [--repeat N] [--threads N]
//                                        prints one JSON object: median seconds and values
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <tbb/global_control.h>

#include "qanet/core/random.hpp"
#include "qanet/metrics.hpp"
#include "npy.hpp"

namespace {

using namespace qanet;

// ------------------------------------------------------------------ synthetic data
struct Blob {
  std::array<double, 3> c, r;  // centre and radii, z unused in 2D
  double wobble_phase, wobble;
};

// Rasterises star-shaped ellipses/ellipsoids (radius modulated along the angle) into `out`.
template <int Dim>
void paint(std::vector<std::int32_t>& out, const Shape<Dim>& s, const Blob& b, std::int32_t label) {
  std::array<Index, Dim> lo, hi;
  for (int a = 0; a < Dim; ++a) {
    const int k = Dim == 3 ? a : a + 1;
    lo[a] = std::max<Index>(0, static_cast<Index>(std::floor(b.c[k] - 1.3 * b.r[k])));
    hi[a] = std::min<Index>(s[a], static_cast<Index>(std::ceil(b.c[k] + 1.3 * b.r[k])) + 1);
  }
  Shape<Dim> bs;
  for (int a = 0; a < Dim; ++a) bs[a] = std::max<Index>(0, hi[a] - lo[a]);
  for (Index j = 0; j < bs.size(); ++j) {
    auto p = bs.coords(j);
    double q = 0.0;
    std::array<double, 3> d{0, 0, 0};
    for (int a = 0; a < Dim; ++a) {
      p[a] += lo[a];
      const int k = Dim == 3 ? a : a + 1;
      d[k] = (static_cast<double>(p[a]) - b.c[k]) / b.r[k];
      q += d[k] * d[k];
    }
    const double ang = std::atan2(d[1], d[2]);
    const double lim = 1.0 + b.wobble * std::sin(3.0 * ang + b.wobble_phase);
    if (q <= lim * lim) out[static_cast<std::size_t>(s.offset(p))] = label;
  }
}

// ~n non-overlapping cells (rejection sampling on circumscribed spheres) and a perturbed copy:
// each cell moved by ~1.5 px, resized by +-10%, 4% missed, a few spurious ones, labels shuffled.
template <int Dim>
std::pair<std::vector<std::int32_t>, std::vector<std::int32_t>> synthetic_pair(const Shape<Dim>& s, int n,
                                                                               double rmin, double rmax,
                                                                               std::uint64_t seed) {
  Rng rng(seed);
  std::vector<Blob> blobs;
  for (int tries = 0; tries < 200 * n && static_cast<int>(blobs.size()) < n; ++tries) {
    Blob b{};
    const double r = rng.uniform(rmin, rmax);
    for (int a = 0; a < Dim; ++a) {
      const int k = Dim == 3 ? a : a + 1;
      b.r[k] = (Dim == 3 && a == 0 ? 0.35 : 1.0) * r * rng.uniform(0.8, 1.2);
      b.c[k] = rng.uniform(0.0, static_cast<double>(s[a]));
    }
    b.wobble = rng.uniform(0.0, 0.15);
    b.wobble_phase = rng.uniform(0.0, 6.283);
    bool ok = true;
    for (const Blob& o : blobs) {
      double d2 = 0.0, rr = 0.0;
      for (int k = 3 - Dim; k < 3; ++k) {
        d2 += std::pow((b.c[k] - o.c[k]) / (k == 0 ? 0.35 : 1.0), 2);
        rr = std::max(rr, 1.2 * (b.r[k] + o.r[k]) / (k == 0 ? 0.35 : 1.0));
      }
      if (d2 < rr * rr) {
        ok = false;
        break;
      }
    }
    if (ok) blobs.push_back(b);
  }
  std::vector<std::int32_t> gt(static_cast<std::size_t>(s.size()), 0), pred(gt.size(), 0);
  for (std::size_t k = 0; k < blobs.size(); ++k) {
    paint<Dim>(gt, s, blobs[k], static_cast<std::int32_t>(k + 1));
    if (rng.bernoulli(0.04)) continue;
    Blob p = blobs[k];
    const double scale = rng.uniform(0.9, 1.1);
    for (int k2 = 3 - Dim; k2 < 3; ++k2) {
      p.c[k2] += rng.normal(0.0, k2 == 0 && Dim == 3 ? 0.5 : 1.5);
      p.r[k2] *= scale;
    }
    p.wobble_phase += rng.normal(0.0, 0.3);
    paint<Dim>(pred, s, p, static_cast<std::int32_t>((k * 7919) % 100003 + 1));
  }
  for (int k = 0; k < 5; ++k) {
    Blob b{};
    for (int k2 = 3 - Dim; k2 < 3; ++k2) {
      b.c[k2] = rng.uniform(0.0, static_cast<double>(s[k2 - (3 - Dim)]));
      b.r[k2] = rmin * (k2 == 0 && Dim == 3 ? 0.35 : 1.0);
    }
    paint<Dim>(pred, s, b, 200000 + k);
  }
  return {std::move(gt), std::move(pred)};
}

const auto& frame_2d() {
  static const auto d = synthetic_pair<2>(Shape<2>(1024, 1024), 300, 16, 26, 1);
  return d;
}
const auto& volume_3d() {
  static const auto d = synthetic_pair<3>(Shape<3>(64, 512, 512), 1200, 12, 20, 2);
  return d;
}

template <int Dim>
void run_bench(benchmark::State& state, const std::pair<std::vector<std::int32_t>, std::vector<std::int32_t>>& d,
               const Shape<Dim>& s, bool boundary) {
  const ImageView<const std::int32_t, Dim> g(d.first.data(), s), p(d.second.data(), s);
  MetricOptions opt;
  opt.boundary = boundary;
  Index objects = 0;
  for (auto _ : state) {
    const FrameMetrics f = evaluate_frame(g, p, opt);
    objects = f.gt_objects;
    benchmark::DoNotOptimize(f.seg);
  }
  state.counters["pixels/s"] = benchmark::Counter(static_cast<double>(s.size()),
                                                  benchmark::Counter::kIsIterationInvariantRate);
  state.counters["gt_objects"] = static_cast<double>(objects);
}

void BM_seg_2d_1024(benchmark::State& st) { run_bench<2>(st, frame_2d(), Shape<2>(1024, 1024), false); }
void BM_all_2d_1024(benchmark::State& st) { run_bench<2>(st, frame_2d(), Shape<2>(1024, 1024), true); }
void BM_seg_3d_64x512x512(benchmark::State& st) { run_bench<3>(st, volume_3d(), Shape<3>(64, 512, 512), false); }
void BM_all_3d_64x512x512(benchmark::State& st) { run_bench<3>(st, volume_3d(), Shape<3>(64, 512, 512), true); }
BENCHMARK(BM_seg_2d_1024)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_all_2d_1024)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_seg_3d_64x512x512)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_all_3d_64x512x512)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_edt_2d_1024(benchmark::State& state) {
  const Shape<2> s(1024, 1024);
  std::vector<std::uint8_t> feat(static_cast<std::size_t>(s.size()), 0);
  const auto& d = frame_2d();
  for (std::size_t i = 0; i < feat.size(); ++i) feat[i] = d.first[i] == 0;
  for (auto _ : state) benchmark::DoNotOptimize(squared_distance_transform(make_view(feat.data(), s)));
  state.counters["pixels/s"] = benchmark::Counter(static_cast<double>(s.size()),
                                                  benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_edt_2d_1024)->Unit(benchmark::kMillisecond)->UseRealTime();

// .npy in and out: tests/npy.hpp (shared with the metric tests).
using qanet::testing::read_npy_i4;

std::string json_opt(const std::optional<double>& v) {
  if (!v) return "null";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", *v);
  return buf;
}

template <int Dim>
int time_pair(const std::vector<std::int32_t>& g, const std::vector<std::int32_t>& p, const std::vector<Index>& ext,
              const std::vector<double>& spacing, int repeat) {
  Shape<Dim> s;
  for (int a = 0; a < Dim; ++a) s[a] = ext[static_cast<std::size_t>(a)];
  const ImageView<const std::int32_t, Dim> gv(g.data(), s), pv(p.data(), s);
  auto median_seconds = [&](bool boundary, FrameMetrics& last) {
    MetricOptions opt;
    opt.boundary = boundary;
    opt.spacing = spacing;
    std::vector<double> t;
    for (int r = 0; r < repeat; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      last = evaluate_frame(gv, pv, opt);
      t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
  };
  FrameMetrics seg_only, all;
  const double t_seg = median_seconds(false, seg_only);
  const double t_all = median_seconds(true, all);
  std::printf(
      "{\"pixels\": %lld, \"seg_s\": %.9g, \"all_s\": %.9g, \"gt_objects\": %lld, \"pred_objects\": %lld, "
      "\"matched\": %lld, \"seg\": %s, \"hd\": %s, \"mhd\": %s, \"mhd95\": %s, \"asd\": %s, \"nemhd\": %s}\n",
      static_cast<long long>(s.size()), t_seg, t_all, static_cast<long long>(all.gt_objects),
      static_cast<long long>(all.pred_objects), static_cast<long long>(all.matched), json_opt(all.seg).c_str(),
      json_opt(all.hd).c_str(), json_opt(all.mhd).c_str(), json_opt(all.mhd95).c_str(), json_opt(all.asd).c_str(),
      json_opt(all.nemhd).c_str());
  return 0;
}

int extra_modes(int argc, char** argv, bool& handled) {
  handled = false;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) return 0;
  if (args[0] == "--export" && args.size() == 2) {
    handled = true;
    const std::string dir = args[1];
    qanet::testing::write_npy<std::int32_t, 2>(dir + "/frame2d_gt.npy", frame_2d().first, Shape<2>(1024, 1024));
    qanet::testing::write_npy<std::int32_t, 2>(dir + "/frame2d_pred.npy", frame_2d().second, Shape<2>(1024, 1024));
    qanet::testing::write_npy<std::int32_t, 3>(dir + "/volume3d_gt.npy", volume_3d().first, Shape<3>(64, 512, 512));
    qanet::testing::write_npy<std::int32_t, 3>(dir + "/volume3d_pred.npy", volume_3d().second, Shape<3>(64, 512, 512));
    return 0;
  }
  if (args[0] != "--time") return 0;
  handled = true;
  if (args.size() < 3) throw InvalidArgument("usage: bench_metrics --time GT.npy PRED.npy [--spacing z,y,x] [--repeat N] [--threads N]");
  std::vector<double> spacing;
  int repeat = 5, threads = 0;
  for (std::size_t i = 3; i + 1 < args.size(); i += 2) {
    if (args[i] == "--spacing") {
      std::istringstream is(args[i + 1]);
      for (std::string tok; std::getline(is, tok, ',');) spacing.push_back(std::stod(tok));
    } else if (args[i] == "--repeat") {
      repeat = std::max(1, std::stoi(args[i + 1]));
    } else if (args[i] == "--threads") {
      threads = std::stoi(args[i + 1]);
    } else {
      throw InvalidArgument("bench_metrics --time: unknown option " + args[i]);
    }
  }
  std::unique_ptr<tbb::global_control> limit;
  if (threads > 0)
    limit = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism,
                                                  static_cast<std::size_t>(threads));
  std::vector<Index> eg, ep;
  const auto g = read_npy_i4(args[1], eg);
  const auto p = read_npy_i4(args[2], ep);
  if (eg != ep) throw InvalidArgument("bench_metrics --time: GT and PRED shapes differ");
  if (eg.size() == 2) return time_pair<2>(g, p, eg, spacing, repeat);
  if (eg.size() == 3) return time_pair<3>(g, p, eg, spacing, repeat);
  throw InvalidArgument("bench_metrics --time: 2D or 3D arrays only");
}

}  // namespace

int main(int argc, char** argv) {
  try {
    bool handled = false;
    const int rc = extra_modes(argc, argv, handled);
    if (handled) return rc;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_metrics: %s\n", e.what());
    return 1;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
