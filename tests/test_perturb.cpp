// Tests of the perturbation pipeline: box morphology against brute force, deformation fields,
// topology errors, determinism and thread independence, label validity, edge cases, and the
// spread of SEG over [0, 1] (scored by an independent brute-force SEG written here).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>

#include <tbb/global_control.h>

#include "qanet/core.hpp"
#include "qanet/io/tiff.hpp"
#include "qanet/metrics/seg.hpp"
#include "qanet/perturb.hpp"
#include "qanet/simulate.hpp"
#include "support.hpp"

using namespace qanet;

namespace {

// Brute-force box erosion/dilation: loops over the element at every pixel (the method the
// library must NOT use), scipy conventions: erosion window [-c, k-1-c], dilation reflected.
Image<std::uint8_t, 2> brute_box(const Image<std::uint8_t, 2>& m, Index k, bool erode, std::uint8_t border) {
  Image<std::uint8_t, 2> out(m.shape(), 0);
  const Index c = k / 2;
  const Index lo = erode ? -c : -(k - 1 - c), hi = erode ? k - 1 - c : c;
  for (Index y = 0; y < m.shape()[0]; ++y)
    for (Index x = 0; x < m.shape()[1]; ++x) {
      bool all = true, any = false;
      for (Index dy = lo; dy <= hi; ++dy)
        for (Index dx = lo; dx <= hi; ++dx) {
          const Index yy = y + dy, xx = x + dx;
          const bool in = yy >= 0 && xx >= 0 && yy < m.shape()[0] && xx < m.shape()[1];
          const std::uint8_t v = in ? m(yy, xx) : (erode ? border : 0);
          all = all && v;
          any = any || v;
        }
      out(y, x) = erode ? all : any;
    }
  return out;
}

// Independent SEG: overlap counts in a std::map, CTC rule |g n p| > 0.5 |g|.
template <int Dim>
double brute_seg(const LabelImage<Dim>& gt, const LabelImage<Dim>& pred) {
  std::map<Label, Index> ga;
  std::map<std::pair<Label, Label>, Index> ov;
  std::map<Label, Index> pa;
  for (Index i = 0; i < gt.size(); ++i) {
    if (gt[i]) ++ga[gt[i]];
    if (pred[i]) ++pa[pred[i]];
    if (gt[i] && pred[i]) ++ov[{gt[i], pred[i]}];
  }
  double sum = 0.0;
  for (auto& [g, a] : ga)
    for (auto& [k, n] : ov)
      if (k.first == g && 2 * n > a) sum += double(n) / double(a + pa[k.second] - n);
  return sum / double(ga.size());
}

template <int Dim>
bool consecutive_labels(const LabelImage<Dim>& l) {
  std::set<Label> s(l.begin(), l.end());
  s.erase(0);
  Label expect = 1;
  for (Label v : s)
    if (v != expect++) return false;
  return true;
}

LabelImage<2> disc_image(Index h, Index w, const std::vector<std::array<double, 4>>& discs) {
  LabelImage<2> l(Shape<2>(h, w));
  for (const auto& d : discs)  // y, x, r, label
    for (Index y = 0; y < h; ++y)
      for (Index x = 0; x < w; ++x)
        if ((y - d[0]) * (y - d[0]) + (x - d[1]) * (x - d[1]) <= d[2] * d[2]) l(y, x) = static_cast<Label>(d[3]);
  return l;
}

}  // namespace

TEST_CASE("box erosion and dilation equal brute force, odd and even sides, border values") {
  Rng rng(3);
  for (int trial = 0; trial < 30; ++trial) {
    Image<std::uint8_t, 2> m(Shape<2>(rng.uniform_int(1, 23), rng.uniform_int(1, 31)), 0);
    for (auto& v : m) v = rng.bernoulli(0.6);
    for (Index k : {1, 2, 3, 4, 5, 8, 11}) {
      for (std::uint8_t border : {std::uint8_t{0}, std::uint8_t{1}}) {
        auto e = m;
        erode_box(e.view(), k, border);
        auto be = brute_box(m, k, true, border);
        CHECK(std::equal(e.begin(), e.end(), be.begin()));
      }
      auto d = m;
      dilate_box(d.view(), k);
      auto bd = brute_box(m, k, false, 0);
      CHECK(std::equal(d.begin(), d.end(), bd.begin()));
    }
  }
  Image<std::uint8_t, 2> m(Shape<2>(4, 4), 1);
  CHECK_THROWS_AS(erode_box(m.view(), 0), InvalidArgument);
}

TEST_CASE("3D boxes of side 3 (their own fast path) equal brute force, border values") {
  Rng rng(4);
  for (int trial = 0; trial < 6; ++trial) {
    const Shape<3> sh(rng.uniform_int(1, 6), rng.uniform_int(1, 7), rng.uniform_int(1, 9));
    Image<std::uint8_t, 3> m(sh, 0);
    for (auto& v : m) v = rng.bernoulli(0.6);
    for (const bool erode : {true, false})
      for (std::uint8_t border : {std::uint8_t{0}, std::uint8_t{1}}) {
        auto got = m;
        if (erode) erode_box(got.view(), 3, border);
        else dilate_box(got.view(), 3);
        const std::uint8_t pad = erode ? border : 0;
        for (Index z = 0; z < sh[0]; ++z)
          for (Index y = 0; y < sh[1]; ++y)
            for (Index x = 0; x < sh[2]; ++x) {
              int ext = erode ? 1 : 0;
              for (Index dz = -1; dz <= 1; ++dz)
                for (Index dy = -1; dy <= 1; ++dy)
                  for (Index dx = -1; dx <= 1; ++dx) {
                    const Index zz = z + dz, yy = y + dy, xx = x + dx;
                    const bool in = zz >= 0 && zz < sh[0] && yy >= 0 && yy < sh[1] && xx >= 0 && xx < sh[2];
                    const int v = in ? m(zz, yy, xx) : pad;
                    ext = erode ? std::min(ext, v) : std::max(ext, v);
                  }
              REQUIRE(int(got(z, y, x)) == ext);
            }
      }
  }
}

