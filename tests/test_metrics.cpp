// Tests of metrics: CTC matching and SEG, exact distance transforms, boundary metrics (HD, MHD,
// MHD95, ASD, neMHD), frame/sequence aggregation and regression statistics. Values are checked
// against hand computations, brute force (all pairs), the Python oracle
// ../shared/tools/metrics_oracle.py, and the published SEG values of ../shared/data.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <iterator>
#include <sstream>

#include <nlohmann/json.hpp>

#include "qanet/metrics.hpp"
#include "qanet/core/random.hpp"
#include "npy.hpp"
#include "support.hpp"
#if __has_include("qanet/io/tiff.hpp")
#include "qanet/io/tiff.hpp"
#define QANET_TEST_HAVE_TIFF 1
#endif

using namespace qanet;
using qanet::testing::TempDir;
using Json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

// ------------------------------------------------------------------ .npy files (npy.hpp)
template <typename T, int Dim>
void write_npy(const fs::path& path, const std::vector<T>& data, const Shape<Dim>& shape) {
  REQUIRE_NOTHROW(qanet::testing::write_npy<T, Dim>(path.string(), data, shape));
}

// Reads the int32 arrays our Python helper writes.
template <int Dim>
std::vector<std::int32_t> read_npy_i4(const fs::path& path, Shape<Dim>& shape) {
  std::vector<Index> ext;
  std::vector<std::int32_t> data;
  REQUIRE_NOTHROW(data = qanet::testing::read_npy_i4(path.string(), ext));
  REQUIRE(ext.size() == static_cast<std::size_t>(Dim));
  for (int a = 0; a < Dim; ++a) shape[a] = ext[static_cast<std::size_t>(a)];
  return data;
}

// ------------------------------------------------------------------ the Python oracle
std::string oracle_command() {
  const std::string py = qanet::testing::python_with_scipy();
  const fs::path oracle = fs::path(QANET_TOOLS_DIR) / "metrics_oracle.py";
  std::error_code ec;
  if (py.empty() || !fs::exists(oracle, ec)) return {};
  return py + " " + oracle.string();
}

#define QANET_REQUIRE_ORACLE(cmd)                                                             \
  do {                                                                                        \
    if ((cmd).empty()) {                                                                      \
      MESSAGE("skipped: metrics_oracle.py (QANET_TOOLS_DIR) or python3 with numpy/scipy absent"); \
      return;                                                                                 \
    }                                                                                         \
  } while (0)

Json run_oracle(const std::string& cmd, const std::vector<std::pair<fs::path, fs::path>>& pairs,
                const std::string& spacing = "") {
  std::string c = cmd;
  for (const auto& [g, p] : pairs) c += " '" + g.string() + "' '" + p.string() + "'";
  c += " --per-object";
  if (!spacing.empty()) c += " --spacing " + spacing;
  int status = 0;
  const std::string out = qanet::testing::run_command(c + " 2>&1", &status);
  REQUIRE_MESSAGE(status == 0, c << "\n" << out);
  return Json::parse(out);
}

// TIFF -> int32 .npy through the oracle's own reader (independent of qanet's TIFF code).
void tiffs_to_npy(const std::vector<std::pair<fs::path, fs::path>>& src_dst) {
  const std::string py = qanet::testing::python_with_scipy();
  std::string c = py + " -c \"import sys; sys.path.insert(0, '" + std::string(QANET_TOOLS_DIR) +
                  "'); import metrics_oracle as m, numpy as np\n"
                  "a = sys.argv[1:]\n"
                  "for s, d in zip(a[0::2], a[1::2]): np.save(d, m.load_label_image(s).astype(np.int32))\"";
  for (const auto& [s, d] : src_dst) c += " '" + s.string() + "' '" + d.string() + "'";
  int status = 0;
  const std::string out = qanet::testing::run_command(c + " 2>&1", &status);
  REQUIRE_MESSAGE(status == 0, out);
}

void check_close(const Json& v, const std::optional<double>& x, const std::string& what) {
  if (v.is_null()) {
    CHECK_MESSAGE(!x.has_value(), what << ": oracle null, qanet " << x.value_or(0));
  } else {
    REQUIRE_MESSAGE(x.has_value(), what << ": qanet undefined, oracle " << v);
    CHECK_MESSAGE(std::abs(v.get<double>() - *x) <= 1e-6, what << ": oracle " << v << " qanet " << *x);
  }
}

void check_summary(const Json& j, const MetricSummary& s, const std::string& what) {
  CHECK(j["n_gt"].get<Index>() == s.gt_objects);
  CHECK(j["n_pred"].get<Index>() == s.pred_objects);
  CHECK(j["n_matched"].get<Index>() == s.matched);
  check_close(j["SEG"], s.seg, what + " SEG");
  check_close(j["HD"], s.hd, what + " HD");
  check_close(j["MHD"], s.mhd, what + " MHD");
  check_close(j["MHD95"], s.mhd95, what + " MHD95");
  check_close(j["ASD"], s.asd, what + " ASD");
  check_close(j["neMHD"], s.nemhd, what + " neMHD");
}

// Every per-object value and every aggregate of `frames` against one oracle run over them.
void compare_with_oracle(const Json& j, const std::vector<FrameMetrics>& frames) {
  check_summary(j, pool_frames(frames), "pooled");
  if (frames.size() > 1) {
    REQUIRE(j["per_image"].size() == frames.size());
    for (std::size_t k = 0; k < frames.size(); ++k)
      check_summary(j["per_image"][k], frames[k], "frame " + std::to_string(k));
  }
  std::size_t n = 0;
  for (const FrameMetrics& f : frames) n += f.objects.size();
  REQUIRE(j["objects"].size() == n);
  std::size_t k = 0;
  for (std::size_t fi = 0; fi < frames.size(); ++fi) {
    for (const ObjectRecord& r : frames[fi].objects) {
      const Json& o = j["objects"][k++];
      const std::string what = "frame " + std::to_string(fi) + " object " + std::to_string(r.gt_label);
      REQUIRE(o["image"].get<std::size_t>() == fi);
      REQUIRE(o["gt_label"].get<Label>() == r.gt_label);
      CHECK(o["gt_size"].get<Index>() == r.gt_size);
      CHECK(o["pred_label"].is_null() == !r.matched());
      CHECK(o["intersection"].get<Index>() == r.intersection);
      CHECK(o["union"].get<Index>() == r.union_size);
      CHECK(o["pred_size"].get<Index>() == r.pred_size);
      check_close(o["jaccard"], r.jaccard, what + " jaccard");
      if (!r.matched()) {
        CHECK(!r.boundary.has_value());
        continue;
      }
      CHECK(o["pred_label"].get<Label>() == r.pred_label);
      REQUIRE(r.boundary.has_value());
      const BoundaryMetrics& b = *r.boundary;
      check_close(o["HD"], b.hd, what + " HD");
      check_close(o["MHD"], b.mhd, what + " MHD");
      check_close(o["MHD95"], b.mhd95, what + " MHD95");
      check_close(o["ASD"], b.asd, what + " ASD");
      check_close(o["neMHD"], b.nemhd, what + " neMHD");
      check_close(o["HD95_pooled"], b.hd95_pooled, what + " HD95_pooled");
      check_close(o["ASSD_mean_of_means"], b.assd_mean_of_means, what + " ASSD");
      check_close(o["mean_d_gt_to_pred"], b.mean_gt_to_pred, what + " mean d_gp");
      check_close(o["mean_d_pred_to_gt"], b.mean_pred_to_gt, what + " mean d_pg");
      CHECK(o["n_boundary_gt"].get<Index>() == b.n_boundary_gt);
      CHECK(o["n_boundary_pred"].get<Index>() == b.n_boundary_pred);
    }
  }
}

