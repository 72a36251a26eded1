// Tests of the synthetic microscope: determinism and thread independence, labels, optics and
// camera statistics against their formulas, 3D anisotropy, and calibration against SIM+.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <set>
#include <vector>

#include <tbb/global_control.h>

#include "qanet/core.hpp"
#include "qanet/io/tiff.hpp"
#include "qanet/perturb/morphology.hpp"
#include "qanet/simulate.hpp"
#include "support.hpp"

using namespace qanet;

namespace {

template <typename T>
double median(std::vector<T> v) {
  if (v.empty()) return std::nan("");
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? double(v[n / 2]) : 0.5 * (double(v[n / 2 - 1]) + double(v[n / 2]));
}

// The calibration statistics of docs/simulator.md (a C++ twin of benchmarks/simulator_stats.py).
struct FrameStats {
  double cells_per_100k = 0, fg_bg = 0, noise = 0;
  std::vector<Index> inner_areas;
};

FrameStats frame_stats(const Image<std::uint16_t, 2>& img, const LabelImage<2>& gt) {
  FrameStats st;
  const Index h = gt.shape()[0], w = gt.shape()[1];
  Image<std::uint8_t, 2> near(gt.shape(), 0);
  for (Index i = 0; i < gt.size(); ++i) near[i] = gt[i] != 0;
  dilate_box(near.view(), 21);  // "far background": more than 10 px (Chebyshev) from cells
  std::vector<double> fg, bg, diffs;
  for (Index i = 0; i < gt.size(); ++i) {
    if (gt[i]) fg.push_back(img[i]);
    if (!near[i]) bg.push_back(img[i]);
    if (!near[i] && (i % w) + 1 < w && !near[i + 1]) diffs.push_back(double(img[i + 1]) - double(img[i]));
  }
  st.fg_bg = median(fg) / median(bg);
  const double md = median(diffs);
  for (double& d : diffs) d = std::abs(d - md);
  st.noise = 1.4826 * median(diffs) / std::sqrt(2.0);
  std::map<Label, std::pair<Index, bool>> cells;  // area, touches border
  for (Index y = 0; y < h; ++y)
    for (Index x = 0; x < w; ++x) {
      const Label l = gt(y, x);
      if (!l) continue;
      auto& c = cells[l];
      ++c.first;
      if (y == 0 || x == 0 || y == h - 1 || x == w - 1) c.second = true;
    }
  st.cells_per_100k = double(cells.size()) / double(gt.size()) * 1e5;
  for (auto& [l, c] : cells)
    if (!c.second) st.inner_areas.push_back(c.first);
  return st;
}

}  // namespace

TEST_CASE("simulate: same seed same bytes, whatever the thread count; seeds and frames differ") {
  SimulationOptions<2> opt;
  opt.shape = Shape<2>(200, 240);
  SimulatedImage<2> a, b;
  {
    tbb::global_control c(tbb::global_control::max_allowed_parallelism, 1);
    a = simulate_image(opt, 9, 3);
  }
  {
    tbb::global_control c(tbb::global_control::max_allowed_parallelism, 2);
    b = simulate_image(opt, 9, 3);
  }
  CHECK(std::equal(a.image.begin(), a.image.end(), b.image.begin()));
  CHECK(std::equal(a.labels.begin(), a.labels.end(), b.labels.begin()));
  auto c = simulate_image(opt, 9, 4);
  CHECK(!std::equal(a.image.begin(), a.image.end(), c.image.begin()));
}

TEST_CASE("simulate: labels consecutive, cell counts within the asked range, 1 and 60 cells") {
  for (auto [lo, hi] : {std::pair<Index, Index>{1, 1}, {5, 12}, {60, 60}}) {
    SimulationOptions<2> opt;
    opt.cells_min = lo;
    opt.cells_max = hi;
    auto s = simulate_image(opt, 1, 0);
    std::set<Label> ids(s.labels.begin(), s.labels.end());
    ids.erase(0);
    Label expect = 1;
    for (Label v : ids) CHECK(v == expect++);
    CHECK(Index(ids.size()) <= hi);
    CHECK(Index(s.cells.size()) <= hi);
    // Every drawn cell shows (crowding only hides slivers) unless the image is packed.
    CHECK(Index(ids.size()) >= std::min<Index>(lo, hi == 60 ? 50 : lo));
    CHECK(s.image.shape() == Shape<2>(420, 420));
  }
  SimulationOptions<2> bad;
  bad.snr = -1;
  CHECK_THROWS_AS(simulate_image(bad, 1), InvalidArgument);
  bad = {};
  bad.bit_depth = 12;
  CHECK_THROWS_AS(simulate_image(bad, 1), InvalidArgument);
}