TEST_CASE("3D box dilation of a single voxel is a cube") {
  Image<std::uint8_t, 3> m(Shape<3>(9, 9, 9), 0);
  m(4, 4, 4) = 1;
  dilate_box(m.view(), 5);
  Index n = 0;
  for (Index z = 0; z < 9; ++z)
    for (Index y = 0; y < 9; ++y)
      for (Index x = 0; x < 9; ++x) {
        const bool in = std::abs(z - 4) <= 2 && std::abs(y - 4) <= 2 && std::abs(x - 4) <= 2;
        CHECK(bool(m(z, y, x)) == in);
        n += m(z, y, x);
      }
  CHECK(n == 125);
}

// Paints rows [y0, y1) x columns [x0, x1) with `label`.
void fill_box(LabelImage<2>& l, Index y0, Index y1, Index x0, Index x1, Label label) {
  for (Index y = y0; y < y1; ++y)
    for (Index x = x0; x < x1; ++x) l(y, x) = label;
}

TEST_CASE("per-instance morphology: erosion of a 9x9 square by 3 gives 7x7, labels kept") {
  LabelImage<2> l(Shape<2>(20, 30));
  fill_box(l, 2, 11, 2, 11, 70000);
  fill_box(l, 5, 8, 20, 23, 9);
  auto inst = detail::find_instances(l.cview());
  REQUIRE(inst.size() == 2);
  CHECK(inst[0].label == 9);
  CHECK(inst[1].area == 81);
  auto out = morph_instances(l.cview(), inst, {{MorphOp::dilation, 3}, {MorphOp::erosion, 3}});
  Index a9 = 0, a7 = 0;
  for (Label v : out) {
    a9 += v == 9;
    a7 += v == 70000;
  }
  CHECK(a7 == 49);
  CHECK(a9 == 25);
  // Cells cut by the border are not eroded from it.
  LabelImage<2> b(Shape<2>(10, 10), 0);
  for (Index y = 0; y < 5; ++y)
    for (Index x = 0; x < 10; ++x) b(y, x) = 1;
  auto bi = detail::find_instances(b.cview());
  auto be = morph_instances(b.cview(), bi, {{MorphOp::erosion, 3}});
  Index n = 0;
  for (Label v : be) n += v == 1;
  CHECK(n == 4 * 10);  // only the row facing the background goes
}

// Brute-force systematic offset: distances by looping over every pixel pair.
LabelImage<2> brute_shift(const LabelImage<2>& l, const std::map<Label, double>& offset) {
  const Index ny = l.shape()[0], nx = l.shape()[1];
  LabelImage<2> out = l;
  for (Index y = 0; y < ny; ++y)
    for (Index x = 0; x < nx; ++x) {
      const Label v = l(y, x);
      if (v != 0) {  // shrink: distance to the nearest in-image pixel of another value
        const double d = offset.at(v);
        if (d >= 0) continue;
        double best = 1e300;
        for (Index yy = 0; yy < ny; ++yy)
          for (Index xx = 0; xx < nx; ++xx)
            if (l(yy, xx) != v) best = std::min(best, std::hypot(double(yy - y), double(xx - x)));
        if (best <= -d) out(y, x) = 0;
      } else {  // grow: the nearest growing instance within its offset, ties to the lower label
        double best = 1e300;
        Label owner = 0;
        for (const auto& [lab, d] : offset) {
          if (d <= 0) continue;
          double q = 1e300;
          for (Index yy = 0; yy < ny; ++yy)
            for (Index xx = 0; xx < nx; ++xx)
              if (l(yy, xx) == lab) q = std::min(q, std::hypot(double(yy - y), double(xx - x)));
          if (q <= d && q < best) best = q, owner = lab;
        }
        out(y, x) = owner;
      }
    }
  return out;
}

TEST_CASE("systematic boundary offset equals brute force: grow, shrink, touching cells, border") {
  // A disc, a square touching a second square, a cell cut by the image border.
  auto l = disc_image(40, 50, {{12, 12, 6, 3}, {30, 40, 5, 8}});
  fill_box(l, 22, 30, 10, 18, 5);
  fill_box(l, 22, 30, 18, 24, 6);
  fill_box(l, 0, 4, 30, 40, 70000);
  auto inst = detail::find_instances(l.cview());
  REQUIRE(inst.size() == 5);
  for (const std::vector<double>& d : {std::vector<double>{2.5, 3.0, 1.5, 2.2, 4.0}, {-1.5, -2.0, -2.9, -1.0, -1.2},
                                       {3.0, -2.0, 2.0, 0.0, -1.0}}) {
    std::map<Label, double> by_label;
    for (std::size_t k = 0; k < inst.size(); ++k) by_label[inst[k].label] = d[k];
    auto got = shift_boundaries(l.cview(), inst, d);
    auto want = brute_shift(l, by_label);
    Index diff = 0;
    for (Index i = 0; i < l.size(); ++i) diff += got[i] != want[i];
    CHECK(diff == 0);
  }
  // By hand: a 9x9 square shrunk by 1 is 7x7 (only the 4-neighbour ring is within 1 px); a
  // single pixel grown by 1 is a plus of 5 pixels, by 1.5 a 3x3 square.
  LabelImage<2> sq(Shape<2>(15, 15), 0);
  fill_box(sq, 3, 12, 3, 12, 1);
  auto si = detail::find_instances(sq.cview());
  auto s1 = shift_boundaries(sq.cview(), si, {-1.0});
  CHECK(std::count(s1.begin(), s1.end(), Label{1}) == 49);
  LabelImage<2> px(Shape<2>(7, 7), 0);
  px(3, 3) = 4;
  auto pi = detail::find_instances(px.cview());
  auto g1 = shift_boundaries(px.cview(), pi, {1.0});
  auto g15 = shift_boundaries(px.cview(), pi, {1.5});
  CHECK(std::count(g1.begin(), g1.end(), Label{4}) == 5);
  CHECK(std::count(g15.begin(), g15.end(), Label{4}) == 9);
  CHECK_THROWS_AS(shift_boundaries(px.cview(), pi, {}), InvalidArgument);
  CHECK_THROWS_AS(shift_boundaries(px.cview(), pi, {std::nan("")}), InvalidArgument);
}