// ------------------------------------------------------------------ synthetic label images
// Random ellipses/ellipsoids painted over each other (so cells touch and get odd shapes),
// labels spread out (not consecutive).
template <int Dim>
std::vector<std::int32_t> random_blobs(const Shape<Dim>& s, int n, double rmin, double rmax, Rng& rng) {
  std::vector<std::int32_t> out(static_cast<std::size_t>(s.size()), 0);
  for (int k = 1; k <= n; ++k) {
    std::array<double, Dim> c, r;
    for (int a = 0; a < Dim; ++a) {
      c[a] = rng.uniform(0.0, static_cast<double>(s[a]));
      r[a] = rng.uniform(rmin, rmax) * (Dim == 3 && a == 0 ? 0.5 : 1.0);
    }
    for (Index i = 0; i < s.size(); ++i) {
      const auto p = s.coords(i);
      double q = 0.0;
      for (int a = 0; a < Dim; ++a) q += std::pow((static_cast<double>(p[a]) - c[a]) / r[a], 2);
      if (q <= 1.0) out[static_cast<std::size_t>(i)] = 3 * k + 11;
    }
  }
  return out;
}

// A plausible faulty segmentation: shifted, boundaries jittered, one object dropped, two
// merged, a spurious blob, labels permuted.
template <int Dim>
std::vector<std::int32_t> perturbed(const std::vector<std::int32_t>& gt, const Shape<Dim>& s, Rng& rng) {
  std::array<Index, Dim> shift;
  for (int a = 0; a < Dim; ++a) shift[a] = rng.uniform_int(-1, 1);
  std::vector<std::int32_t> out(gt.size(), 0);
  for (Index i = 0; i < s.size(); ++i) {
    auto p = s.coords(i);
    for (int a = 0; a < Dim; ++a) p[a] -= shift[a];
    if (s.contains(p)) out[static_cast<std::size_t>(i)] = gt[static_cast<std::size_t>(s.offset(p))];
  }
  std::vector<std::int32_t> jit(out);
  for (Index i = 0; i < s.size(); ++i) {
    if (!rng.bernoulli(0.15)) continue;
    auto p = s.coords(i);
    const int a = static_cast<int>(rng.uniform_int(0, Dim - 1));
    p[a] += rng.bernoulli(0.5) ? 1 : -1;
    if (s.contains(p)) jit[static_cast<std::size_t>(i)] = out[static_cast<std::size_t>(s.offset(p))];
  }
  std::vector<std::int32_t> labels;
  for (auto v : jit)
    if (v) labels.push_back(v);
  std::sort(labels.begin(), labels.end());
  labels.erase(std::unique(labels.begin(), labels.end()), labels.end());
  std::map<std::int32_t, std::int32_t> remap;
  for (std::size_t k = 0; k < labels.size(); ++k)
    remap[labels[k]] = static_cast<std::int32_t>(1000 + ((k * 7919) % 997));  // a permutation
  if (labels.size() >= 3) {
    remap[labels[0]] = 0;                     // missed cell
    remap[labels[2]] = remap[labels[1]];      // merge
  }
  for (auto& v : jit) v = v ? remap[v] : 0;
  // A spurious object.
  Index c = rng.uniform_int(0, s.size() - 1);
  for (Index i = c; i < std::min(s.size(), c + 5); ++i) jit[static_cast<std::size_t>(i)] = 4242;
  return jit;
}

// ------------------------------------------------------------------ brute force
template <int Dim>
std::vector<std::array<Index, Dim>> brute_boundary(const std::vector<std::int32_t>& lab, const Shape<Dim>& s,
                                                   std::int32_t label) {
  std::vector<std::array<Index, Dim>> out;
  for (Index i = 0; i < s.size(); ++i) {
    if (lab[static_cast<std::size_t>(i)] != label) continue;
    const auto p = s.coords(i);
    bool edge = false;
    for (int a = 0; a < Dim; ++a)
      for (int d : {-1, 1}) {
        auto q = p;
        q[a] += d;
        if (!s.contains(q) || lab[static_cast<std::size_t>(s.offset(q))] != label) edge = true;
      }
    if (edge) out.push_back(p);
  }
  return out;
}

template <int Dim>
std::vector<double> brute_directed(const std::vector<std::array<Index, Dim>>& from,
                                   const std::vector<std::array<Index, Dim>>& to, const Spacing<Dim>& sp) {
  std::vector<double> d;
  for (const auto& a : from) {
    double best = std::numeric_limits<double>::infinity();
    for (const auto& b : to) {
      double q = 0.0;
      for (int k = 0; k < Dim; ++k) q += std::pow(sp[k] * static_cast<double>(a[k] - b[k]), 2);
      best = std::min(best, q);
    }
    d.push_back(std::sqrt(best));
  }
  return d;
}

double sorted_percentile(std::vector<double> x, double q) {
  std::sort(x.begin(), x.end());
  const double pos = q / 100.0 * static_cast<double>(x.size() - 1);
  const std::size_t lo = static_cast<std::size_t>(pos);
  const std::size_t hi = std::min(lo + 1, x.size() - 1);
  return x[lo] + (pos - static_cast<double>(lo)) * (x[hi] - x[lo]);
}

double mean_of(const std::vector<double>& x) {
  double s = 0;
  for (double v : x) s += v;
  return s / static_cast<double>(x.size());
}

// Matching by brute force (intersection of every GT object with every predicted object),
// then all-pairs boundary distances; every value of evaluate_frame must agree to 1e-9.
template <int Dim>
void check_against_brute_force(const std::vector<std::int32_t>& gt, const std::vector<std::int32_t>& pred,
                               const Shape<Dim>& s, const Spacing<Dim>& sp) {
  MetricOptions opt;
  opt.spacing.assign(sp.begin(), sp.end());
  const FrameMetrics f = evaluate_frame(make_view(gt.data(), s), make_view(pred.data(), s), opt);
  std::vector<std::int32_t> gl, pl;
  for (auto v : gt)
    if (v) gl.push_back(v);
  for (auto v : pred)
    if (v) pl.push_back(v);
  for (auto* v : {&gl, &pl}) {
    std::sort(v->begin(), v->end());
    v->erase(std::unique(v->begin(), v->end()), v->end());
  }
  REQUIRE(f.objects.size() == gl.size());
  CHECK(f.pred_objects == static_cast<Index>(pl.size()));
  double jac = 0.0, hd = 0.0;
  Index matched = 0;
  for (std::size_t k = 0; k < gl.size(); ++k) {
    const ObjectRecord& r = f.objects[k];
    REQUIRE(r.gt_label == static_cast<Label>(gl[k]));
    Index size = 0;
    for (auto v : gt) size += v == gl[k];
    CHECK(r.gt_size == size);
    std::int32_t partner = 0;
    Index inter = 0, psize = 0;
    for (auto p : pl) {
      Index n = 0, ps = 0;
      for (std::size_t i = 0; i < gt.size(); ++i) {
        n += gt[i] == gl[k] && pred[i] == p;
        ps += pred[i] == p;
      }
      if (2 * n > size) partner = p, inter = n, psize = ps;
    }
    CHECK(r.pred_label == static_cast<Label>(partner));
    if (!partner) {
      CHECK(r.jaccard == 0.0);
      continue;
    }
    ++matched;
    const double j = static_cast<double>(inter) / static_cast<double>(size + psize - inter);
    CHECK(r.jaccard == doctest::Approx(j).epsilon(1e-12));
    jac += j;
    const auto bg = brute_boundary<Dim>(gt, s, gl[k]);
    const auto bp = brute_boundary<Dim>(pred, s, partner);
    const auto dgp = brute_directed<Dim>(bg, bp, sp);
    const auto dpg = brute_directed<Dim>(bp, bg, sp);
    REQUIRE(r.boundary.has_value());
    const BoundaryMetrics& b = *r.boundary;
    CHECK(b.n_boundary_gt == static_cast<Index>(bg.size()));
    CHECK(b.n_boundary_pred == static_cast<Index>(bp.size()));
    const double e_hd = std::max(*std::max_element(dgp.begin(), dgp.end()), *std::max_element(dpg.begin(), dpg.end()));
    const double e_mhd = std::max(mean_of(dgp), mean_of(dpg));
    const double e_p95 = std::max(sorted_percentile(dgp, 95), sorted_percentile(dpg, 95));
    const double e_asd = (mean_of(dgp) * dgp.size() + mean_of(dpg) * dpg.size()) / (dgp.size() + dpg.size());
    CHECK(std::abs(b.hd - e_hd) < 1e-9);
    CHECK(std::abs(b.mhd - e_mhd) < 1e-9);
    CHECK(std::abs(b.mhd95 - e_p95) < 1e-9);
    CHECK(std::abs(b.asd - e_asd) < 1e-9);
    CHECK(std::abs(b.nemhd - std::exp(-e_mhd / 10.0)) < 1e-9);
    hd += e_hd;
  }
  CHECK(f.matched == matched);
  if (!gl.empty()) CHECK(std::abs(*f.seg - jac / static_cast<double>(gl.size())) < 1e-12);
  if (matched) CHECK(std::abs(*f.hd - hd / static_cast<double>(matched)) < 1e-9);
}