TEST_CASE("gaussian_blur of a delta has unit mass and variance sigma^2 per axis") {
  Image<float, 2> img(Shape<2>(61, 61), 0.0f);
  img(30, 30) = 1.0f;
  gaussian_blur(img, {2.0, 3.5});
  double m = 0, vy = 0, vx = 0;
  for (Index y = 0; y < 61; ++y)
    for (Index x = 0; x < 61; ++x) {
      m += img(y, x);
      vy += img(y, x) * (y - 30) * (y - 30);
      vx += img(y, x) * (x - 30) * (x - 30);
    }
  CHECK(m == doctest::Approx(1.0).epsilon(1e-5));
  CHECK(std::sqrt(vy) == doctest::Approx(2.0).epsilon(0.02));
  CHECK(std::sqrt(vx) == doctest::Approx(3.5).epsilon(0.02));
}

TEST_CASE("gaussian_blur equals a brute-force separable convolution with reflected borders, 2D and 3D") {
  // The reference: each axis in turn, every output a sum over the normalised kernel taps with
  // the index reflected at the borders with the edge voxel repeated (c b a | a b c | c b a, as
  // scipy.ndimage's "reflect").
  auto reflect = [](Index i, Index n) {
    while (i < 0 || i >= n) i = i < 0 ? -1 - i : 2 * n - 1 - i;
    return i;
  };
  auto reference = [&](std::vector<double> v, const std::vector<Index>& dims, const std::vector<double>& sigma) {
    for (std::size_t a = 0; a < dims.size(); ++a) {
      const Index r = std::max<Index>(1, static_cast<Index>(std::ceil(3.5 * sigma[a])));
      std::vector<double> k;
      double sum = 0;
      for (Index i = -r; i <= r; ++i) k.push_back(std::exp(-0.5 * double(i * i) / (sigma[a] * sigma[a]))), sum += k.back();
      Index stride = 1;
      for (std::size_t b = a + 1; b < dims.size(); ++b) stride *= dims[b];
      const Index n = dims[a];
      std::vector<double> out(v.size());
      for (std::size_t idx = 0; idx < v.size(); ++idx) {
        const Index i = (static_cast<Index>(idx) / stride) % n, base = static_cast<Index>(idx) - i * stride;
        double acc = 0;
        for (Index j = -r; j <= r; ++j) acc += k[j + r] / sum * v[base + reflect(i + j, n) * stride];
        out[idx] = acc;
      }
      v = out;
    }
    return v;
  };
  Rng rng(12);
  Image<float, 2> a(Shape<2>(37, 41));
  for (float& x : a) x = static_cast<float>(rng.uniform(0, 1));
  std::vector<double> va(a.begin(), a.end());
  const auto want2 = reference(va, {37, 41}, {1.5, 2.0});
  gaussian_blur(a, {1.5, 2.0});
  double worst = 0;
  for (Index i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a[i] - want2[i]));
  CHECK(worst < 1e-6);
  Image<float, 3> b(Shape<3>(9, 20, 17));  // the middle axis has stride 17, the first 340
  for (float& x : b) x = static_cast<float>(rng.uniform(0, 1));
  std::vector<double> vb(b.begin(), b.end());
  const auto want3 = reference(vb, {9, 20, 17}, {0.8, 1.2, 0.0001});
  gaussian_blur(b, {0.8, 1.2, 0.0});
  worst = 0;
  for (Index i = 0; i < b.size(); ++i) worst = std::max(worst, std::abs(b[i] - want3[i]));
  CHECK(worst < 1e-6);
}