TEST_CASE("pipeline: the boundary-offset mode grows or shrinks every cell, and is off by default") {
  auto l = disc_image(120, 160, {{30, 30, 14, 500}, {30, 75, 15, 70000}, {80, 50, 18, 7}, {85, 120, 16, 12}});
  PerturbOptions only;  // every other stage off, so the result is the offset alone
  only.deform_probability = 0, only.merge_probability = 0, only.split_probability = 0;
  only.drop_probability = 0, only.spurious_per_cell = 0;
  only.boundary_shift_probability = 1.0, only.boundary_shift_jitter = 0.0;
  int grown = 0, shrunk = 0;
  for (std::uint64_t seed = 0; seed < 12; ++seed) {
    auto r = perturb_labels_at(l.cview(), only, 0.7, seed);
    const double d = r.record.boundary_shift;
    CHECK(std::abs(d) <= 1.4 * only.boundary_shift_max);
    for (Index c : r.record.morphology) CHECK(c == 0);
    // Each disc of radius R becomes (about) a disc of radius R + d: compare areas.
    Index fg_in = 0, fg_out = 0;
    for (Label v : l) fg_in += v != 0;
    for (Label v : r.labels) fg_out += v != 0;
    const double want = 3.141592653589793 * ((14 + d) * (14 + d) + (15 + d) * (15 + d) + (18 + d) * (18 + d) + (16 + d) * (16 + d));
    CHECK(double(fg_out) == doctest::Approx(want).epsilon(0.08));
    (d > 0 ? grown : shrunk) += 1;
  }
  CHECK(grown > 0);
  CHECK(shrunk > 0);
  // Off by default: the SPEC pipeline never records an offset.
  for (std::uint64_t seed = 0; seed < 5; ++seed) CHECK(perturb_labels(l.cview(), PerturbOptions{}, seed).record.boundary_shift == 0.0);
  PerturbOptions bad;
  bad.boundary_shift_probability = 1.5;
  CHECK_THROWS_AS(perturb_labels(l.cview(), bad, 1), InvalidArgument);
}

TEST_CASE("smoothed noise field: reference parameters give a coherent field of about 2 px sd") {
  auto f = smoothed_noise_field(Shape<2>(256, 256), 512.0, 38.0, 11);
  double s2 = 0.0, m = 0.0, dmax = 0.0;
  for (Index i = 0; i < f[0].size(); ++i) {
    m += f[0][i];
    s2 += f[0][i] * f[0][i];
    if (i % 256 != 255) dmax = std::max(dmax, double(std::abs(f[0][i + 1] - f[0][i])));
  }
  const double sd = std::sqrt(s2 / f[0].size());
  // Theory (unbounded domain): sd = 512/sqrt(3) / (2 sqrt(pi) 38) = 2.19; reflected borders
  // and one 256 px sample of a slowly varying field leave a broad range.
  CHECK(sd > 0.5);
  CHECK(sd < 6.0);
  CHECK(dmax < 0.5);  // smooth: neighbours move together
  // Three boxes match the Gaussian variance: sum of (w^2 - 1)/12 = sigma^2.
  auto w = detail::gaussian_box_widths(38.0);
  double var = 0;
  for (Index v : w) var += (double(v) * v - 1) / 12.0;
  CHECK(std::abs(std::sqrt(var) - 38.0) < 1.5);
}

TEST_CASE("B-spline field: bounded by the node displacements, constant nodes give a shift") {
  auto f = bspline_field<3>(Shape<3>(10, 40, 50), Shape<3>(5, 6, 7), {1.0, 4.0, 4.0}, 5);
  for (int a = 0; a < 3; ++a)
    for (float v : f[a]) CHECK(std::abs(v) <= (a == 0 ? 1.0f : 4.0f) + 1e-5f);
  // Partition of unity: upsampling constant nodes reproduces the constant.
  Image<float, 2> nodes(Shape<2>(5, 6), 2.5f);
  auto up = detail::bspline_upsample_axis(detail::bspline_upsample_axis(nodes, 1, 33), 0, 21);
  for (float v : up) CHECK(v == doctest::Approx(2.5f));
  // A uniform displacement of +2 in x moves a label two pixels.
  LabelImage<2> l(Shape<2>(5, 10), 0);
  l(2, 6) = 3;
  DisplacementField<2> d;
  d[0] = Image<float, 2>(l.shape(), 0.0f);
  d[1] = Image<float, 2>(l.shape(), 2.0f);
  auto w = warp_labels(l.cview(), d);
  CHECK(w(2, 4) == 3);
  CHECK(count_objects(w.cview()) == 1);
}

TEST_CASE("topology: merge p=1 joins touching cells, p=0 none; drop; split; spurious blobs") {
  // Three cells in a row: 1|2 touch, 3 apart.
  LabelImage<2> l(Shape<2>(10, 30), 0);
  for (Index y = 2; y < 8; ++y) {
    for (Index x = 2; x < 8; ++x) l(y, x) = 1;
    for (Index x = 8; x < 14; ++x) l(y, x) = 2;
    for (Index x = 20; x < 26; ++x) l(y, x) = 3;
  }
  auto pairs = adjacent_pairs(l.cview());
  REQUIRE(pairs.size() == 1);
  CHECK(pairs[0] == std::pair<Label, Label>(1, 2));
  auto m = l;
  CHECK(merge_adjacent(m, 1.0, 1) == 1);
  CHECK(count_objects(m.cview()) == 2);
  CHECK(m(4, 10) == 1);
  auto m0 = l;
  CHECK(merge_adjacent(m0, 0.0, 1) == 0);
  CHECK(std::equal(m0.begin(), m0.end(), l.begin()));

  auto d = l;
  CHECK(drop_instances(d, detail::find_instances(d.cview()), 1.0, 2) == 3);
  CHECK(count_objects(d.cview()) == 0);

  auto s = l;
  Label next = 4;
  CHECK(split_instances(s, detail::find_instances(s.cview()), 1.0, 3, next) == 3);
  CHECK(count_objects(s.cview()) == 6);
  CHECK(next == 7);
  Index before = 0, after = 0;
  for (Index i = 0; i < l.size(); ++i) {
    before += l[i] != 0;
    after += s[i] != 0;
  }
  CHECK(before == after);  // a split moves voxels, never adds or removes them

  auto b = l;
  next = 4;
  add_spurious_blobs(b, 5, 2.0, 9, next);
  for (Index i = 0; i < l.size(); ++i)
    if (l[i] != 0) CHECK(b[i] == l[i]);  // blobs only on background
  CHECK(count_objects(b.cview()) > 3);
}