template <typename T>
std::vector<T> grid(std::initializer_list<const char*> rows, std::map<char, T> legend = {}) {
  std::vector<T> v;
  for (const char* r : rows)
    for (const char* c = r; *c; ++c) v.push_back(*c == '.' ? T(0) : legend.count(*c) ? legend[*c] : T(*c - '0'));
  return v;
}

}  // namespace

// ====================================================================== hand-computed cases
TEST_CASE("identical masks: SEG 1 and every distance 0") {
  Rng rng(5);
  const Shape<2> s(40, 50);
  const auto gt = random_blobs<2>(s, 8, 3, 9, rng);
  std::vector<std::uint16_t> pred(gt.begin(), gt.end());
  const FrameMetrics f = evaluate_frame(make_view(gt.data(), s), make_view(pred.data(), s));
  CHECK(*f.seg == 1.0);
  CHECK(f.matched == f.gt_objects);
  CHECK(f.unmatched_gt == 0);
  CHECK(f.unmatched_pred == 0);
  CHECK(*f.hd == 0.0);
  CHECK(*f.mhd == 0.0);
  CHECK(*f.mhd95 == 0.0);
  CHECK(*f.asd == 0.0);
  CHECK(*f.nemhd == 1.0);
}

TEST_CASE("an 8x8 square shifted by one pixel") {
  // GT columns 2..9, prediction columns 3..10, rows 2..9: |R ∩ S| = 8*7 = 56, |R ∪ S| = 72.
  // GT boundary (28 pixels): column 2 (8 px) is 1 from the prediction's left column 3; column 9
  // has 2 corner pixels on the prediction's top/bottom rows (0) and 6 pixels 1 away from its
  // right column 10; the 12 remaining top/bottom pixels lie on the prediction's rows (0).
  // So d_gp = 14 ones + 14 zeros, and d_pg the same by symmetry: HD = 1, MHD = 0.5,
  // MHD95: pos = 0.95*27 = 25.65 -> sorted[25] = sorted[26] = 1 -> 1; ASD = 28/56 = 0.5.
  std::vector<std::uint16_t> gt(16 * 16, 0);
  std::vector<std::int32_t> pred(16 * 16, 0);
  for (int y = 2; y < 10; ++y)
    for (int x = 2; x < 10; ++x) gt[y * 16 + x] = 1, pred[y * 16 + x + 1] = 7;
  const Shape<2> shape(16, 16);
  CHECK(seg_score(make_view(gt.data(), shape), make_view(pred.data(), shape)) == doctest::Approx(56.0 / 72.0).epsilon(1e-15));
  const FrameMetrics f = evaluate_frame(make_view(gt.data(), shape), make_view(pred.data(), shape));
  REQUIRE(f.objects.size() == 1);
  const ObjectRecord& r = f.objects[0];
  CHECK(r.pred_label == 7);
  CHECK(r.intersection == 56);
  CHECK(r.union_size == 72);
  CHECK(r.boundary->n_boundary_gt == 28);
  CHECK(r.boundary->hd == 1.0);
  CHECK(r.boundary->mhd == 0.5);
  CHECK(r.boundary->mhd95 == 1.0);
  CHECK(r.boundary->asd == 0.5);
  CHECK(*f.nemhd == doctest::Approx(std::exp(-0.05)).epsilon(1e-15));
}

TEST_CASE("a split: the larger piece matches, the smaller is a false positive") {
  // GT: a 4x8 rectangle (rows 1..4, columns 1..8). Prediction: columns 1..3 -> label 1 (12 px),
  // columns 4..8 -> label 2 (20 px > 16 = half of 32): J = 20/32.
  // GT boundary, 20 px: top and bottom rows have 5 px over the prediction's top/bottom rows (0)
  // and columns 3, 2, 1 at 1, 2, 3; the left column's 2 inner pixels are 3 from column 4; the
  // right column's 2 inner pixels are 0. Sum = 2*(1+2+3) + 2*3 = 18, mean 0.9, max 3,
  // P95: pos 18.05 in [12 zeros, 2 ones, 2 twos, 4 threes] -> 3.
  // Prediction boundary, 14 px: all on the GT boundary except its left column's 2 inner pixels,
  // 1 from the GT's top/bottom rows. Sum 2, mean 1/7, P95: pos 12.35 -> 1.
  // HD 3, MHD 0.9, MHD95 3, ASD (18 + 2)/(20 + 14) = 10/17.
  const auto gt = grid<std::int32_t>({"..........",
                                      ".11111111.",
                                      ".11111111.",
                                      ".11111111.",
                                      ".11111111.",
                                      ".........."});
  const auto pred = grid<std::int32_t>({"..........",
                                        ".11122222.",
                                        ".11122222.",
                                        ".11122222.",
                                        ".11122222.",
                                        ".........."});
  const Shape<2> s(6, 10);
  const FrameMetrics f = evaluate_frame(make_view(gt.data(), s), make_view(pred.data(), s));
  CHECK(f.gt_objects == 1);
  CHECK(f.pred_objects == 2);
  CHECK(f.matched == 1);
  CHECK(f.unmatched_pred == 1);
  CHECK(*f.seg == 0.625);
  const BoundaryMetrics& b = *f.objects[0].boundary;
  CHECK(b.hd == 3.0);
  CHECK(b.mhd == doctest::Approx(0.9).epsilon(1e-15));
  CHECK(b.mean_pred_to_gt == doctest::Approx(1.0 / 7.0).epsilon(1e-15));
  CHECK(b.mhd95 == 3.0);
  CHECK(b.asd == doctest::Approx(10.0 / 17.0).epsilon(1e-15));
  CHECK(b.nemhd == doctest::Approx(std::exp(-0.09)).epsilon(1e-15));
  check_against_brute_force<2>(gt, pred, s, {1.0, 1.0});
}