TEST_CASE("camera and textures: Poisson + read noise moments; unit-sd random field") {
  Rng rng(4);
  for (double lam : {0.5, 3.0, 25.0, 200.0}) {
    double s = 0, s2 = 0;
    const int n = 40000;
    for (int i = 0; i < n; ++i) {
      const double k = poisson_sample(rng, lam);
      CHECK(k == std::floor(k));
      s += k;
      s2 += k * k;
    }
    const double mean = s / n, var = s2 / n - mean * mean;
    CHECK(mean == doctest::Approx(lam).epsilon(0.03));
    CHECK(var == doctest::Approx(lam).epsilon(0.06));
  }
  Image<float, 2> flat(Shape<2>(200, 200), 30.0f);
  auto cam = camera(flat, 80.0, 0.3, 3.8, 16, 1);
  double s = 0, s2 = 0;
  for (auto v : cam) {
    s += v;
    s2 += double(v) * v;
  }
  const double mean = s / cam.size(), var = s2 / cam.size() - mean * mean;
  CHECK(mean == doctest::Approx(110.0).epsilon(0.005));
  CHECK(var == doctest::Approx(0.3 * 30.0 + 3.8 * 3.8 + 1.0 / 12).epsilon(0.05));  // + rounding
  auto f = smooth_random_field(Shape<2>(256, 256), {3.0, 3.0}, 2);
  double fs2 = 0;
  for (float v : f) fs2 += double(v) * v;
  CHECK(std::sqrt(fs2 / f.size()) == doctest::Approx(1.0).epsilon(0.1));
  Image<float, 2> bright(Shape<2>(8, 8), 1e6f);
  auto c8 = camera(bright, 80.0, 0.3, 3.8, 8, 1);
  for (auto v : c8) CHECK(v == 255);
}

TEST_CASE("cell shapes: star-convex, irregular but smooth, rho < 1 inside") {
  SimulationOptions<2> opt;
  Rng rng(5);
  auto c = detail::random_cell(opt, rng, false, 20.0);
  c.centre = {100.0, 100.0};
  // Along every direction the boundary is a single crossing (star-convex by construction) and
  // the radius varies smoothly: compare neighbouring directions.
  double rmin = 1e9, rmax = 0, prev = c.extent({0.0, 1.0});
  for (int k = 1; k <= 720; ++k) {
    const double t = k * 3.141592653589793 / 360;
    const double r = c.extent({std::sin(t), std::cos(t)});
    rmin = std::min(rmin, r);
    rmax = std::max(rmax, r);
    CHECK(std::abs(r - prev) < 0.5);
    prev = r;
    CHECK(c.rho({100.0 + 0.99 * r * std::sin(t), 100.0 + 0.99 * r * std::cos(t)}) < 1.0);
    CHECK(c.rho({100.0 + 1.01 * r * std::sin(t), 100.0 + 1.01 * r * std::cos(t)}) > 1.0);
  }
  CHECK(rmax / rmin > 1.02);
}

// Median intensity on the outline (the label pixels next to background), relative to the
// background and to the median cell intensity: 0 at background level, 1 at the cell median.
double outline_level(const SimulatedImage<2>& s) {
  std::vector<double> edge, inside, bg;
  const Index ny = s.labels.shape()[0], nx = s.labels.shape()[1];
  for (Index y = 1; y + 1 < ny; ++y)
    for (Index x = 1; x + 1 < nx; ++x) {
      const double v = s.image(y, x);
      if (s.labels(y, x) == 0) {
        bg.push_back(v);
        continue;
      }
      const bool outline = s.labels(y - 1, x) == 0 || s.labels(y + 1, x) == 0 || s.labels(y, x - 1) == 0 ||
                           s.labels(y, x + 1) == 0;
      (outline ? edge : inside).push_back(v);
    }
  auto median = [](std::vector<double> v) {
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
    return v[v.size() / 2];
  };
  const double b = median(bg);
  return (median(edge) - b) / (median(inside) - b);
}