TEST_CASE("pipeline: same seed same bytes, independent of the thread count; GT untouched") {
  auto sim = simulate_image(SimulationOptions<2>{}, 4, 0);
  const auto gt_copy = sim.labels;
  PerturbOptions opt;
  std::vector<LabelImage<2>> one, two;
  {
    tbb::global_control c(tbb::global_control::max_allowed_parallelism, 1);
    for (std::uint64_t s = 0; s < 6; ++s) one.push_back(perturb_labels(sim.labels.cview(), opt, s).labels);
  }
  {
    tbb::global_control c(tbb::global_control::max_allowed_parallelism, 2);
    for (std::uint64_t s = 0; s < 6; ++s) two.push_back(perturb_labels(sim.labels.cview(), opt, s).labels);
  }
  for (std::size_t k = 0; k < one.size(); ++k) {
    CHECK(std::equal(one[k].begin(), one[k].end(), two[k].begin()));
    CHECK(consecutive_labels(one[k]));
  }
  CHECK(!std::equal(one[0].begin(), one[0].end(), one[1].begin()));
  CHECK(std::equal(gt_copy.begin(), gt_copy.end(), sim.labels.begin()));
}

TEST_CASE("pipeline: severity 0 is the identity up to relabelling; severity 1 is worse than 0.25") {
  auto l = disc_image(120, 160, {{30, 30, 14, 500}, {30, 75, 15, 70000}, {80, 50, 18, 7}, {85, 120, 16, 12}});
  auto r0 = perturb_labels_at(l.cview(), PerturbOptions{}, 0.0, 1);
  CHECK(brute_seg(l, r0.labels) == doctest::Approx(1.0));
  double lo = 0, hi = 0;
  for (std::uint64_t s = 0; s < 40; ++s) {
    lo += brute_seg(l, perturb_labels_at(l.cview(), PerturbOptions{}, 0.25, s).labels);
    hi += brute_seg(l, perturb_labels_at(l.cview(), PerturbOptions{}, 1.0, s).labels);
  }
  CHECK(hi < lo);
  CHECK_THROWS_AS(perturb_labels_at(l.cview(), PerturbOptions{}, 1.5, 1), InvalidArgument);
  PerturbOptions bad;
  bad.merge_probability = 2.0;
  CHECK_THROWS_AS(perturb_labels(l.cview(), bad, 1), InvalidArgument);
}

TEST_CASE("edge cases: gaps, labels above 65535, empty, one-pixel cells, border cells, one cell filling the image") {
  PerturbOptions opt;
  // Gaps and huge labels.
  auto l = disc_image(64, 64, {{20, 20, 8, 4000000000.0}, {45, 40, 9, 70001}, {10, 55, 5, 3}});
  for (std::uint64_t s = 0; s < 10; ++s) {
    auto r = perturb_labels(l.cview(), opt, s);
    CHECK(consecutive_labels(r.labels));
    CHECK(r.labels.shape() == l.shape());
  }
  // Empty mask: valid empty-or-blob output.
  LabelImage<2> e(Shape<2>(32, 32), 0);
  for (std::uint64_t s = 0; s < 5; ++s) CHECK(consecutive_labels(perturb_labels(e.cview(), opt, s).labels));
  // Zero-size image.
  LabelImage<2> z(Shape<2>(0, 5), 0);
  CHECK(perturb_labels(z.cview(), opt, 1).labels.size() == 0);
  // One-pixel cells, some on the border.
  LabelImage<2> p(Shape<2>(16, 16), 0);
  p(0, 0) = 1;
  p(7, 7) = 2;
  p(15, 3) = 3;
  for (std::uint64_t s = 0; s < 20; ++s) CHECK(consecutive_labels(perturb_labels(p.cview(), opt, s).labels));
  // One cell filling the image: dilation/closing cannot grow it, the result stays valid.
  LabelImage<2> f(Shape<2>(40, 40), 9);
  for (std::uint64_t s = 0; s < 20; ++s) {
    auto r = perturb_labels(f.cview(), opt, s);
    CHECK(consecutive_labels(r.labels));
    CHECK(brute_seg(f, r.labels) >= 0.0);
  }
  // 1 x N and N x 1 images.
  LabelImage<2> line(Shape<2>(1, 50), 0);
  for (Index x = 10; x < 30; ++x) line(0, x) = 5;
  for (std::uint64_t s = 0; s < 10; ++s) CHECK(consecutive_labels(perturb_labels(line.cview(), opt, s).labels));
}

TEST_CASE("3D pipeline: valid labels, deterministic, B-spline deformation") {
  SimulationOptions<3> so;
  so.shape = Shape<3>(16, 64, 64);
  so.radius_median = 9.0;
  auto sim = simulate_image(so, 2, 0);
  REQUIRE(count_objects(sim.labels.cview()) > 0);
  PerturbOptions opt;
  auto a = perturb_labels(sim.labels.cview(), opt, 17);
  auto b = perturb_labels(sim.labels.cview(), opt, 17);
  CHECK(std::equal(a.labels.begin(), a.labels.end(), b.labels.begin()));
  CHECK(consecutive_labels(a.labels));
  double total = 0;
  for (std::uint64_t s = 0; s < 10; ++s) total += brute_seg(sim.labels, perturb_labels(sim.labels.cview(), opt, s).labels);
  CHECK(total / 10 < 0.99);
  CHECK(total / 10 > 0.05);
}

// SEG histogram of n perturbed 256x256 patches, half from SIM+ ground truth (when present), half
// (or all) from the simulator; every tenth of [0.1, 1] must hold at least 3%.
void seg_histogram(int total) {
  // Half from SIM+ ground truth (when present), half (or all) from the simulator.
  std::vector<LabelImage<2>> sources;
  for (std::uint64_t k = 0; k < 16; ++k) {
    SimulationOptions<2> so;
    so.shape = Shape<2>(256, 256);
    auto s = simulate_image(so, 100, k);
    if (count_objects(s.labels.cview()) > 0) sources.push_back(std::move(s.labels));
  }
  const auto simplus = testing::data_path("Fluo-N2DH-SIM+/01_GT/SEG");
  std::vector<LabelImage<2>> real;
  if (!simplus.empty()) {
    for (int t : {0, 10, 20, 30, 40, 50, 60}) {
      char name[64];
      std::snprintf(name, sizeof name, "man_seg%03d.tif", t);
      real.push_back(read_labels<2>(simplus / name));
    }
  } else {
    MESSAGE("SIM+ ground truth absent: simulator patches only");
  }
  std::array<int, 10> hist{};
  int n = 0;
  PerturbOptions opt;
  int from_real = 0;
  for (std::uint64_t k = 0; n < total; ++k) {
    Rng rng = Rng::derive(77, {k});
    const bool use_real = !real.empty() && (k % 2 == 0);
    const auto& src = use_real ? real[rng.uniform_int(0, Index(real.size()) - 1)]
                               : sources[rng.uniform_int(0, Index(sources.size()) - 1)];
    LabelImage<2> crop(Shape<2>(256, 256));
    const Index y0 = rng.uniform_int(0, src.shape()[0] - 256), x0 = rng.uniform_int(0, src.shape()[1] - 256);
    for (Index y = 0; y < 256; ++y)
      for (Index x = 0; x < 256; ++x) crop(y, x) = src(y0 + y, x0 + x);
    if (count_objects(crop.cview()) == 0) continue;
    const double seg = brute_seg(crop, perturb_labels(crop.cview(), opt, rng()).labels);
    ++hist[std::min(9, int(seg * 10))];
    from_real += use_real;
    ++n;
  }
  MESSAGE(n << " patches, " << from_real << " from SIM+ ground truth");
  for (int b = 0; b < 10; ++b)
    MESSAGE("SEG [" << b / 10.0 << ", " << (b + 1) / 10.0 << "): " << 100.0 * hist[b] / n << "%");
  for (int b = 1; b < 10; ++b) CHECK(hist[b] * 100 >= 3 * n);
}