TEST_CASE("a merge: one prediction covering two GT cells matches both") {
  // GT: two 3x3 squares (columns 1..3 and 5..7); prediction: the 3x7 rectangle over both.
  // Each GT cell: 9 px inside a 21 px prediction -> matched, J = 9/21 = 3/7; SEG = 3/7.
  // GT1 boundary (8 px ring): 7 on the prediction's boundary, (2,3) 1 away: mean 1/8,
  // P95 pos 6.65 -> 0.65. Prediction boundary (16 px): rows 1 and 3 at columns 1..7 are
  // 0,0,0,1,2,3,4; (2,1) is 0 and (2,7) 4: sum 24, mean 1.5, max 4, P95 pos 14.25 -> 4.
  // HD 4, MHD 1.5, MHD95 max(0.65, 4) = 4, ASD (1 + 24)/(8 + 16) = 25/24 (GT2 the same).
  const auto gt = grid<std::int32_t>({".........", ".111.222.", ".111.222.", ".111.222.", "........."});
  const auto pred = grid<std::int32_t>({".........", ".5555555.", ".5555555.", ".5555555.", "........."});
  const Shape<2> s(5, 9);
  const FrameMetrics f = evaluate_frame(make_view(gt.data(), s), make_view(pred.data(), s));
  CHECK(f.matched == 2);
  CHECK(f.unmatched_pred == 0);
  CHECK(*f.seg == doctest::Approx(3.0 / 7.0).epsilon(1e-15));
  for (const ObjectRecord& r : f.objects) {
    CHECK(r.pred_label == 5);
    CHECK(r.boundary->hd == 4.0);
    CHECK(r.boundary->mhd == 1.5);
    CHECK(r.boundary->mean_gt_to_pred == 0.125);
    CHECK(r.boundary->mhd95 == 4.0);
    CHECK(r.boundary->asd == doctest::Approx(25.0 / 24.0).epsilon(1e-15));
  }
  CHECK(*f.hd == 4.0);
  CHECK(*f.asd == doctest::Approx(25.0 / 24.0).epsilon(1e-15));
  check_against_brute_force<2>(gt, pred, s, {1.0, 1.0});
}

TEST_CASE("an empty prediction: SEG 0, distances undefined, neMHD 0") {
  const auto gt = grid<std::int32_t>({".....", ".11..", ".11.2", "....2"});
  std::vector<std::uint8_t> pred(gt.size(), 0);
  const Shape<2> s(4, 5);
  const FrameMetrics f = evaluate_frame(make_view(gt.data(), s), make_view(pred.data(), s));
  CHECK(f.gt_objects == 2);
  CHECK(f.unmatched_gt == 2);
  CHECK(*f.seg == 0.0);
  CHECK(!f.hd.has_value());
  CHECK(!f.mhd.has_value());
  CHECK(!f.mhd95.has_value());
  CHECK(!f.asd.has_value());
  CHECK(*f.nemhd == 0.0);
  CHECK(seg_score(make_view(gt.data(), s), make_view(pred.data(), s)) == 0.0);
}

TEST_CASE("no ground-truth object: SEG is undefined and said so") {
  std::vector<std::uint16_t> gt(20, 0), pred(20, 0);
  pred[3] = 4;
  const Shape<2> s(4, 5);
  const FrameMetrics f = evaluate_frame(make_view(gt.data(), s), make_view(pred.data(), s));
  CHECK(!f.seg.has_value());
  CHECK(!f.nemhd.has_value());
  CHECK(f.unmatched_pred == 1);
  try {
    seg_score(make_view(gt.data(), s), make_view(pred.data(), s));
    FAIL("no exception");
  } catch (const UndefinedValue& e) {
    CHECK(std::string(e.what()).find("no ground-truth object") != std::string::npos);
  }
  CHECK(!pool_frames({f}).seg.has_value());
}

TEST_CASE("touching cells are separate objects; their neighbours do not matter") {
  // Two touching 3x3 cells; the prediction has the same cells under other labels: every
  // distance is 0 although each cell's boundary faces the other cell.
  const auto gt = grid<std::int32_t>({"........", ".111222.", ".111222.", ".111222.", "........"});
  const auto same = grid<std::int32_t>({"........", ".999777.", ".999777.", ".999777.", "........"});
  const Shape<2> s(5, 8);
  FrameMetrics f = evaluate_frame(make_view(gt.data(), s), make_view(same.data(), s));
  CHECK(*f.seg == 1.0);
  CHECK(*f.hd == 0.0);
  CHECK(f.objects[0].boundary->n_boundary_gt == 8);  // the ring of the 3x3 square
  // One prediction over both: each cell covers exactly half of it, J = 9/18 (9 > 4.5: matched).
  // Boundary distances of cell 1: GT ring -> the 3x6 rectangle: only (2,3) is off its
  // boundary, at 1; rectangle boundary -> cell 1: columns 4,5,6 at 1,2,3 on two rows and
  // (2,6) at 3: sum 15 over 14 px.
  const auto merged = grid<std::int32_t>({"........", ".333333.", ".333333.", ".333333.", "........"});
  f = evaluate_frame(make_view(gt.data(), s), make_view(merged.data(), s));
  CHECK(*f.seg == 0.5);
  CHECK(f.objects[0].boundary->mean_pred_to_gt == doctest::Approx(15.0 / 14.0).epsilon(1e-15));
  CHECK(f.objects[0].boundary->hd == 3.0);
  check_against_brute_force<2>(gt, merged, s, {1.0, 1.0});
}

TEST_CASE("the match is strict: exactly half of the GT object is not a match") {
  const auto gt = grid<std::int32_t>({"1111", "1111"});
  const auto pred = grid<std::int32_t>({"22..", "22.."});
  const Shape<2> s(2, 4);
  const FrameMetrics f = evaluate_frame(make_view(gt.data(), s), make_view(pred.data(), s));
  CHECK(f.matched == 0);
  CHECK(*f.seg == 0.0);
  CHECK(!f.hd.has_value());
}

TEST_CASE("anisotropic 3D: a 3x3x3 cube shifted by one plane along z, spacing (2, 1, 1)") {
  // GT z 1..3, prediction z 2..4 (y, x 1..3): |R ∩ S| = 18 > 13.5, J = 18/36 = 0.5.
  // GT boundary: 26 voxels (all but the centre). Its bottom face z=1 (9) is 2 (one z step) from
  // the prediction's bottom face; its ring at z=2 (8) lies on that face (0); at z=3 the ring (8)
  // lies on the prediction's middle ring (0) and the face centre is 1 from it in-plane.
  // d_gp: 9 x 2, 16 x 0, 1 x 1: mean 19/26, max 2, P95 pos 23.75 -> 2; d_pg the same by
  // symmetry. HD 2 (1 with unit spacing), MHD 19/26, MHD95 2, ASD 19/26.
  const Shape<3> s(6, 5, 5);
  std::vector<std::uint16_t> gt(static_cast<std::size_t>(s.size()), 0), pred(gt.size(), 0);
  for (int z = 1; z <= 3; ++z)
    for (int y = 1; y <= 3; ++y)
      for (int x = 1; x <= 3; ++x) gt[s.offset({z, y, x})] = 3, pred[s.offset({z + 1, y, x})] = 8;
  const Spacing<3> sp{2.0, 1.0, 1.0};
  const FrameMetrics f = evaluate_frame(ImageView<const std::uint16_t, 3>(gt.data(), s, sp), make_view(pred.data(), s));
  CHECK(*f.seg == 0.5);
  CHECK(f.spacing == std::vector<double>{2.0, 1.0, 1.0});
  const BoundaryMetrics& b = *f.objects[0].boundary;
  CHECK(b.n_boundary_gt == 26);
  CHECK(b.hd == 2.0);
  CHECK(b.mhd == doctest::Approx(19.0 / 26.0).epsilon(1e-15));
  CHECK(b.mhd95 == 2.0);
  CHECK(b.asd == doctest::Approx(19.0 / 26.0).epsilon(1e-15));
  // The explicit option wins over the view's spacing.
  MetricOptions iso;
  iso.spacing = {1.0};
  const FrameMetrics g = evaluate_frame(ImageView<const std::uint16_t, 3>(gt.data(), s, sp), make_view(pred.data(), s), iso);
  CHECK(g.objects[0].boundary->hd == 1.0);
  CHECK(g.objects[0].boundary->mhd == doctest::Approx(10.0 / 26.0).epsilon(1e-15));
  std::vector<std::int32_t> gi(gt.begin(), gt.end()), pi(pred.begin(), pred.end());
  check_against_brute_force<3>(gi, pi, s, sp);
}