TEST_CASE("a dim rim moves the outline down the intensity edge; off by default, same bytes") {
  SimulationOptions<2> o;
  o.shape = Shape<2>(256, 256);
  o.snr = 40;  // little noise, so the medians measure the profile
  const auto flat = simulate_image(o, 11);
  auto r = o;
  r.rim_depth = 1.0;
  r.rim_width = 8.0;
  const auto rim = simulate_image(r, 11);
  CHECK(std::equal(rim.labels.begin(), rim.labels.end(), flat.labels.begin()));  // same cells, other intensities
  const double lf = outline_level(flat), lr = outline_level(rim);
  CAPTURE(lf);
  CAPTURE(lr);
  // Flat cells blurred by the PSF: the outline sits half way up the edge (0.59 here), higher
  // than in SIM+ 01 (0.27-0.30, measured the same way) and 02 (0.14-0.17); a full rim of
  // width 8 brings it to about 0.2.
  CHECK(lf > 0.5);
  CHECK(lr < 0.25);
  CHECK(lr > 0.1);
  auto bad = o;
  bad.rim_depth = 1.5;
  CHECK_THROWS_AS(simulate_image(bad, 1), InvalidArgument);
}

TEST_CASE("3D volumes: anisotropic z spacing keeps cells round in physical space") {
  SimulationOptions<3> opt;
  opt.shape = Shape<3>(32, 128, 128);
  opt.spacing = {2.0, 1.0, 1.0};
  opt.radius_median = 10.0;
  opt.elongation_max = 1.0;
  opt.irregularity = 0.0;
  opt.cells_min = opt.cells_max = 12;
  auto s = simulate_image(opt, 3, 0);
  CHECK(s.image.shape() == opt.shape);
  CHECK(s.image.spacing()[0] == 2.0);
  // Per cell: extent in z voxels is about half the extent in x voxels.
  std::map<Label, std::array<Index, 4>> box;  // zmin, zmax, xmin, xmax
  for (Index z = 0; z < 32; ++z)
    for (Index y = 0; y < 128; ++y)
      for (Index x = 0; x < 128; ++x) {
        const Label l = s.labels(z, y, x);
        if (!l) continue;
        auto it = box.emplace(l, std::array<Index, 4>{z, z, x, x}).first;
        auto& b = it->second;
        b[0] = std::min(b[0], z);
        b[1] = std::max(b[1], z);
        b[2] = std::min(b[2], x);
        b[3] = std::max(b[3], x);
      }
  int checked = 0;
  for (auto& [l, b] : box) {
    if (b[0] == 0 || b[1] == 31 || b[2] == 0 || b[3] == 127) continue;  // cut by the border
    const double ratio = double(b[1] - b[0] + 1) / double(b[3] - b[2] + 1);
    CHECK(ratio > 0.35);
    CHECK(ratio < 0.7);
    ++checked;
  }
  MESSAGE(checked << " whole 3D cells checked");
  CHECK(checked >= 3);
}

TEST_CASE("calibration: medians within 25% of Fluo-N2DH-SIM+/01 (area, fg/bg, noise, density)") {
  const auto dir = testing::data_path("Fluo-N2DH-SIM+/01");
  QANET_REQUIRE_DATA(dir, "Fluo-N2DH-SIM+/01");
  std::vector<double> r_density, r_ratio, r_noise, s_density, s_ratio, s_noise;
  std::vector<Index> r_area, s_area;
  for (int t = 0; t < 65; t += 8) {
    char img[64], seg[64];
    std::snprintf(img, sizeof img, "01/t%03d.tif", t);
    std::snprintf(seg, sizeof seg, "01_GT/SEG/man_seg%03d.tif", t);
    auto st = frame_stats(read_tiff_as<std::uint16_t, 2>(testing::data_path(std::string("Fluo-N2DH-SIM+/") + img)),
                          read_labels<2>(testing::data_path(std::string("Fluo-N2DH-SIM+/") + seg)));
    r_density.push_back(st.cells_per_100k);
    r_ratio.push_back(st.fg_bg);
    r_noise.push_back(st.noise);
    r_area.insert(r_area.end(), st.inner_areas.begin(), st.inner_areas.end());
  }
  for (std::uint64_t k = 0; k < 9; ++k) {
    auto s = simulate_image(SimulationOptions<2>{}, 2024, k);
    auto st = frame_stats(s.image, s.labels);
    s_density.push_back(st.cells_per_100k);
    s_ratio.push_back(st.fg_bg);
    s_noise.push_back(st.noise);
    s_area.insert(s_area.end(), st.inner_areas.begin(), st.inner_areas.end());
  }
  auto near = [](double sim, double real, const char* what) {
    MESSAGE(std::string(what) << ": simulated " << sim << ", SIM+ " << real << " (ratio " << sim / real << ")");
    CHECK(sim / real > 0.75);
    CHECK(sim / real < 1.25);
  };
  near(median(s_area), median(r_area), "inner cell area (px)");
  near(median(s_ratio), median(r_ratio), "fg/bg intensity ratio");
  near(median(s_noise), median(r_noise), "background noise sd");
  near(median(s_density), median(r_density), "cells per 100k px");
}