TEST_CASE("SEG of 1,000 perturbed 256x256 patches spreads: no tenth of [0.1, 1] under 3%") { seg_histogram(1000); }

// The documented run of docs/perturbation.md (about 30 s): test_perturb -tc="*5?000*" --no-skip
TEST_CASE("SEG of 5,000 perturbed 256x256 patches spreads" * doctest::skip()) { seg_histogram(5000); }

TEST_CASE("sample generator: patches with cells, exact scores, deterministic, 2D real and simulated, 3D") {
  SampleOptions<2> so;
  so.patch = Shape<2>(96, 96);
  SimulationOptions<2> sim;
  sim.radius_median = 12.0;
  SampleGenerator<2> gen(sim, so);
  auto a = gen.batch(5, 0, 6);
  auto b = gen.batch(5, 0, 6);
  for (std::size_t k = 0; k < a.size(); ++k) {
    CHECK(a[k].image.shape() == so.patch);
    CHECK(count_objects(a[k].gt.cview()) >= 1);
    CHECK(std::equal(a[k].mask.begin(), a[k].mask.end(), b[k].mask.begin()));
    CHECK(std::equal(a[k].image.begin(), a[k].image.end(), b[k].image.begin()));
    REQUIRE(a[k].scores.seg.has_value());
    CHECK(*a[k].scores.seg == doctest::Approx(brute_seg(a[k].gt, a[k].mask)));
    CHECK(gen.sample(5, k).index == k);
  }
  // From a real-style pair: a big image with two cells; every patch must contain a cell.
  auto l = disc_image(300, 300, {{40, 40, 10, 3}, {250, 260, 12, 9}});
  Image<std::uint16_t, 2> img(l.shape(), 100);
  for (Index i = 0; i < l.size(); ++i)
    if (l[i]) img[i] = 200;
  std::vector<std::pair<Image<std::uint16_t, 2>, LabelImage<2>>> pairs{{img, l}};
  SampleGenerator<2> real(pairs, so);
  for (std::uint64_t k = 0; k < 10; ++k) {
    auto s = real.sample(1, k);
    CHECK(count_objects(s.gt.cview()) >= 1);
    for (Index i = 0; i < s.gt.size(); ++i) CHECK((s.gt[i] != 0) == (s.image[i] == 200.0f));  // aligned, flipped together
  }
  so.patch = Shape<2>(400, 40);
  CHECK_THROWS_AS(SampleGenerator<2>(pairs, so), InvalidArgument);

  SampleOptions<3> s3;
  s3.patch = Shape<3>(12, 48, 48);
  s3.boundary_metrics = false;
  SimulationOptions<3> sim3;
  sim3.radius_median = 8.0;
  SampleGenerator<3> g3(sim3, s3);
  auto t = g3.sample(2, 0);
  CHECK(t.mask.shape() == s3.patch);
  CHECK(*t.scores.seg == doctest::Approx(brute_seg(t.gt, t.mask)));
}

namespace {

// A 400 x 400 frame of discs of radius 10 (317 px, equivalent diameter 21 px) every 50 px,
// intensity 100 on 10.
std::vector<std::pair<Image<float, 2>, LabelImage<2>>> disc_grid() {
  LabelImage<2> l(Shape<2>(400, 400), 0);
  Label next = 0;
  for (Index cy = 25; cy < 400; cy += 50)
    for (Index cx = 25; cx < 400; cx += 50) {
      ++next;
      for (Index y = cy - 10; y <= cy + 10; ++y)
        for (Index x = cx - 10; x <= cx + 10; ++x)
          if ((y - cy) * (y - cy) + (x - cx) * (x - cx) <= 100) l(y, x) = next;
    }
  Image<float, 2> img(l.shape(), 10.0f);
  for (Index i = 0; i < l.size(); ++i)
    if (l[i]) img[i] = 100.0f;
  return {{img, l}};
}

Index largest_area(const LabelImage<2>& g) {
  std::map<Label, Index> area;
  for (Label v : g)
    if (v) ++area[v];
  Index m = 0;
  for (const auto& [v, a] : area) m = std::max(m, a);
  return m;
}

}  // namespace

TEST_CASE("sample generator: clean masks are the ground truth; scale jitter zooms real crops within its range") {
  const auto pairs = disc_grid();
  SampleOptions<2> so;
  so.patch = Shape<2>(96, 96);
  so.clean_probability = 1.0;
  SampleGenerator<2> clean(pairs, so);
  for (std::uint64_t k = 0; k < 5; ++k) {
    const auto s = clean.sample(3, k);
    CHECK(std::equal(s.mask.begin(), s.mask.end(), s.gt.begin()));
    CHECK(*s.scores.seg == 1.0);
  }
  // Zoom: the largest cell area in a patch is (21 z)^2 pi / 4 for zoom z in [1/2, 2]; without
  // jitter every whole cell keeps its 317 pixels.
  so.clean_probability = 0.0;
  SampleGenerator<2> fixed(pairs, so);
  for (std::uint64_t k = 0; k < 5; ++k) CHECK(largest_area(fixed.sample(4, k).gt) == 317);
  so.scale_jitter = 2.0;
  SampleGenerator<2> zoomed(pairs, so);
  std::set<Index> areas;
  for (std::uint64_t k = 0; k < 20; ++k) {
    const auto s = zoomed.sample(4, k);
    CHECK(s.image.shape() == so.patch);
    CHECK(s.gt.shape() == so.patch);
    const Index a = largest_area(s.gt);
    CHECK(a >= 317 / 4 - 30);
    CHECK(a <= 317 * 4 + 120);
    areas.insert(a);
    for (Index i = 0; i < s.gt.size(); ++i)  // labels and image resampled together
      if (s.gt[i]) CHECK(s.image[i] > 10.0f);
  }
  CHECK(areas.size() >= 10);
  so.scale_jitter = 0.5;
  CHECK_THROWS_AS(SampleGenerator<2>(pairs, so), InvalidArgument);
}