TEST_CASE("boundary metrics of two plain masks; SEG-only evaluation skips them") {
  const auto a = grid<std::uint8_t>({"........", ".1111...", ".1111...", ".1111...", "........"});
  const auto b = grid<std::uint8_t>({"........", "..1111..", "..1111..", "..1111..", "........"});
  const Shape<2> s(5, 8);
  const BoundaryMetrics m = boundary_metrics(make_view(a.data(), s), make_view(b.data(), s), {1.0, 1.0});
  CHECK(m.hd == 1.0);
  const std::vector<std::uint8_t> none(a.size(), 0);
  CHECK_THROWS_AS(boundary_metrics(make_view(a.data(), s), make_view(none.data(), s), {1.0, 1.0}), InvalidArgument);
  MetricOptions opt;
  opt.boundary = false;
  const FrameMetrics f = evaluate_frame(make_view(a.data(), s), make_view(b.data(), s), opt);
  CHECK(*f.seg == doctest::Approx(9.0 / 15.0).epsilon(1e-15));
  CHECK(!f.hd.has_value());
  CHECK(!f.nemhd.has_value());
  CHECK(!f.objects[0].boundary.has_value());
}

TEST_CASE("bad input: shapes, negative or oversized labels, spacing, planes") {
  std::vector<std::int32_t> a(12, 1), b(12, 1);
  try {
    evaluate_frame(make_view(a.data(), Shape<2>(3, 4)), make_view(b.data(), Shape<2>(4, 3)));
    FAIL("no exception");
  } catch (const InvalidArgument& e) {
    const std::string w = e.what();
    CHECK(w.find("3x4") != std::string::npos);
    CHECK(w.find("4x3") != std::string::npos);
  }
  b[5] = -2;
  try {
    seg_score(make_view(a.data(), Shape<2>(3, 4)), make_view(b.data(), Shape<2>(3, 4)));
    FAIL("no exception");
  } catch (const InvalidArgument& e) {
    CHECK(std::string(e.what()).find("prediction: negative label -2") != std::string::npos);
  }
  std::vector<std::int64_t> big(12, 0);
  big[0] = std::int64_t{1} << 33;
  CHECK_THROWS_AS(match_objects(make_view(big.data(), Shape<2>(3, 4)), make_view(a.data(), Shape<2>(3, 4))),
                  InvalidArgument);
  b[5] = 1;
  MetricOptions opt;
  opt.spacing = {1.0, 2.0, 3.0, 4.0};
  CHECK_THROWS_AS(evaluate_frame(make_view(a.data(), Shape<2>(3, 4)), make_view(b.data(), Shape<2>(3, 4)), opt),
                  InvalidArgument);
  opt.spacing = {1.0, -2.0};
  CHECK_THROWS_AS(evaluate_frame(make_view(a.data(), Shape<2>(3, 4)), make_view(b.data(), Shape<2>(3, 4)), opt),
                  InvalidArgument);
  opt.spacing = {};
  opt.tau = 0.0;
  CHECK_THROWS_AS(evaluate_frame(make_view(a.data(), Shape<2>(3, 4)), make_view(b.data(), Shape<2>(3, 4)), opt),
                  InvalidArgument);
  CHECK_THROWS_AS(z_plane(make_view(a.data(), Shape<3>(1, 3, 4)), 1), InvalidArgument);
}

TEST_CASE("a 2D GT plane against plane z of a 3D prediction, and Image arguments") {
  const Shape<3> s(3, 4, 5);
  Image<std::uint16_t, 3> vol(s, 0, Spacing<3>{3.0, 0.5, 0.5});
  Image<std::uint8_t, 2> plane(Shape<2>(4, 5), 0);
  for (int y = 1; y < 3; ++y)
    for (int x = 1; x < 4; ++x) vol(1, y, x) = 9, plane(y, x) = 2;
  vol(0, 0, 0) = 9;  // other planes do not count
  const FrameMetrics f = evaluate_plane(plane, vol, 1);
  CHECK(*f.seg == 1.0);
  CHECK(f.pred_objects == 1);
  const auto p = z_plane(vol.cview(), 1);
  CHECK(p.spacing() == Spacing<2>{0.5, 0.5});
  CHECK(seg_score(plane, p) == 1.0);
  CHECK(*evaluate_plane(plane.view(), vol.view(), 0).seg == 0.0);
  // A 3D spacing (z, y, x) given for a plane keeps its (y, x) part.
  MetricOptions opt;
  opt.spacing = {5.0, 2.0, 3.0};
  CHECK(evaluate_plane(plane, vol, 1, opt).spacing == std::vector<double>{2.0, 3.0});
  CHECK_THROWS_AS(evaluate_plane(plane, vol, 3), InvalidArgument);
}

TEST_CASE("pooling frames the CTC way: over all objects, not a mean of frame means") {
  // Frame 1: one GT cell, perfect (J = 1). Frame 2: three GT cells, none found (J = 0).
  // Pooled SEG = 1/4 (a mean of frame means would say 1/2).
  const auto g1 = grid<std::int32_t>({"11..", "11.."});
  const auto g2 = grid<std::int32_t>({"12.3", "12.3"});
  const std::vector<std::int32_t> empty(8, 0);
  const Shape<2> s(2, 4);
  std::vector<FrameMetrics> frames{evaluate_frame(make_view(g1.data(), s), make_view(g1.data(), s)),
                                   evaluate_frame(make_view(g2.data(), s), make_view(empty.data(), s))};
  const SequenceMetrics q = pool_frames(frames);
  CHECK(q.frames == 2);
  CHECK(q.gt_objects == 4);
  CHECK(q.matched == 1);
  CHECK(*q.seg == 0.25);
  CHECK(*q.hd == 0.0);
  CHECK(*q.nemhd == 0.25);
}

// ====================================================================== brute force
TEST_CASE("random label images: fast path equals all-pairs brute force to 1e-9 (2D)") {
  for (std::uint64_t seed = 0; seed < 6; ++seed) {
    Rng rng = Rng::derive(11, {seed});
    const Shape<2> s(30 + seed, 41);
    const auto gt = random_blobs<2>(s, 9, 2, 8, rng);
    const auto pred = perturbed<2>(gt, s, rng);
    check_against_brute_force<2>(gt, pred, s, {1.0, 1.0});
    check_against_brute_force<2>(gt, pred, s, {0.7, 1.9});
  }
  // Pure noise: tiny fragmented objects, many ties.
  Rng rng(3);
  const Shape<2> s(17, 13);
  std::vector<std::int32_t> g(static_cast<std::size_t>(s.size())), p(g.size());
  for (auto& v : g) v = static_cast<std::int32_t>(rng.uniform_int(0, 3));
  for (std::size_t i = 0; i < g.size(); ++i) p[i] = rng.bernoulli(0.8) ? g[i] : static_cast<std::int32_t>(rng.uniform_int(0, 3));
  check_against_brute_force<2>(g, p, s, {1.0, 1.3});
}