namespace {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

double brute_seg2(const LabelImage<2>& gt, const LabelImage<2>& pred) {
  std::map<Label, Index> ga, pa;
  std::map<std::pair<Label, Label>, Index> ov;
  for (Index i = 0; i < gt.size(); ++i) {
    if (gt[i]) ++ga[gt[i]];
    if (pred[i]) ++pa[pred[i]];
    if (gt[i] && pred[i]) ++ov[{gt[i], pred[i]}];
  }
  double sum = 0.0;
  for (auto& [k, n] : ov)
    if (2 * n > ga[k.first]) sum += double(n) / double(ga[k.first] + pa[k.second] - n);
  return sum / double(ga.size());
}

}  // namespace

TEST_CASE("qanet simulate / perturb: CTC layout, thread-independent files, CSV SEG exact") {
  const std::filesystem::path exe = std::filesystem::path(QANET_BINARY_DIR) / "examples" / "qanet";
  if (!std::filesystem::exists(exe)) {
    MESSAGE("skipped: the qanet program is not built (" << exe.string() << ")");
    return;
  }
  testing::TempDir tmp;
  int rc = 0;
  for (int threads : {1, 2}) {
    const std::string cmd = exe.string() + " --threads " + std::to_string(threads) + " simulate --quiet --out " +
                            (tmp / ("t" + std::to_string(threads))).string() +
                            " --frames 3 --size 200,160 --cells 4,9 --seed 11 --perturbations 2 2>&1";
    testing::run_command(cmd, &rc);
    REQUIRE(rc == 0);
  }
  for (const char* f : {"01/t000.tif", "01/t002.tif", "01_GT/SEG/man_seg001.tif", "01_RES_p2/mask002.tif",
                        "01_RES_metrics.csv"}) {
    const std::string a = slurp(tmp / "t1" / f), b = slurp(tmp / "t2" / f);
    CHECK(!a.empty());
    CHECK_MESSAGE(a == b, f);
  }
  auto img = read_tiff_as<std::uint16_t, 2>(tmp / "t1/01/t000.tif");
  CHECK(img.shape() == Shape<2>(160, 200));  // --size is X,Y
  // Every CSV row: recompute SEG from the files.
  std::ifstream csv(tmp / "t1/01_RES_metrics.csv");
  std::string line;
  std::getline(csv, line);
  CHECK(line.rfind("result,frame,severity,gt_objects", 0) == 0);
  int rows = 0;
  while (std::getline(csv, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    std::string item;
    while (std::getline(ss, item, ',')) f.push_back(item);
    REQUIRE(f.size() >= 9);
    const std::string frame = f[1].substr(4, 3);
    auto gt = read_labels<2>(tmp / "t1/01_GT/SEG" / ("man_seg" + frame + ".tif"));
    auto pr = read_labels<2>(tmp / "t1" / f[0] / f[1]);
    CHECK(std::stod(f[8]) == doctest::Approx(brute_seg2(gt, pr)).epsilon(1e-9));
    ++rows;
  }
  CHECK(rows == 6);
  // qanet perturb: a valid mask, deterministic for a seed; a bad file is a clear error.
  const std::string p = exe.string() + " perturb --gt " + (tmp / "t1/01_GT/SEG/man_seg000.tif").string() + " --seed 4 --out ";
  testing::run_command(p + (tmp / "a.tif").string(), &rc);
  CHECK(rc == 0);
  testing::run_command(p + (tmp / "b.tif").string(), &rc);
  CHECK(slurp(tmp / "a.tif") == slurp(tmp / "b.tif"));
  const std::string err = testing::run_command(exe.string() + " simulate --out " + (tmp / "x").string() + " --cells 5,2 2>&1", &rc);
  CHECK(rc != 0);
  CHECK(err.find("--cells") != std::string::npos);
}