TEST_CASE("sample generator: with a judged scale a mask is seen at the diameter its truth had") {
  // The disc grid; the judged measure is the median object diameter, which cutting cells into
  // pieces lowers.
  const auto pairs = disc_grid();
  SampleOptions<2> so;
  so.patch = Shape<2>(160, 160);
  so.judged_diameter = [](const ImageView<const float, 2>&, const LabelView<2>& m) { return median_object_diameter(m); };
  // A perfect mask measures as its truth: no zoom, whole cells keep their 317 pixels.
  so.clean_probability = 1.0;
  SampleGenerator<2> clean(pairs, so);
  for (std::uint64_t k = 0; k < 5; ++k) {
    const auto s = clean.sample(3, k);
    CHECK(s.zoom == 1.0);
    CHECK(s.image.shape() == so.patch);
    CHECK(largest_area(s.gt) == 317);
  }
  // Every patch is its window resampled by the zoom: whole cells grow by its square (every
  // window of at least 71 px holds one). Fragments
  // lower the median (never raise it): zoomed in. Specks outnumber the cells of the context and
  // drive the median to about 1 px: zoomed in to the limit, 4.
  so.clean_probability = 0.0;
  so.segmenter_error_probability = 1.0;
  SampleGenerator<2> judged(pairs, so);
  int fragmented = 0, zoomed_in = 0, specked = 0;
  for (std::uint64_t k = 0; k < 100; ++k) {
    const auto s = judged.sample(5, k);
    REQUIRE(s.image.shape() == so.patch);
    REQUIRE(s.mask.shape() == so.patch);
    CAPTURE(s.zoom);
    for (Index i = 0; i < s.gt.size(); ++i)  // image, truth and mask resampled together
      if (s.gt[i]) REQUIRE(s.image[i] > 10.0f);
    CHECK(*s.scores.seg == doctest::Approx(brute_seg(s.gt, s.mask)));
    if (s.zoom > 0.7 && s.zoom < 2.2)  // a window of 160 / 2.2 > 71 px holds a whole cell
      CHECK(static_cast<double>(largest_area(s.gt)) == doctest::Approx(317.0 * s.zoom * s.zoom).epsilon(0.15));
    if (s.record.segmenter_error == static_cast<int>(SegmenterError::fragments)) {
      ++fragmented;
      CHECK(s.zoom >= 0.95);
      zoomed_in += s.zoom > 1.2;
    }
    if (s.record.segmenter_error == static_cast<int>(SegmenterError::specks)) {
      ++specked;
      CHECK(s.zoom == 4.0);
    }
  }
  CHECK(fragmented >= 4);
  CHECK(2 * zoomed_in >= fragmented);
  CHECK(specked >= 4);
  so.context = 0.5;
  CHECK_THROWS_AS(SampleGenerator<2>(pairs, so), InvalidArgument);
}

TEST_CASE("whole-object SEG: each visible cell's whole Jaccard, weighted by its share in the window") {
  // Two 4 x 4 squares; the mask has the first exactly (Jaccard 1) and loses a column of the
  // second (12 / 16 = 0.75). The 8 x 8 window at the origin holds all of the first and a 2 x 2
  // corner of the second (share 4 / 16), where the mask agrees with the truth.
  LabelImage<2> gt(Shape<2>(10, 10)), mask(Shape<2>(10, 10));
  for (Index y = 0; y < 4; ++y)
    for (Index x = 0; x < 4; ++x) gt(y, x) = mask(y, x) = 1;
  for (Index y = 6; y < 10; ++y)
    for (Index x = 6; x < 10; ++x) {
      gt(y, x) = 2;
      if (x < 9) mask(y, x) = 5;
    }
  CHECK(visible_share_seg<2>(gt, mask, {0, 0}, Shape<2>(8, 8)) == doctest::Approx((1.0 + 0.25 * 0.75) / 1.25));
  // The SEG of the window's own crop sees the corner as perfect.
  LabelImage<2> g8(Shape<2>(8, 8)), m8(Shape<2>(8, 8));
  for (Index y = 0; y < 8; ++y)
    for (Index x = 0; x < 8; ++x) g8(y, x) = gt(y, x), m8(y, x) = mask(y, x);
  MetricOptions seg_only;
  seg_only.boundary = false;
  CHECK(*evaluate_frame(g8, m8, seg_only).seg == 1.0);
  // The whole frame: the plain mean of the two Jaccards; the second object alone: 0.75; an
  // unmatched object (less than half covered) counts 0; a window without objects gives 0.
  CHECK(visible_share_seg<2>(gt, mask, {0, 0}, Shape<2>(10, 10)) == doctest::Approx(0.875));
  CHECK(visible_share_seg<2>(gt, mask, {5, 5}, Shape<2>(5, 5)) == doctest::Approx(0.75));
  LabelImage<2> half = mask;
  for (Index y = 0; y < 4; ++y)
    for (Index x = 1; x < 4; ++x) half(y, x) = 0;  // 4 of 16 pixels left: unmatched
  CHECK(visible_share_seg<2>(gt, half, {0, 0}, Shape<2>(4, 4)) == 0.0);
  CHECK(visible_share_seg<2>(gt, mask, {4, 0}, Shape<2>(2, 10)) == 0.0);

  // In the generator (judged scale): set only when asked, 1 for clean masks, within [0, 1].
  const auto pairs = disc_grid();
  SampleOptions<2> so;
  so.patch = Shape<2>(96, 96);
  so.judged_diameter = [](const ImageView<const float, 2>&, const LabelView<2>& m) { return median_object_diameter(m); };
  so.segmenter_error_probability = 0.5;
  CHECK(!SampleGenerator<2>(pairs, so).sample(2, 0).whole_object_seg);
  so.whole_object_seg = true;
  SampleGenerator<2> whole(pairs, so);
  int differs = 0;
  for (std::uint64_t k = 0; k < 30; ++k) {
    const auto s = whole.sample(2, k);
    REQUIRE(s.whole_object_seg);
    CHECK(*s.whole_object_seg >= 0.0);
    CHECK(*s.whole_object_seg <= 1.0);
    differs += std::abs(*s.whole_object_seg - *s.scores.seg) > 1e-6;
  }
  CHECK(differs > 5);
  so.clean_probability = 1.0;
  CHECK(*SampleGenerator<2>(pairs, so).sample(2, 1).whole_object_seg == 1.0);
}