TEST_CASE("random label images: fast path equals all-pairs brute force to 1e-9 (3D, anisotropic)") {
  for (std::uint64_t seed = 0; seed < 3; ++seed) {
    Rng rng = Rng::derive(12, {seed});
    const Shape<3> s(10, 22, 19);
    const auto gt = random_blobs<3>(s, 7, 3, 7, rng);
    const auto pred = perturbed<3>(gt, s, rng);
    check_against_brute_force<3>(gt, pred, s, {2.0, 1.0, 1.0});
    check_against_brute_force<3>(gt, pred, s, {0.3, 1.1, 0.7});
  }
  // Objects longer than 48 voxels along y take the envelope path on that axis, shorter ones the
  // direct minimum: both must agree with brute force.
  Rng rng(13);
  const Shape<3> s(6, 70, 12);
  auto gt = random_blobs<3>(s, 4, 20, 34, rng);
  for (Index z = 1; z < 5; ++z)  // a long, bent object across most of y
    for (Index y = 6; y < 64; ++y)
      for (Index x = 1 + (y / 9) % 3; x < 8 + (y / 13) % 4; ++x) gt[static_cast<std::size_t>(s.offset({z, y, x}))] = 999;
  const auto pred = perturbed<3>(gt, s, rng);
  std::map<std::int32_t, std::pair<Index, Index>> yrange;
  for (Index i = 0; i < s.size(); ++i) {
    const std::int32_t v = gt[static_cast<std::size_t>(i)];
    if (!v) continue;
    const Index y = s.coords(i)[1];
    auto it = yrange.emplace(v, std::make_pair(y, y)).first;
    it->second.first = std::min(it->second.first, y);
    it->second.second = std::max(it->second.second, y);
  }
  Index longest = 0;
  for (const auto& kv : yrange) longest = std::max(longest, kv.second.second - kv.second.first + 1);
  CHECK(longest > 48);
  check_against_brute_force<3>(gt, pred, s, {1.5, 0.8, 1.0});
}

TEST_CASE("exact EDT equals the brute-force minimum over features (2D, 3D, anisotropic)") {
  Rng rng(21);
  {
    const Shape<2> s(37, 23);
    const Spacing<2> sp{1.7, 0.6};
    std::vector<std::uint8_t> feat(static_cast<std::size_t>(s.size()), 0);
    for (auto& v : feat) v = rng.bernoulli(0.02);
    feat[5] = 1;
    const auto d = squared_distance_transform(make_view(feat.data(), s), sp);
    std::vector<Index> seeds;
    for (Index i = 0; i < s.size(); ++i)
      if (feat[static_cast<std::size_t>(i)]) seeds.push_back(i);
    const auto e = squared_distance_from_seeds(s, seeds, sp);
    for (Index i = 0; i < s.size(); ++i) {
      const auto p = s.coords(i);
      double best = std::numeric_limits<double>::infinity();
      for (Index j : seeds) {
        const auto q = s.coords(j);
        best = std::min(best, std::pow(sp[0] * (p[0] - q[0]), 2) + std::pow(sp[1] * (p[1] - q[1]), 2));
      }
      CHECK(std::abs(d[i] - best) <= 1e-9 * (1 + best));
      CHECK(std::abs(e[i] - d[i]) <= 1e-9 * (1 + d[i]));
    }
  }
  {
    const Shape<3> s(9, 14, 11);
    const Spacing<3> sp{2.5, 1.0, 0.7};
    std::vector<std::uint8_t> feat(static_cast<std::size_t>(s.size()), 0);
    for (auto& v : feat) v = rng.bernoulli(0.01);
    feat[700] = 1;
    const auto d = distance_transform(make_view(feat.data(), s), sp);
    for (Index i = 0; i < s.size(); ++i) {
      const auto p = s.coords(i);
      double best = std::numeric_limits<double>::infinity();
      for (Index j = 0; j < s.size(); ++j) {
        if (!feat[static_cast<std::size_t>(j)]) continue;
        const auto q = s.coords(j);
        double v = 0;
        for (int a = 0; a < 3; ++a) v += std::pow(sp[a] * (p[a] - q[a]), 2);
        best = std::min(best, v);
      }
      CHECK(std::abs(d[i] - std::sqrt(best)) <= 1e-9);
    }
  }
  // No feature: infinite everywhere.
  std::vector<std::uint8_t> none(12, 0);
  const auto d = squared_distance_transform(make_view(none.data(), Shape<2>(3, 4)));
  for (double v : d) CHECK(v == std::numeric_limits<double>::infinity());
  CHECK_THROWS_AS(squared_distance_from_seeds(Shape<2>(3, 4), {12}), InvalidArgument);
}

// ====================================================================== the oracle
TEST_CASE("random label images agree with metrics_oracle.py to 1e-6 (2D and 3D)") {
  const std::string cmd = oracle_command();
  QANET_REQUIRE_ORACLE(cmd);
  TempDir tmp;
  std::vector<std::pair<fs::path, fs::path>> files;
  std::vector<FrameMetrics> frames;
  MetricOptions opt;
  opt.spacing = {0.8, 1.3};
  for (std::uint64_t seed = 0; seed < 4; ++seed) {
    Rng rng = Rng::derive(31, {seed});
    const Shape<2> s(90, 77);
    const auto gt = random_blobs<2>(s, 25, 3, 11, rng);
    const auto pred = perturbed<2>(gt, s, rng);
    // Different label types on each side.
    const std::vector<std::uint16_t> g16(gt.begin(), gt.end());
    files.emplace_back(tmp / ("g" + std::to_string(seed) + ".npy"), tmp / ("p" + std::to_string(seed) + ".npy"));
    write_npy<std::uint16_t, 2>(files.back().first, g16, s);
    write_npy<std::int32_t, 2>(files.back().second, pred, s);
    frames.push_back(evaluate_frame(make_view(g16.data(), s), make_view(pred.data(), s), opt));
  }
  compare_with_oracle(run_oracle(cmd, files, "0.8,1.3"), frames);

  Rng rng(41);
  const Shape<3> s(18, 40, 35);
  const auto gt = random_blobs<3>(s, 18, 4, 10, rng);
  const auto pred = perturbed<3>(gt, s, rng);
  write_npy<std::int32_t, 3>(tmp / "g3.npy", gt, s);
  write_npy<std::int32_t, 3>(tmp / "p3.npy", pred, s);
  opt.spacing = {2.0, 1.0, 0.6};
  compare_with_oracle(run_oracle(cmd, {{tmp / "g3.npy", tmp / "p3.npy"}}, "2,1,0.6"),
                      {evaluate_frame(make_view(gt.data(), s), make_view(pred.data(), s), opt)});
}