TEST_CASE("objects in view: each ground-truth object counted by its share inside the window") {
  // The two 4 x 4 squares of the case above: the 8 x 8 window at the origin holds all of the
  // first and 4 of the second's 16 pixels; a 2 x 3 window at (1, 2) 2 x 2 pixels of the first
  // (its columns 2 and 3); the mask plays no part.
  LabelImage<2> gt(Shape<2>(10, 10));
  for (Index y = 0; y < 4; ++y)
    for (Index x = 0; x < 4; ++x) gt(y, x) = 1;
  for (Index y = 6; y < 10; ++y)
    for (Index x = 6; x < 10; ++x) gt(y, x) = 2;
  CHECK(visible_objects<2>(gt, {0, 0}, Shape<2>(8, 8)) == doctest::Approx(1.25));
  CHECK(visible_objects<2>(gt, {0, 0}, Shape<2>(10, 10)) == doctest::Approx(2.0));
  CHECK(visible_objects<2>(gt, {1, 2}, Shape<2>(2, 3)) == doctest::Approx(4.0 / 16.0));
  CHECK(visible_objects<2>(gt, {4, 0}, Shape<2>(2, 10)) == 0.0);

  // In the generator: only when asked (and only with a judged scale); the objects wholly inside
  // the patch count 1 each, so the count lies between them and the objects the patch touches.
  const auto pairs = disc_grid();
  SampleOptions<2> so;
  so.patch = Shape<2>(96, 96);
  so.count_objects = true;
  CHECK_THROWS_AS(SampleGenerator<2>(pairs, so), InvalidArgument);
  so.judged_diameter = [](const ImageView<const float, 2>&, const LabelView<2>& m) { return median_object_diameter(m); };
  so.segmenter_error_probability = 0.5;
  SampleGenerator<2> counting(pairs, so);
  int partial = 0;
  for (std::uint64_t k = 0; k < 20; ++k) {
    const auto s = counting.sample(3, k);
    REQUIRE(s.objects_in_view);
    // Objects of the patch that touch its border may continue outside; the others are whole.
    std::set<Label> touched, at_border;
    const Index h = s.gt.shape()[0], w = s.gt.shape()[1];
    for (Index y = 0; y < h; ++y)
      for (Index x = 0; x < w; ++x)
        if (const Label v = s.gt(y, x)) {
          touched.insert(v);
          if (y == 0 || x == 0 || y == h - 1 || x == w - 1) at_border.insert(v);
        }
    // (Tolerances: resampling the zoomed window to the patch can drop a sliver's last pixels.)
    CHECK(*s.objects_in_view >= static_cast<double>(touched.size() - at_border.size()) - 0.1);
    CHECK(*s.objects_in_view <= static_cast<double>(touched.size()) + 0.25);
    partial += *s.objects_in_view < static_cast<double>(touched.size()) - 1e-6;
  }
  CHECK(partial > 5);
  so.count_objects = false;
  CHECK(!SampleGenerator<2>(pairs, so).sample(3, 0).objects_in_view);
}

TEST_CASE("gamma jitter: real crops take a power curve between their darkest and brightest values") {
  // A ramp (10 + column) under the disc grid's cells: an unzoomed 96-px crop holds the 96
  // consecutive values a .. a + 95 along its rows, which a power g maps to a + 95 (j / 95)^g.
  auto pairs = disc_grid();
  for (Index i = 0; i < pairs[0].first.size(); ++i) pairs[0].first[i] = 10.0f + static_cast<float>(i % 400);
  SampleOptions<2> so;
  so.patch = Shape<2>(96, 96);
  so.gamma_jitter = 2.0;
  std::set<int> powers;  // g in steps of 0.05
  for (std::uint64_t k = 0; k < 20; ++k) {
    CAPTURE(k);
    const auto s = SampleGenerator<2>(pairs, so).sample(6, k);
    std::vector<float> row(s.image.data(), s.image.data() + 96);
    std::sort(row.begin(), row.end());
    const double a = row.front(), r = row.back() - a;
    CHECK(r == doctest::Approx(95.0).epsilon(1e-5));  // the extremes stay
    const double g = std::log((row[48] - a) / r) / std::log(48.0 / 95.0);
    CHECK(g >= 0.5 - 1e-6);
    CHECK(g <= 2.0 + 1e-6);
    for (int j = 1; j < 95; ++j) CHECK(row[static_cast<std::size_t>(j)] == doctest::Approx(a + r * std::pow(j / 95.0, g)).epsilon(1e-4));
    powers.insert(static_cast<int>(std::lround(g / 0.05)));
  }
  CHECK(powers.size() > 5);
  so.gamma_jitter = 0.9;
  CHECK_THROWS_AS(SampleGenerator<2>(pairs, so), InvalidArgument);
}

TEST_CASE("false-positive views: patches of false positives alone have no score target and no GT object") {
  const auto pairs = disc_grid();
  SampleOptions<2> so;
  so.patch = Shape<2>(96, 96);
  so.judged_diameter = [](const ImageView<const float, 2>&, const LabelView<2>& m) { return median_object_diameter(m); };
  so.segmenter_error_probability = 1.0;  // specks and debris among the modes
  so.false_positive_views = 1.0;
  CHECK_THROWS_AS(SampleGenerator<2>(pairs, so), InvalidArgument);  // needs the count output
  so.count_objects = true;
  so.false_positive_views = 1.5;
  CHECK_THROWS_AS(SampleGenerator<2>(pairs, so), InvalidArgument);
  so.false_positive_views = 1.0;
  const SampleGenerator<2> gen(pairs, so);
  int views = 0;
  for (std::uint64_t k = 0; k < 300; ++k) {
    CAPTURE(k);
    const auto s = gen.sample(4, k);
    Index gt_voxels = 0, mask_voxels = 0;
    for (Index i = 0; i < s.gt.size(); ++i) gt_voxels += s.gt[i] != 0, mask_voxels += s.mask[i] != 0;
    REQUIRE(s.objects_in_view);
    if (s.false_positive_view) {
      ++views;
      CHECK(gt_voxels == 0);
      CHECK(mask_voxels > 0);  // something a scorer would judge
      CHECK(*s.objects_in_view == 0.0);
      CHECK(!s.whole_object_seg);
      const auto again = gen.sample(4, k);  // a pure function of (seed, index)
      CHECK(again.false_positive_view);
      CHECK(std::equal(again.mask.begin(), again.mask.end(), s.mask.begin()));
    } else {
      CHECK(gt_voxels > 0);
      CHECK(*s.objects_in_view > 0.0);
    }
  }
  CHECK(views > 5);
  CHECK(views < 250);  // masks without false positives keep their cell-centred patch
  so.false_positive_views = 0.0;
  const SampleGenerator<2> plain(pairs, so);
  for (std::uint64_t k = 0; k < 100; ++k) CHECK(!plain.sample(4, k).false_positive_view);
}

// ---------------------------------------------------------------- segmenter-like errors

namespace {

// A 96 x 160 scene: eight discs of radius 9 in two rows, brightness rising from left to right
// (cell k has intensity 100 + 40 k over a background of 20); in the top row the discs touch in
// pairs. Each bright disc holds a dark nucleolus of radius 3 at its centre.
struct Scene {
  Image<float, 2> image;
  LabelImage<2> gt;
};

Scene make_scene() {
  Scene s{Image<float, 2>(Shape<2>(96, 160), 20.0f), LabelImage<2>(Shape<2>(96, 160), 0)};
  for (int k = 0; k < 8; ++k) {
    const int row = k / 4, col = k % 4;
    const double cy = 28 + 40 * row, cx = row == 0 ? 30 + 18 * col + (col / 2) * 24 : 24 + 36 * col;
    for (Index y = 0; y < 96; ++y)
      for (Index x = 0; x < 160; ++x) {
        const double r2 = (y - cy) * (y - cy) + (x - cx) * (x - cx);
        if (r2 <= 81.0 && s.gt(y, x) == 0) {
          s.gt(y, x) = static_cast<Label>(k + 1);
          s.image(y, x) = static_cast<float>(r2 <= 9.0 ? 40.0 : 100.0 + 40.0 * k);
        }
      }
  }
  return s;
}

std::set<Label> labels_of(const LabelImage<2>& l) {
  std::set<Label> s(l.begin(), l.end());
  s.erase(0);
  return s;
}

}  // namespace

TEST_CASE("segmenter-like errors: every mode is seeded, keeps the shape, and is scored exactly") {
  const Scene sc = make_scene();
  for (int m = 0; m < segmenter_error_count; ++m) {
    const auto mode = static_cast<SegmenterError>(m);
    INFO(segmenter_error_name(mode));
    const auto a = segmenter_error<2>(sc.image.cview(), sc.gt.cview(), mode, 0.7, 42);
    const auto b = segmenter_error<2>(sc.image.cview(), sc.gt.cview(), mode, 0.7, 42);
    CHECK(a.shape() == sc.gt.shape());
    CHECK(std::equal(a.begin(), a.end(), b.begin()));
    CHECK(seg_score(sc.gt.cview(), a.cview()) == doctest::Approx(brute_seg(sc.gt, a)));
  }
}

TEST_CASE("segmenter-like errors do what their names say") {
  const Scene sc = make_scene();
  const auto run = [&](SegmenterError m, double strength, std::uint64_t seed = 7) {
    return segmenter_error<2>(sc.image.cview(), sc.gt.cview(), m, strength, seed);
  };
  SUBCASE("specks: more objects, SEG still exactly 1") {
    const auto l = run(SegmenterError::specks, 1.0);
    CHECK(labels_of(l).size() > 8 + 100);
    CHECK(brute_seg(sc.gt, l) == 1.0);
  }
  SUBCASE("missed dim cells: the dropped cells are the dimmest") {
    const auto l = run(SegmenterError::missed_dim, 1.0);
    const auto kept = labels_of(l);
    CHECK(kept.size() < 8);
    CHECK(kept.size() >= 1);
    // Cell k has brightness rising with k; with noise of 0.05 on a normalised scale the order
    // of cells about 0.11 apart is kept (the draw is seeded): the kept cells are the brightest ones.
    CHECK(*kept.begin() == static_cast<Label>(8 - kept.size() + 1));
  }
  SUBCASE("fragments: the foreground is unchanged, objects multiply") {
    const auto l = run(SegmenterError::fragments, 1.0);
    for (Index i = 0; i < l.size(); ++i) REQUIRE((l[i] != 0) == (sc.gt[i] != 0));
    CHECK(labels_of(l).size() > 8);
    CHECK(brute_seg(sc.gt, l) < 0.9);
  }
  SUBCASE("merged touching cells: the touching pairs share a label, the others keep theirs") {
    const auto l = run(SegmenterError::merged_touching, 1.0);
    CHECK(labels_of(l).size() == 6);  // pairs (1,2) and (3,4) merged, 5..8 apart
  }
  SUBCASE("holes: the dark nucleoli go, nothing is added") {
    const auto l = run(SegmenterError::holes, 1.0);
    Index removed = 0;
    for (Index i = 0; i < l.size(); ++i) {
      REQUIRE((l[i] == 0 || l[i] == sc.gt[i]));
      removed += sc.gt[i] && !l[i];
    }
    CHECK(removed > 8 * 9);
    CHECK(l(28, 30) == 0);  // the centre of cell 1
  }
  SUBCASE("a global threshold finds the bright cells of a clean image") {
    const auto l = run(SegmenterError::global_threshold, 0.0);
    CHECK(brute_seg(sc.gt, l) > 0.4);
  }
  SUBCASE("iso-level outlines stay inside each cell's neighbourhood") {
    const auto l = run(SegmenterError::isolevel, 0.5);
    for (Index i = 0; i < l.size(); ++i)
      if (l[i] && sc.gt[i]) REQUIRE(l[i] == sc.gt[i]);
    CHECK(brute_seg(sc.gt, l) > 0.3);
  }
}