TEST_CASE("SIM+ 02: the 13 published SEG values (1e-4) and the oracle (1e-6)") {
  const fs::path root = qanet::testing::data_path("Fluo-N2DH-SIM+/02_GT/SEG");
  QANET_REQUIRE_DATA(root, "Fluo-N2DH-SIM+/02_GT");
  const std::string cmd = oracle_command();
  QANET_REQUIRE_ORACLE(cmd);
  const fs::path sim = root.parent_path().parent_path();
  struct Row {
    const char* frame;
    const char* method;
    double seg;
  };
  const Row rows[] = {{"000", "eval_dir", 0.7668}, {"000", "evaldir2", 0.7971}, {"000", "run1", 0.7272},
                      {"000", "test", 0.7973},     {"001", "eval_dir", 0.7591}, {"001", "evaldir2", 0.7966},
                      {"001", "test", 0.7965},     {"002", "eval_dir", 0.7590}, {"002", "evaldir2", 0.7785},
                      {"003", "eval_dir", 0.7645}, {"003", "evaldir2", 0.7810}, {"004", "eval_dir", 0.7317},
                      {"004", "evaldir2", 0.7709}};
  TempDir tmp;
  std::vector<std::pair<fs::path, fs::path>> tiffs, conv;
  for (std::size_t k = 0; k < 13; ++k) {
    tiffs.emplace_back(root / (std::string("man_seg") + rows[k].frame + ".tif"),
                       sim / (std::string("02_RES_TDG-") + rows[k].method) / (std::string("mask") + rows[k].frame + ".tif"));
    conv.emplace_back(tiffs.back().first, tmp / ("g" + std::to_string(k) + ".npy"));
    conv.emplace_back(tiffs.back().second, tmp / ("p" + std::to_string(k) + ".npy"));
  }
  tiffs_to_npy(conv);
  std::vector<FrameMetrics> frames;
  for (std::size_t k = 0; k < 13; ++k) {
    Shape<2> sg, sp;
    const auto g = read_npy_i4<2>(tmp / ("g" + std::to_string(k) + ".npy"), sg);
    const auto p = read_npy_i4<2>(tmp / ("p" + std::to_string(k) + ".npy"), sp);
    frames.push_back(evaluate_frame(make_view(g.data(), sg), make_view(p.data(), sp)));
#ifdef QANET_TEST_HAVE_TIFF
    // qanet's own TIFF reader (what `qanet metrics` uses) gives the same labels and the same SEG.
    const LabelImage<2> tg = read_labels<2>(tiffs[k].first), tp = read_labels<2>(tiffs[k].second);
    CHECK(tg.shape() == sg);
    CHECK(std::equal(g.begin(), g.end(), tg.begin()));
    CHECK(std::equal(p.begin(), p.end(), tp.begin()));
    CHECK(seg_score(tg, tp) == *frames.back().seg);
#endif
    CHECK_MESSAGE(std::abs(*frames.back().seg - rows[k].seg) < 1e-4 + 1e-12, rows[k].method << " " << rows[k].frame);
    CHECK(std::round(*frames.back().seg * 1e4) / 1e4 == doctest::Approx(rows[k].seg).epsilon(1e-12));
    CHECK(frames.back().gt_objects == 8);
    CHECK(frames.back().pred_objects == 8);
  }
  compare_with_oracle(run_oracle(cmd, tiffs), frames);
}

TEST_CASE("Toy-CTC-java-ctcmetrics: SEG exactly 1.0 pooled over its 6 frames") {
  const fs::path root = qanet::testing::data_path("Toy-CTC-java-ctcmetrics");
  QANET_REQUIRE_DATA(root, "Toy-CTC-java-ctcmetrics");
  QANET_REQUIRE_ORACLE(oracle_command());
  TempDir tmp;
  std::vector<std::pair<fs::path, fs::path>> conv;
  for (int t = 0; t < 6; ++t) {
    const std::string n = "00" + std::to_string(t);
    conv.emplace_back(root / "01_GT/SEG" / ("man_seg" + n + ".tif"), tmp / ("g" + n + ".npy"));
    conv.emplace_back(root / "01_RES" / ("mask" + n + ".tif"), tmp / ("p" + n + ".npy"));
  }
  tiffs_to_npy(conv);
  std::vector<FrameMetrics> frames;
  for (std::size_t k = 0; k < conv.size(); k += 2) {
    Shape<2> sg, sp;
    const auto g = read_npy_i4<2>(conv[k].second, sg);
    const auto p = read_npy_i4<2>(conv[k + 1].second, sp);
    frames.push_back(evaluate_frame(make_view(g.data(), sg), make_view(p.data(), sp)));
  }
  const SequenceMetrics q = pool_frames(frames);
  CHECK(q.gt_objects > 0);
  CHECK(*q.seg == 1.0);
  CHECK(*q.hd == 0.0);
}

TEST_CASE("DSB2018 masks and Synthetic3D (spacing 2,1,1) vs perturbed copies agree with the oracle") {
  const fs::path dsb = qanet::testing::data_path("DSB2018-stardist/masks");
  QANET_REQUIRE_DATA(dsb, "DSB2018-stardist");
  const fs::path vol = qanet::testing::data_path("Synthetic3D-stardist/masks/img3d.tif");
  QANET_REQUIRE_DATA(vol, "Synthetic3D-stardist");
  const std::string cmd = oracle_command();
  QANET_REQUIRE_ORACLE(cmd);
  TempDir tmp;
  tiffs_to_npy({{dsb / "img2d.tif", tmp / "d1.npy"}, {dsb / "tests_img2d.tif", tmp / "d2.npy"}, {vol, tmp / "v.npy"}});
  std::vector<std::pair<fs::path, fs::path>> files;
  std::vector<FrameMetrics> frames;
  for (const char* name : {"d1", "d2"}) {
    Shape<2> s;
    const auto g = read_npy_i4<2>(tmp / (std::string(name) + ".npy"), s);
    Rng rng = Rng::derive(51, {static_cast<std::uint64_t>(name[1])});
    const auto p = perturbed<2>(g, s, rng);
    files.emplace_back(tmp / (std::string(name) + ".npy"), tmp / (std::string(name) + "p.npy"));
    write_npy<std::int32_t, 2>(files.back().second, p, s);
    frames.push_back(evaluate_frame(make_view(g.data(), s), make_view(p.data(), s)));
    CHECK(frames.back().gt_objects > 50);
  }
  compare_with_oracle(run_oracle(cmd, files), frames);

  Shape<3> s;
  const auto g = read_npy_i4<3>(tmp / "v.npy", s);
  Rng rng(52);
  const auto p = perturbed<3>(g, s, rng);
  write_npy<std::int32_t, 3>(tmp / "vp.npy", p, s);
  const Spacing<3> sp{2.0, 1.0, 1.0};
  const FrameMetrics f = evaluate_frame(ImageView<const std::int32_t, 3>(g.data(), s, sp), make_view(p.data(), s));
  CHECK(f.gt_objects > 50);
  compare_with_oracle(run_oracle(cmd, {{tmp / "v.npy", tmp / "vp.npy"}}, "2,1,1"), {f});
}

// ====================================================================== regression statistics
TEST_CASE("regression statistics: hand values") {
  // Pearson of (1,2,3) vs (2,4,7): centred (-1,0,1) and (-7/3,-1/3,8/3): 5 / sqrt(2 * 114/9).
  CHECK(*pearson({1, 2, 3}, {2, 4, 7}) == doctest::Approx(5.0 / std::sqrt(2.0 * 114.0 / 9.0)).epsilon(1e-14));
  // Spearman with a tie: ranks (1, 2.5, 2.5, 4) vs (1, 2, 3, 4) -> 4.5 / sqrt(4.5 * 5).
  CHECK(*spearman({1, 2, 2, 3}, {1, 2, 3, 4}) == doctest::Approx(4.5 / std::sqrt(22.5)).epsilon(1e-14));
  CHECK(average_ranks({3, 1, 3, 3, 0}) == std::vector<double>{4, 2, 4, 4, 1});
  CHECK(!pearson({1, 1, 1}, {1, 2, 3}).has_value());
  // Errors 0.1, -0.5, 1.5: MAE 0.7, RMSE sqrt(2.51/3), bias 1.1/3,
  // hit-rate AUC = mean(1 - min(|e|, 1)) = (0.9 + 0.5 + 0) / 3.
  const std::vector<double> pred{0.6, 0.0, 2.0}, truth{0.5, 0.5, 0.5};
  const RegressionStats r = regression_stats(pred, truth);
  CHECK(r.n == 3);
  CHECK(r.mae == doctest::Approx(0.7).epsilon(1e-14));
  CHECK(r.rmse == doctest::Approx(std::sqrt(2.51 / 3.0)).epsilon(1e-14));
  CHECK(r.bias == doctest::Approx(1.1 / 3.0).epsilon(1e-14));
  CHECK(r.hit_auc == doctest::Approx(1.4 / 3.0).epsilon(1e-14));
  CHECK(hit_rate(pred, truth, 0.5) == doctest::Approx(1.0 / 3.0));  // |e| < t is strict
  CHECK(hit_rate(pred, truth, 0.51) == doctest::Approx(2.0 / 3.0));
  CHECK_THROWS_AS(regression_stats({1, 2}, {1}), InvalidArgument);
  CHECK_THROWS_AS(regression_stats({}, {}), InvalidArgument);
  CHECK_THROWS_AS(regression_stats({std::nan("")}, {1}), InvalidArgument);
}

TEST_CASE("least-squares line: hand values, exact lines, constant predictions refused") {
  // x = 1, 2, 3; y = 1, 2, 2: mean x 2, mean y 5/3, sxy = 1, sxx = 2, so slope 1/2, intercept 2/3.
  const LinearFit f = least_squares_line({1, 2, 3}, {1, 2, 2});
  CHECK(f.slope == doctest::Approx(0.5));
  CHECK(f.intercept == doctest::Approx(2.0 / 3.0));
  CHECK(f(4.0) == doctest::Approx(2.0 / 3.0 + 2.0));
  const LinearFit g = least_squares_line({0, 1, 2, 3}, {1, 3, 5, 7});
  CHECK(g.slope == doctest::Approx(2.0));
  CHECK(g.intercept == doctest::Approx(1.0));
  CHECK_THROWS_AS(least_squares_line({0.5, 0.5}, {0.1, 0.9}), InvalidArgument);
  CHECK_THROWS_AS(least_squares_line({0.5}, {0.1, 0.9}), InvalidArgument);
}

TEST_CASE("hit-rate AUC: the exact area equals trapezoids on a fine grid") {
  Rng rng(61);
  std::vector<double> p(500), t(500);
  for (std::size_t i = 0; i < p.size(); ++i) {
    t[i] = rng.uniform();
    p[i] = t[i] + rng.normal(0.0, 0.3);
  }
  const double exact = hit_rate_auc(p, t);
  for (Index points : {101, 1001, 100001}) {
    // The trapezoid rule misses at most half a step per sample's jump.
    const double grid = hit_rate_auc_trapezoid(p, t, points);
    CHECK(std::abs(grid - exact) <= 0.5 / static_cast<double>(points - 1) + 1e-12);
    // And the grid version is the plain definition: h(t_k) evaluated sample by sample.
    if (points == 101) {
      double area = 0.0;
      for (Index k = 1; k < points; ++k)
        area += 0.5 * (hit_rate(p, t, (k - 1) / 100.0) + hit_rate(p, t, k / 100.0)) / 100.0;
      CHECK(grid == doctest::Approx(area).epsilon(1e-12));
    }
  }
}

TEST_CASE("regression statistics agree with numpy / scipy.stats") {
  const std::string py = qanet::testing::python_with_scipy();
  if (py.empty()) {
    MESSAGE("skipped: python3 with numpy/scipy absent");
    return;
  }
  Rng rng(71);
  std::vector<double> p(200), t(200);
  for (std::size_t i = 0; i < p.size(); ++i) {
    t[i] = std::round(rng.uniform() * 20.0) / 20.0;  // ties on both sides
    p[i] = std::round((t[i] + rng.normal(0.0, 0.2)) * 20.0) / 20.0;
  }
  TempDir tmp;
  {
    std::ofstream f(tmp / "v.txt");
    f.precision(17);
    for (std::size_t i = 0; i < p.size(); ++i) f << p[i] << " " << t[i] << "\n";
  }
  const std::string out = qanet::testing::run_command(
      py + " -c \"import numpy as np, scipy.stats as st, json, sys; a = np.loadtxt(sys.argv[1]); p, t = a[:, 0], a[:, 1]; e = p - t; "
           "print(json.dumps(dict(pearson=st.pearsonr(p, t)[0], spearman=st.spearmanr(p, t)[0], mae=np.mean(np.abs(e)), "
           "rmse=np.sqrt(np.mean(e**2)), bias=np.mean(e))))\" '" + (tmp / "v.txt").string() + "'");
  const Json j = Json::parse(out);
  const RegressionStats r = regression_stats(p, t);
  CHECK(*r.pearson == doctest::Approx(j["pearson"].get<double>()).epsilon(1e-12));
  CHECK(*r.spearman == doctest::Approx(j["spearman"].get<double>()).epsilon(1e-12));
  CHECK(r.mae == doctest::Approx(j["mae"].get<double>()).epsilon(1e-12));
  CHECK(r.rmse == doctest::Approx(j["rmse"].get<double>()).epsilon(1e-12));
  CHECK(r.bias == doctest::Approx(j["bias"].get<double>()).epsilon(1e-12));
}

TEST_CASE("predicted_object_ious: every predicted object's best IoU, against brute force") {
  // Random rectangles in both images (overlapping, so objects touch several partners), then each
  // predicted label's IoU with every GT label from explicit voxel sets.
  for (std::uint64_t seed = 1; seed <= 6; ++seed) {
    Rng rng(seed);
    const Shape<2> shape(23, 31);
    LabelImage<2> gt(shape), pred(shape);
    for (LabelImage<2>* img : {&gt, &pred})
      for (Label l = 1; l <= 7; ++l) {
        const Index y = rng.uniform_int(0, 18), x = rng.uniform_int(0, 26), h = rng.uniform_int(1, 6), w = rng.uniform_int(1, 6);
        for (Index yy = y; yy < std::min<Index>(23, y + h); ++yy)
          for (Index xx = x; xx < std::min<Index>(31, x + w); ++xx) (*img)[yy * 31 + xx] = l * (img == &gt ? 1 : 3);
      }
    std::map<Label, std::vector<Index>> g, p;
    for (Index i = 0; i < shape.size(); ++i) {
      if (gt[i]) g[gt[i]].push_back(i);
      if (pred[i]) p[pred[i]].push_back(i);
    }
    const auto got = predicted_object_ious(gt, pred);
    REQUIRE(got.size() == p.size());
    std::size_t k = 0;
    for (const auto& [pl, pv] : p) {
      double best = 0;
      Label partner = 0;
      for (const auto& [gl, gv] : g) {
        std::vector<Index> both;
        std::set_intersection(pv.begin(), pv.end(), gv.begin(), gv.end(), std::back_inserter(both));
        const double iou = static_cast<double>(both.size()) / static_cast<double>(pv.size() + gv.size() - both.size());
        if (iou > best) best = iou, partner = gl;  // labels ascend: ties keep the smaller one
      }
      CHECK(got[k].pred_label == pl);
      CHECK(got[k].pred_size == static_cast<Index>(pv.size()));
      CHECK(got[k].gt_label == partner);
      CHECK(got[k].iou == doctest::Approx(best).epsilon(1e-15));
      ++k;
    }
  }
}
