// Tests of the user-facing scoring and training layer (qa/): the Assessor against a brute-force
// recomputation with the same network, TrainingData determinism and targets, exact resumption
// of the Trainer, the annotated-data finder, and the train / score / evaluate commands.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "qanet/io.hpp"
#include "qanet/metrics.hpp"
#include "qanet/nn/model_file.hpp"
#include "qanet/qa/assessor.hpp"
#include "qanet/qa/datasets.hpp"
#include "qanet/qa/trainer.hpp"
#include "qanet/qa/training_data.hpp"
#include "qanet/simulate.hpp"
#include "qa_test_util.hpp"
#include "support.hpp"

using namespace qanet;
using qanet::testing::run_command;
using qanet::testing::TempDir;
using namespace qanet::testing;  // qa_test_util.hpp
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {


// Tile starts written out independently of qa/tiling.hpp: 0, s, 2s, ... while a patch does not
// reach the end, then one patch flush with the end, moved on to the next multiple of `align`
// unless that leaves a gap; a single 0 when the axis is not longer.
std::vector<Index> starts(Index n, Index patch, Index stride, Index align = 1) {
  if (n <= patch) return {0};
  std::vector<Index> s;
  for (Index p = 0; p + patch < n; p += stride) s.push_back(p);
  Index last = n - patch;
  while (last % align != 0) ++last;
  if (last > s.back() + patch) last = n - patch;
  if (s.back() != last) s.push_back(last);
  return s;
}

// The Assessor's patch alignment for a network: 2^4 with valid convolutions (every patch a
// window of the shared trunk), none with padded ones.
template <int Dim>
Index alignment(const nn::Network<float, Dim>& net) {
  return net.config().padding == 0 ? 16 : 1;
}

// The network's segmentation channel of the patch at `o`, read from the mask mirrored out to
// the padded extent `ext` and encoded there as a whole (SPEC §2, written out here): a voxel of
// an object is boundary (1) when a face neighbour inside `ext` carries another label, else
// interior (0.5); background 0 (binary: 1 inside any object).
template <int Dim>
Image<float, Dim> seg_channel(const LabelImage<Dim>& lab, const std::array<Index, Dim>& o,
                              const std::array<Index, Dim>& size, const std::array<Index, Dim>& ext,
                              nn::InputEncoding enc) {
  auto label_at = [&](std::array<Index, Dim> q) {
    for (int a = 0; a < Dim; ++a) {
      const Index n = lab.shape()[a];
      while (q[a] >= n || q[a] < 0) q[a] = q[a] >= n ? 2 * n - 1 - q[a] : -1 - q[a];
    }
    return lab.at(q);
  };
  Shape<Dim> ps(size);
  Image<float, Dim> out(ps);
  for (Index i = 0; i < ps.size(); ++i) {
    auto q = ps.coords(i);
    for (int a = 0; a < Dim; ++a) q[a] += o[a];
    const Label v = label_at(q);
    if (v == 0) continue;
    bool boundary = false;
    for (int a = 0; a < Dim; ++a)
      for (const Index d : {Index{-1}, Index{1}}) {
        auto r = q;
        r[a] += d;
        if (r[a] >= 0 && r[a] < ext[a] && label_at(r) != v) boundary = true;
      }
    out[i] = enc == nn::InputEncoding::binary ? 1.0f : (boundary ? 1.0f : 0.5f);
  }
  return out;
}

// The patch of (img, lab) at `o` of extent `size`; outside the image, image and labels are
// mirrored (numpy 'symmetric'), written here as an explicit reflection of each coordinate.
template <int Dim>
std::pair<Image<float, Dim>, LabelImage<Dim>> crop(const Image<float, Dim>& img, const LabelImage<Dim>& lab,
                                                   const std::array<Index, Dim>& o, const std::array<Index, Dim>& size) {
  Shape<Dim> ps(size);
  Image<float, Dim> pi(ps);
  LabelImage<Dim> pl(ps);
  for (Index i = 0; i < ps.size(); ++i) {
    auto q = ps.coords(i);
    for (int a = 0; a < Dim; ++a) {
      q[a] += o[a];
      const Index n = img.shape()[a];
      while (q[a] >= n || q[a] < 0) q[a] = q[a] >= n ? 2 * n - 1 - q[a] : -1 - q[a];
    }
    pi[i] = img.at(q);
    pl[i] = lab.at(q);
  }
  return {std::move(pi), std::move(pl)};
}

// The network's output (`output` 0: the score, 1: the object count) for an image patch and a
// ready segmentation channel.
template <int Dim>
double channel_score(nn::Network<float, Dim>& net, const Image<float, Dim>& pi, const Image<float, Dim>& seg,
                     Normalisation norm, int output = 0) {
  std::array<Index, Dim> sp;
  for (int a = 0; a < Dim; ++a) sp[a] = pi.shape()[a];
  nn::Tensor<float> xi(nn::activation_shape<Dim>(1, 1, sp)), xs(xi.shape());
  const Image<float, Dim> in = norm == Normalisation::per_patch ? normalize_percentile(pi.cview()) : pi;
  std::copy(in.begin(), in.end(), xi.data());
  std::copy(seg.begin(), seg.end(), xs.data());
  return static_cast<double>(net.forward(xi, xs, nn::Mode::infer)[output]);
}

template <int Dim>
double network_score(nn::Network<float, Dim>& net, const Image<float, Dim>& pi, const LabelImage<Dim>& pl,
                     nn::InputEncoding enc, Normalisation norm = Normalisation::per_patch) {
  std::array<Index, Dim> sp;
  for (int a = 0; a < Dim; ++a) sp[a] = pi.shape()[a];
  nn::Tensor<float> xi(nn::activation_shape<Dim>(1, 1, sp)), xs(xi.shape());
  fill_network_inputs(xi, xs, 0, pi.cview(), pl.cview(), enc, norm);
  return static_cast<double>(net.forward(xi, xs, nn::Mode::infer)[0]);
}

template <int Dim>
struct BrutePatch {
  std::array<Index, Dim> origin;
  Index objects;
  double weight;
  double score;
};

// Every patch of the grid, one at a time through `net`; patches without an object are skipped,
// the others weighted by their number of distinct labels or (fractional) by the share of each
// label's pixels that lies inside the patch, counted pixel by pixel.
template <int Dim>
std::pair<double, std::vector<BrutePatch<Dim>>> brute_force(nn::Network<float, Dim>& net, const Image<float, Dim>& img,
                                                             const LabelImage<Dim>& lab, const std::array<Index, Dim>& patch,
                                                             const std::array<Index, Dim>& stride, bool fractional = true,
                                                             Normalisation norm = Normalisation::per_patch) {
  std::array<std::vector<Index>, Dim> st;
  std::array<Index, Dim> ext{};
  for (int a = 0; a < Dim; ++a) {
    st[a] = starts(img.shape()[a], patch[a], stride[a], alignment(net));
    ext[a] = std::max(img.shape()[a], st[a].back() + patch[a]);
  }
  std::map<Label, double> total;
  for (Label v : lab)
    if (v) total[v] += 1;
  std::vector<BrutePatch<Dim>> out;
  double s = 0, w = 0;
  std::array<std::size_t, Dim> k{};
  while (true) {
    std::array<Index, Dim> o;
    for (int a = 0; a < Dim; ++a) o[a] = st[a][k[a]];
    auto [pi, pl] = crop<Dim>(img, lab, o, patch);
    std::map<Label, double> inside;
    for (Label v : pl)
      if (v) inside[v] += 1;
    if (!inside.empty()) {
      double weight = 0;
      for (const auto& [l, n] : inside) weight += fractional ? n / total.at(l) : 1.0;
      const auto seg = seg_channel<Dim>(lab, o, patch, ext, net.config().encoding);
      const double v = std::clamp(channel_score(net, pi, seg, norm), 0.0, 1.0);
      out.push_back({o, static_cast<Index>(inside.size()), weight, v});
      s += v * weight;
      w += weight;
    }
    int a = Dim - 1;
    while (a >= 0 && ++k[a] == st[a].size()) k[a--] = 0;
    if (a < 0) break;
  }
  return {s / w, out};
}


}  // namespace

// ------------------------------------------------------------------------------- Assessor

TEST_CASE("Assessor: object-weighted tiles equal a brute-force recomputation, empty tiles skipped") {
  // The crop of the scene keeps whole objects out of some tiles and cuts others: both weightings
  // (visible fractions by default, plain counts on request) are recomputed here by brute force.
  TempDir dir;
  write_tiny_model<2>(dir / "m.safetensors");
  const Assessor<2> assessor(dir / "m.safetensors");
  CHECK(assessor.training_patch() == std::array<Index, 2>{48, 48});
  CHECK(assessor.higher_is_better());
  auto net = nn::load_model<float, 2>(dir / "m.safetensors");
  const Scene<2> sc = scene_2d();

  // 100 x 90 with 48-px patches and the default stride 24: rows {0, 24, 48, 64}, columns
  // {0, 24, 48} (the last ones moved on to multiples of 16, past the edge); the tiles at
  // (48|64, 48) hold no object.
  CHECK(starts(100, 48, 24, 16) == std::vector<Index>{0, 24, 48, 64});
  CHECK(starts(90, 48, 24, 16) == std::vector<Index>{0, 24, 48});
  AssessOptions opt;
  opt.rescale = false;
  const auto a = assessor.assess(sc.image.cview(), sc.labels.cview(), opt);
  const auto [score, patches] = brute_force<2>(net, sc.image, sc.labels, {48, 48}, {24, 24});
  CHECK(a.objects == 7);
  CHECK(a.scale == 1.0);
  REQUIRE(a.patches.size() == patches.size());
  CHECK(patches.size() < 12);  // some tiles are empty and carry no weight
  std::set<double> distinct_scores;
  std::set<Index> distinct_weights;
  for (std::size_t i = 0; i < patches.size(); ++i) {
    CAPTURE(i);
    CHECK(a.patches[i].origin == patches[i].origin);
    // The part of the patch inside the image (the last rows and columns reach past the edge).
    CHECK(a.patches[i].size == std::array<Index, 2>{std::min<Index>(48, 100 - patches[i].origin[0]),
                                                    std::min<Index>(48, 90 - patches[i].origin[1])});
    CHECK(a.patches[i].objects == patches[i].objects);
    CHECK(a.patches[i].weight == doctest::Approx(patches[i].weight).epsilon(1e-12));
    CHECK(a.patches[i].weight < static_cast<double>(patches[i].objects) + 1e-12);
    CHECK(a.patches[i].score == doctest::Approx(patches[i].score).epsilon(1e-5));
    CHECK(patches[i].score > 0.0);
    CHECK(patches[i].score < 1.0);
    distinct_scores.insert(patches[i].score);
    distinct_weights.insert(patches[i].objects);
  }
  // The test can only fail when the weighting matters: scores and weights must vary.
  CHECK(distinct_scores.size() > 3);
  CHECK(distinct_weights.size() > 1);
  CHECK(a.score == doctest::Approx(score).epsilon(1e-5));
  double plain_mean = 0;
  for (const auto& p : patches) plain_mean += p.score / static_cast<double>(patches.size());
  CHECK(std::abs(score - plain_mean) > 1e-7);

  // Counting every visible object as 1 (SPEC §9 read literally) gives another, also exact, mean.
  AssessOptions counts = opt;
  counts.fractional_weights = false;
  const auto n = assessor.assess(sc.image.cview(), sc.labels.cview(), counts);
  const auto [count_score, count_patches] = brute_force<2>(net, sc.image, sc.labels, {48, 48}, {24, 24}, false);
  for (std::size_t i = 0; i < count_patches.size(); ++i) CHECK(n.patches[i].weight == static_cast<double>(count_patches[i].objects));
  CHECK(n.score == doctest::Approx(count_score).epsilon(1e-5));
  CHECK(std::abs(count_score - score) > 1e-7);

  // A batch of one gives the same patches as batches of 16.
  opt.batch = 1;
  const auto b = assessor.assess(sc.image.cview(), sc.labels.cview(), opt);
  CHECK(b.score == doctest::Approx(a.score).epsilon(1e-5));

  // An explicit stride.
  opt.batch = 16;
  opt.stride = 40;
  const auto c = assessor.assess(sc.image.cview(), sc.labels.cview(), opt);
  const auto [score40, patches40] = brute_force<2>(net, sc.image, sc.labels, {48, 48}, {40, 40});
  CHECK(c.patches.size() == patches40.size());
  CHECK(c.score == doctest::Approx(score40).epsilon(1e-5));
}

// Every patch score of `a` equals the one of `b` at the same origin, to 1e-5; so do the weights
// (exactly for score-only models, whose weights are the mask's shares; to 1e-5 for models with
// an object-count output, whose weights are network outputs too).
template <int Dim>
void check_same_patches(const Assessment<Dim>& a, const Assessment<Dim>& b) {
  REQUIRE(a.patches.size() == b.patches.size());
  for (std::size_t i = 0; i < a.patches.size(); ++i) {
    CAPTURE(i);
    CHECK(a.patches[i].origin == b.patches[i].origin);
    CHECK(a.patches[i].objects == b.patches[i].objects);
    CHECK(a.patches[i].weight == doctest::Approx(b.patches[i].weight).epsilon(1e-5));
    CHECK(a.patches[i].score == doctest::Approx(b.patches[i].score).epsilon(1e-5));
  }
  CHECK(a.score == doctest::Approx(b.score).epsilon(1e-5));
}

TEST_CASE("Assessor: the shared trunk gives every patch the score it gets through the network alone") {
  // Patches every 32 px (multiples of 16, so each is a window of the shared feature maps) on a
  // frame whose far edges are not: the last row and column of patches reach past the edge.
  TempDir dir;
  write_tiny_model<2>(dir / "m.safetensors", 0, 11, nn::InputEncoding::trinary, true);
  const Assessor<2> assessor(dir / "m.safetensors");
  auto net = nn::load_model<float, 2>(dir / "m.safetensors");
  std::vector<Blob> blobs;
  Rng rng(8);
  for (Label l = 1; l <= 30; ++l) blobs.push_back({{0, rng.uniform(5, 125), rng.uniform(5, 150)}, rng.uniform(4, 9), l});
  const Scene<2> sc = make_scene<2>(Shape<2>(131, 157), blobs, 9);
  AssessOptions alone;
  alone.rescale = false;
  alone.stride = 32;
  alone.shared_trunk = false;
  const auto a = assessor.assess(sc.image.cview(), sc.labels.cview(), alone);
  CHECK(a.trunk_passes == 0);
  // The patch-by-patch path against the brute force written out in this file.
  const auto whole = normalize_percentile(sc.image.cview());
  const auto [expect, patches] = brute_force<2>(net, whole, sc.labels, {48, 48}, {32, 32}, true, Normalisation::per_image);
  REQUIRE(a.patches.size() == patches.size());
  for (std::size_t i = 0; i < patches.size(); ++i) CHECK(a.patches[i].score == doctest::Approx(patches[i].score).epsilon(1e-5));
  CHECK(a.patches.back().origin == std::array<Index, 2>{96, 112});  // 131 - 48 = 83 -> 96, 157 - 48 = 109 -> 112

  AssessOptions shared = alone;
  shared.shared_trunk = true;
  const auto one = assessor.assess(sc.image.cview(), sc.labels.cview(), shared);
  CHECK(one.trunk_passes == 1);  // 144 x 160 voxels: one band
  check_same_patches(one, a);
  shared.trunk_voxels = 100 * 160;  // bands of at most 100 rows: patch rows {0, 32}, {64, 96}
  const auto bands = assessor.assess(sc.image.cview(), sc.labels.cview(), shared);
  CHECK(bands.trunk_passes == 2);
  check_same_patches(bands, a);
  shared.trunk_voxels = 1;  // one patch row per band
  const auto rows = assessor.assess(sc.image.cview(), sc.labels.cview(), shared);
  CHECK(rows.trunk_passes == 4);
  check_same_patches(rows, a);
  // The default stride of 24 is not a multiple of 16: patch by patch.
  shared.stride = -1;
  CHECK(assessor.assess(sc.image.cview(), sc.labels.cview(), shared).trunk_passes == 0);
}

TEST_CASE("Assessor: a model with an object-count output weighs each patch by the objects it predicts there") {
  TempDir dir;
  write_tiny_model<2>(dir / "c.safetensors", 0, 11, nn::InputEncoding::trinary, true, 2);
  const Assessor<2> assessor(dir / "c.safetensors");
  auto net = nn::load_model<float, 2>(dir / "c.safetensors");
  REQUIRE(net.config().outputs == 2);
  std::vector<Blob> blobs;
  Rng rng(8);
  for (Label l = 1; l <= 30; ++l) blobs.push_back({{0, rng.uniform(5, 125), rng.uniform(5, 150)}, rng.uniform(4, 9), l});
  const Scene<2> sc = make_scene<2>(Shape<2>(131, 157), blobs, 9);
  std::set<Label> labels;
  for (Label v : sc.labels)
    if (v) labels.insert(v);
  const auto whole = normalize_percentile(sc.image.cview());
  // Scores from the brute force of this file; each patch's count (second output x 4, floored at
  // 0.001) recomputed here through the network alone, and the visible shares of the mask's
  // objects in the part of the patch inside the image (mirrored pixels past the edge are not
  // the objects' own).
  const auto [unused, patches] = brute_force<2>(net, whole, sc.labels, {48, 48}, {32, 32}, true, Normalisation::per_image);
  const std::array<Index, 2> patch{48, 48}, ext{144, 160};  // the last starts 96 and 112, plus a patch
  double cs = 0, c = 0, shares = 0;
  std::vector<double> counts;
  for (const auto& p : patches) {
    const auto [pi, pl] = crop<2>(whole, sc.labels, p.origin, patch);
    const auto seg = seg_channel<2>(sc.labels, p.origin, patch, ext, net.config().encoding);
    counts.push_back(std::max(1e-3, 4.0 * channel_score(net, pi, seg, Normalisation::per_image, 1)));
    cs += counts.back() * p.score, c += counts.back();
    std::map<Label, double> inside, total;
    for (Index y = 0; y < 131; ++y)
      for (Index x = 0; x < 157; ++x)
        if (const Label v = sc.labels(y, x)) {
          total[v] += 1;
          if (y >= p.origin[0] && y < p.origin[0] + 48 && x >= p.origin[1] && x < p.origin[1] + 48) inside[v] += 1;
        }
    for (const auto& [v, n] : inside) shares += n / total.at(v);
  }
  CHECK(std::set<double>(counts.begin(), counts.end()).size() > 3);
  for (bool shared : {false, true}) {
    CAPTURE(shared);
    AssessOptions opt;
    opt.rescale = false;
    opt.stride = 32;
    opt.shared_trunk = shared;
    const auto a = assessor.assess(sc.image.cview(), sc.labels.cview(), opt);
    CHECK((a.trunk_passes > 0) == shared);
    REQUIRE(a.patches.size() == patches.size());
    for (std::size_t i = 0; i < patches.size(); ++i) {
      CAPTURE(i);
      CHECK(a.patches[i].score == doctest::Approx(patches[i].score).epsilon(1e-5));
      CHECK(a.patches[i].weight == doctest::Approx(counts[i]).epsilon(1e-5));
    }
    CHECK(a.objects == static_cast<Index>(labels.size()));
    CHECK(a.score == doctest::Approx(cs / c).epsilon(1e-5));
    // The count's sum over the coverage that the mask's own objects show (their shares' sum per object).
    CHECK(a.weight_objects == doctest::Approx(c * static_cast<double>(labels.size()) / shares).epsilon(1e-5));
  }
  // A score-only model weighs a frame by its mask's objects.
  write_tiny_model<2>(dir / "m.safetensors", 0, 11, nn::InputEncoding::trinary, true);
  AssessOptions opt;
  opt.rescale = false;
  const auto m = Assessor<2>(dir / "m.safetensors").assess(sc.image.cview(), sc.labels.cview(), opt);
  CHECK(m.weight_objects == static_cast<double>(labels.size()));
}

TEST_CASE("Assessor: the bundled model scores a frame through the shared trunk as patch by patch") {
  const fs::path model = fs::path(QANET_SOURCE_DIR) / "models/qanet-seg-2d-small.safetensors";
  const Assessor<2> assessor(model);
  SimulationOptions<2> so;
  so.shape = Shape<2>(480, 560);
  const auto sim = simulate_image(so, 31, 0);
  const auto mask = perturb_labels(sim.labels.cview(), PerturbOptions{}, 5).labels;
  AssessOptions alone;
  alone.shared_trunk = false;
  const auto a = assessor.assess(sim.image.cview(), mask.cview(), alone);
  const auto b = assessor.assess(sim.image.cview(), mask.cview());
  CHECK(a.trunk_passes == 0);
  CHECK(b.trunk_passes >= 1);
  CHECK(a.patches.size() > 6);
  check_same_patches(b, a);
}

TEST_CASE("Assessor: a per-image model scores crops of the image normalised once") {
  TempDir dir;
  write_tiny_model<2>(dir / "m.safetensors", 0, 11, nn::InputEncoding::trinary, true);
  const Assessor<2> assessor(dir / "m.safetensors");
  CHECK(assessor.convention().normalisation == Normalisation::per_image);
  CHECK(assessor.convention().scale == ScaleMeasure::image_floored_thickness);
  auto net = nn::load_model<float, 2>(dir / "m.safetensors");
  const Scene<2> sc = scene_2d();
  AssessOptions opt;
  opt.rescale = false;
  const auto a = assessor.assess(sc.image.cview(), sc.labels.cview(), opt);
  const auto whole = normalize_percentile(sc.image.cview());
  const auto [expect, patches] = brute_force<2>(net, whole, sc.labels, {48, 48}, {24, 24}, true, Normalisation::per_image);
  CHECK(a.patches.size() == patches.size());
  CHECK(a.score == doctest::Approx(expect).epsilon(1e-5));
  // Per patch the same network gives other patch scores: the convention matters.
  const auto [per_patch, other] = brute_force<2>(net, sc.image, sc.labels, {48, 48}, {24, 24}, true);
  REQUIRE(other.size() == patches.size());
  double largest = 0;
  for (std::size_t i = 0; i < other.size(); ++i) largest = std::max(largest, std::abs(other[i].score - patches[i].score));
  CHECK(largest > 1e-5);
  // A known diameter replaces the measured one: the factor is target / diameter.
  write_tiny_model<2>(dir / "d.safetensors", 20.0, 11, nn::InputEncoding::trinary, true);
  const Assessor<2> scaled(dir / "d.safetensors");
  AssessOptions known;
  known.diameter = 10.0;
  CHECK(scaled.scale_for(sc.image.cview(), sc.labels.cview(), known) == 2.0);
  CHECK(scaled.scale_for(sc.image.cview(), sc.labels.cview()) ==
        doctest::Approx(20.0 / estimate_object_diameter(sc.image.cview(), sc.labels.cview()).diameter));
}

TEST_CASE("Assessor: a model's recalibration maps every patch score; malformed ones are refused") {
  TempDir dir;
  write_tiny_model<2>(dir / "m.safetensors");
  nn::ModelInfo info;
  auto net = nn::load_model<float, 2>(dir / "m.safetensors", &info);
  info.training["calibration"] = {{"intercept", 0.1}, {"slope", 0.5}};
  nn::save_model(dir / "c.safetensors", net, info);
  const Assessor<2> plain(dir / "m.safetensors"), calibrated(dir / "c.safetensors");
  CHECK(plain.calibration().slope == 1.0);
  CHECK(calibrated.calibration().intercept == 0.1);
  const Scene<2> sc = scene_2d();
  AssessOptions opt;
  opt.rescale = false;
  const auto a = plain.assess(sc.image.cview(), sc.labels.cview(), opt);
  const auto b = calibrated.assess(sc.image.cview(), sc.labels.cview(), opt);
  REQUIRE(a.patches.size() == b.patches.size());
  for (std::size_t i = 0; i < a.patches.size(); ++i) {
    REQUIRE(a.patches[i].score > 0.0);  // unclamped, so the map is visible as it is
    REQUIRE(a.patches[i].score < 1.0);
    CHECK(b.patches[i].score == doctest::Approx(0.1 + 0.5 * a.patches[i].score).epsilon(1e-9));
  }
  CHECK(b.score == doctest::Approx(0.1 + 0.5 * a.score).epsilon(1e-9));  // the mean is linear
  opt.calibrated = false;
  CHECK(calibrated.assess(sc.image.cview(), sc.labels.cview(), opt).score == a.score);
  info.training["calibration"] = {{"intercept", 0.1}, {"slope", -2.0}};
  nn::save_model(dir / "bad.safetensors", net, info);
  CHECK_THROWS_WITH_AS(Assessor<2>(dir / "bad.safetensors"), doctest::Contains("calibration"), IoError);
}

TEST_CASE("Assessor: intervals from the calibration residuals in the model file") {
  TempDir dir;
  write_tiny_model<2>(dir / "m.safetensors");
  nn::ModelInfo info;
  auto net = nn::load_model<float, 2>(dir / "m.safetensors", &info);
  // Nine residuals, stored unsorted: at 80% the ceil(10 * 0.8) = 8th smallest (0.4), at 90% the
  // 9th (0.45), at 95% none (the whole range).
  info.training["calibration"] = {{"intercept", 0.0}, {"slope", 1.0},
                                  {"residuals", {0.45, 0.05, 0.4, 0.1, 0.35, 0.15, 0.3, 0.2, 0.25}}};
  nn::save_model(dir / "r.safetensors", net, info);
  const Assessor<2> plain(dir / "m.safetensors"), with(dir / "r.safetensors");
  CHECK_FALSE(plain.has_intervals());
  CHECK_FALSE(plain.interval(0.5, 0.9).has_value());
  REQUIRE(with.has_intervals());
  const auto i80 = with.interval(0.5, 0.8), i90 = with.interval(0.7, 0.9), i95 = with.interval(0.7, 0.95);
  REQUIRE(i80);
  CHECK(i80->low == doctest::Approx(0.1));
  CHECK(i80->high == doctest::Approx(0.9));
  CHECK(i90->low == doctest::Approx(0.25));
  CHECK(i90->high == 1.0);  // within SEG's range
  CHECK(i95->low == 0.0);
  CHECK(i95->high == 1.0);
  for (const json& bad : {json{0.1, -0.2}, json{0.1, "x"}, json(0.3)}) {
    info.training["calibration"]["residuals"] = bad;
    nn::save_model(dir / "bad.safetensors", net, info);
    CHECK_THROWS_WITH_AS(Assessor<2>(dir / "bad.safetensors"), doctest::Contains("residuals"), IoError);
  }
}

TEST_CASE("Assessor: rescaling by the measured object diameter, patches mapped back to the caller's image") {
  TempDir dir;
  // Discs of radii 5 to 8 (median equivalent diameter about 13 px) scored by a model trained
  // at 24 px are enlarged by 24 / median.
  write_tiny_model<2>(dir / "m.safetensors", 24.0);
  const Assessor<2> assessor(dir / "m.safetensors");
  CHECK(assessor.target_diameter() == 24.0);
  auto net = nn::load_model<float, 2>(dir / "m.safetensors");
  const Scene<2> sc = make_scene<2>(Shape<2>(50, 45),
                                    {{{0, 8, 8}, 5, 1}, {{0, 10, 30}, 6, 2}, {{0, 30, 12}, 7, 3}, {{0, 38, 36}, 8, 4}}, 3);
  std::map<Label, Index> area;
  for (Label v : sc.labels)
    if (v) ++area[v];
  std::vector<double> d;
  for (const auto& [l, n] : area) d.push_back(2.0 * std::sqrt(static_cast<double>(n) / M_PI));
  std::sort(d.begin(), d.end());
  const double median = 0.5 * (d[1] + d[2]);
  const auto a = assessor.assess(sc.image.cview(), sc.labels.cview());
  CHECK(a.scale == doctest::Approx(24.0 / median).epsilon(1e-12));

  // An explicit factor 2: the image becomes 100 x 90, tiled as in the brute-force case above,
  // and every patch is reported in the caller's pixels (origins halved, 24 px wide, the last
  // ones cut at the image edge).
  AssessOptions opt;
  opt.scale = 2.0;
  const auto b = assessor.assess(sc.image.cview(), sc.labels.cview(), opt);
  CHECK(b.scale == 2.0);
  const auto img2 = rescale_linear(sc.image.cview(), {2.0, 2.0});
  const auto lab2 = rescale_nearest(sc.labels.cview(), {2.0, 2.0});
  REQUIRE(img2.shape() == Shape<2>(100, 90));
  const auto [score, patches] = brute_force<2>(net, img2, lab2, {48, 48}, {24, 24});
  REQUIRE(b.patches.size() == patches.size());
  for (std::size_t i = 0; i < patches.size(); ++i) {
    CAPTURE(i);
    CHECK(b.patches[i].origin[0] == patches[i].origin[0] / 2);
    CHECK(b.patches[i].origin[1] == patches[i].origin[1] / 2);
    CHECK(b.patches[i].size == std::array<Index, 2>{std::min<Index>(24, 50 - b.patches[i].origin[0]),
                                                    std::min<Index>(24, 45 - b.patches[i].origin[1])});
    for (int ax = 0; ax < 2; ++ax) CHECK(b.patches[i].origin[ax] + b.patches[i].size[ax] <= sc.image.shape()[ax]);
    CHECK(b.patches[i].score == doctest::Approx(patches[i].score).epsilon(1e-5));
  }
  CHECK(b.score == doctest::Approx(score).epsilon(1e-5));
  CHECK(b.objects == 4);

  // Shrinking by 2: 25 x 23 is smaller than a patch, so one padded patch covers everything.
  opt.scale = 0.5;
  const auto c = assessor.assess(sc.image.cview(), sc.labels.cview(), opt);
  REQUIRE(c.patches.size() == 1);
  CHECK(c.patches[0].origin == std::array<Index, 2>{0, 0});
  CHECK(c.patches[0].size == std::array<Index, 2>{50, 45});

  // rescale = false ignores the model's diameter.
  AssessOptions none;
  none.rescale = false;
  CHECK(assessor.assess(sc.image.cview(), sc.labels.cview(), none).scale == 1.0);
}

TEST_CASE("Assessor: whole-image mode and images smaller than a patch") {
  TempDir dir;
  write_tiny_model<2>(dir / "m.safetensors");
  const Assessor<2> assessor(dir / "m.safetensors");
  auto net = nn::load_model<float, 2>(dir / "m.safetensors");
  const Scene<2> sc = scene_2d(8);

  AssessOptions whole;
  whole.patch = 0;
  whole.rescale = false;
  const auto a = assessor.assess(sc.image.cview(), sc.labels.cview(), whole);
  REQUIRE(a.patches.size() == 1);
  CHECK(a.patches[0].origin == std::array<Index, 2>{0, 0});
  CHECK(a.patches[0].size == std::array<Index, 2>{100, 90});
  CHECK(a.patches[0].objects == 7);
  const double direct = std::clamp(network_score(net, sc.image, sc.labels, nn::InputEncoding::trinary), 0.0, 1.0);
  CHECK(a.score == doctest::Approx(direct).epsilon(1e-5));

  // A 30 x 40 crop: one 48 x 48 patch, image and labels mirrored beyond the edge.
  const auto [small_img, small_lab] = crop<2>(sc.image, sc.labels, {0, 0}, {30, 40});
  std::set<Label> objs(small_lab.begin(), small_lab.end());
  objs.erase(0);
  REQUIRE(!objs.empty());
  AssessOptions def;
  def.rescale = false;
  const auto b = assessor.assess(small_img.cview(), small_lab.cview(), def);
  REQUIRE(b.patches.size() == 1);
  CHECK(b.patches[0].size == std::array<Index, 2>{30, 40});
  CHECK(b.objects == static_cast<Index>(objs.size()));
  const auto [padded_img, padded_lab] = crop<2>(small_img, small_lab, {0, 0}, {48, 48});
  CHECK(padded_img(47, 47) == small_img(12, 32));  // 47 -> 2*30-1-47 = 12, 2*40-1-47 = 32
  CHECK(padded_lab(47, 47) == small_lab(12, 32));
  const double expect = std::clamp(network_score(net, padded_img, padded_lab, nn::InputEncoding::trinary), 0.0, 1.0);
  CHECK(b.score == doctest::Approx(expect).epsilon(1e-5));
  // Whole-image mode on an image smaller than the network accepts pads the same way.
  const auto c = assessor.assess(small_img.cview(), small_lab.cview(), whole);
  CHECK(c.score == doctest::Approx(expect).epsilon(1e-5));
}

TEST_CASE("Assessor: empty masks, shape mismatches and bad labels are clear errors") {
  TempDir dir;
  write_tiny_model<2>(dir / "m.safetensors");
  const Assessor<2> assessor(dir / "m.safetensors");
  Image<float, 2> img(Shape<2>(60, 60), 1.0f);
  LabelImage<2> empty(Shape<2>(60, 60));
  CHECK_THROWS_AS(assessor.assess(img.cview(), empty.cview()), UndefinedValue);
  LabelImage<2> other(Shape<2>(60, 61), 1);
  CHECK_THROWS_WITH_AS(assessor.assess(img.cview(), other.cview()), doctest::Contains("60x61"), InvalidArgument);
  Image<std::int32_t, 2> negative(Shape<2>(60, 60), 0);
  negative(3, 3) = -2;
  CHECK_THROWS_AS(assessor.assess(img.cview(), negative.cview()), InvalidArgument);
  Image<float, 2> none;
  LabelImage<2> none_lab;
  CHECK_THROWS_AS(assessor.assess(none.cview(), none_lab.cview()), InvalidArgument);
  // One-pixel objects that an explicit 1/8 shrink loses: nothing is assessed, so no score
  // (not a score of 0). The nearest-neighbour shrink of 60 px to 8 samples rows/columns 3, 11, ...
  LabelImage<2> dots(Shape<2>(60, 60));
  dots(1, 1) = 4;
  dots(5, 6) = 9;
  AssessOptions shrink;
  shrink.scale = 0.125;
  CHECK_THROWS_AS(assessor.assess(img.cview(), dots.cview(), shrink), UndefinedValue);
  // A model of the other dimension, and a file that is no model.
  CHECK_THROWS_AS(Assessor<3>(dir / "m.safetensors"), IoError);
  std::ofstream(dir / "junk.safetensors") << "not a model";
  CHECK_THROWS_WITH_AS(Assessor<2>(dir / "junk.safetensors"), doctest::Contains("junk.safetensors"), IoError);
}

TEST_CASE("Assessor: one Assessor shared by 8 threads scoring different frames gives exactly the serial results") {
  TempDir dir;
  write_tiny_model<2>(dir / "m.safetensors", 14.0, 11, nn::InputEncoding::trinary, true);
  const Assessor<2> assessor(dir / "m.safetensors");
  std::vector<Scene<2>> scenes;
  for (std::uint64_t s = 0; s < 4; ++s) scenes.push_back(scene_2d(100 + s));
  std::vector<AssessOptions> opts(3);
  opts[0].stride = 32;  // through the shared trunk
  opts[1].rescale = false;
  opts[2].patch = 0;
  std::vector<double> serial;
  for (const auto& sc : scenes)
    for (const auto& o : opts) serial.push_back(assessor.assess(sc.image.cview(), sc.labels.cview(), o).score);
  CHECK(assessor.assess(scenes[0].image.cview(), scenes[0].labels.cview(), opts[0]).trunk_passes > 0);
  // The model file goes away: a loaded Assessor must not need it any more.
  fs::remove(dir / "m.safetensors");

  const int threads = 8, rounds = 3;
  std::vector<std::vector<double>> got(threads);
  std::vector<std::string> errors(threads);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      try {
        for (int r = 0; r < rounds; ++r)
          for (std::size_t k = 0; k < serial.size(); ++k) {
            // Each thread walks the list from its own offset so that different work overlaps.
            const std::size_t i = (k + static_cast<std::size_t>(t) * 5) % serial.size();
            const auto& sc = scenes[i / opts.size()];
            got[static_cast<std::size_t>(t)].push_back(
                assessor.assess(sc.image.cview(), sc.labels.cview(), opts[i % opts.size()]).score);
          }
      } catch (const std::exception& e) {
        errors[static_cast<std::size_t>(t)] = e.what();
      }
    });
  for (auto& th : pool) th.join();
  for (int t = 0; t < threads; ++t) {
    CAPTURE(t);
    CHECK(errors[static_cast<std::size_t>(t)] == "");
    REQUIRE(got[static_cast<std::size_t>(t)].size() == serial.size() * rounds);
    for (std::size_t k = 0; k < got[static_cast<std::size_t>(t)].size(); ++k) {
      const std::size_t i = (k % serial.size() + static_cast<std::size_t>(t) * 5) % serial.size();
      CHECK(got[static_cast<std::size_t>(t)][k] == serial[i]);
    }
  }
}

TEST_CASE("Assessor: 3D volumes end to end (z kept, in-plane rescaled)") {
  TempDir dir;
  write_tiny_model<3>(dir / "m3.safetensors", 0);
  const Assessor<3> assessor(dir / "m3.safetensors");
  CHECK(assessor.training_patch() == std::array<Index, 3>{16, 24, 24});
  auto net = nn::load_model<float, 3>(dir / "m3.safetensors");
  const Scene<3> sc = make_scene<3>(Shape<3>(20, 40, 36),
                                    {{{5, 8, 8}, 5, 1}, {{10, 20, 20}, 6, 2}, {{15, 30, 10}, 4, 3}, {{6, 30, 28}, 5, 4}}, 2);
  AssessOptions opt;
  opt.rescale = false;
  const auto a = assessor.assess(sc.image.cview(), sc.labels.cview(), opt);
  const auto [score, patches] = brute_force<3>(net, sc.image, sc.labels, {16, 24, 24}, {8, 12, 12});
  CHECK(a.objects == 4);
  REQUIRE(a.patches.size() == patches.size());
  for (std::size_t i = 0; i < patches.size(); ++i) {
    CHECK(a.patches[i].origin == patches[i].origin);
    CHECK(a.patches[i].objects == patches[i].objects);
  }
  CHECK(a.score == doctest::Approx(score).epsilon(1e-5));
  // With a scale, only y and x are resampled: z origins stay, y/x halve.
  opt.scale = 2.0;
  const auto b = assessor.assess(sc.image.cview(), sc.labels.cview(), opt);
  for (const auto& p : b.patches) {
    CHECK(p.size[0] == 16);
    CHECK(p.origin[0] + p.size[0] <= 20);
    CHECK(p.origin[1] + p.size[1] <= 40);
    CHECK(p.origin[2] + p.size[2] <= 36);
  }
  CHECK(b.score > 0.0);
  CHECK(b.score < 1.0);
  // A stride larger than the model's depth (16) still covers every plane of a 40-deep volume.
  const Scene<3> deep = make_scene<3>(Shape<3>(40, 30, 30), {{{5, 15, 15}, 5, 1}, {{20, 10, 10}, 4, 2}, {{35, 20, 20}, 4, 3}}, 4);
  AssessOptions wide;
  wide.rescale = false;
  wide.patch = 30;
  wide.stride = 24;
  const auto c = assessor.assess(deep.image.cview(), deep.labels.cview(), wide);
  std::vector<int> covered(40, 0);
  for (const auto& p : c.patches) {
    CHECK(p.size[0] == 16);
    for (Index z = p.origin[0]; z < p.origin[0] + p.size[0]; ++z) covered[static_cast<std::size_t>(z)] = 1;
  }
  // Planes 16..23 hold object 2 (z 16..24): a z stride of 24 would skip them.
  for (Index z = 0; z < 40; ++z) {
    CAPTURE(z);
    CHECK(covered[static_cast<std::size_t>(z)] == 1);
  }
}

// ------------------------------------------------------------------------------- TrainingData

namespace {

// A simulated annotated frame of `shape` with cells of about `radius` px.
AnnotatedFrame<2> simulated_frame(const Shape<2>& shape, double radius, std::uint64_t seed, const std::string& name) {
  SimulationOptions<2> so;
  so.shape = shape;
  so.radius_median = radius;
  so.coverage = 0.3;
  so.psf_sigma = 1.0;
  auto sim = simulate_image(so, seed);
  AnnotatedFrame<2> f;
  f.image = Image<float, 2>::from_view(sim.image.cview());
  f.labels = std::move(sim.labels);
  f.sequence = "sim/" + name;
  f.labels_path = "/nowhere/" + name + ".tif";
  return f;
}

template <int Dim>
bool same_bytes(const Image<float, Dim>& a, const Image<float, Dim>& b) {
  return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), sizeof(float) * static_cast<std::size_t>(a.size())) == 0;
}
template <int Dim>
bool same_labels(const LabelImage<Dim>& a, const LabelImage<Dim>& b) {
  return a.shape() == b.shape() && std::equal(a.begin(), a.end(), b.begin());
}

}  // namespace

TEST_CASE("TrainingData: samples are pure functions of (seed, index); targets are the exact metric") {
  std::vector<AnnotatedFrame<2>> frames;
  frames.push_back(simulated_frame(Shape<2>(96, 96), 9.0, 1, "a"));
  frames.push_back(simulated_frame(Shape<2>(80, 100), 9.0, 2, "b"));
  TrainingDataOptions<2> o;
  o.patch = Shape<2>(48, 48);
  o.metric = "mhd95";
  o.target_diameter = 0;  // no rescaling
  o.simulate_fraction = 0.5;
  const TrainingData<2> data(std::move(frames), o);
  CHECK(data.real_frames() == 2);
  CHECK(data.skipped().empty());
  for (std::uint64_t index : {0u, 3u, 7u, 12u}) {
    CAPTURE(index);
    double t1 = -1, t2 = -2;
    const auto s1 = data.sample(42, index, &t1);
    const auto s2 = data.sample(42, index, &t2);
    CHECK(s1.image.shape() == Shape<2>(48, 48));
    CHECK(same_bytes(s1.image, s2.image));
    CHECK(same_labels(s1.mask, s2.mask));
    CHECK(t1 == t2);
    // The target, recomputed from the sample's own ground truth and perturbed mask.
    const auto m = evaluate_frame(s1.gt.cview(), s1.mask.cview());
    REQUIRE(m.mhd95.has_value());
    CHECK(t1 == doctest::Approx(*m.mhd95).epsilon(1e-12));
    CHECK(t1 == *metric_value(m, "mhd95"));
    // Another seed or index gives another sample.
    double t3 = 0;
    CHECK(!same_bytes(s1.image, data.sample(43, index, &t3).image));
    CHECK(!same_bytes(s1.image, data.sample(42, index + 100, &t3).image));
  }

  // SEG, simulation only: same guarantees, target equal to the SEG of the pair.
  TrainingDataOptions<2> so;
  so.patch = Shape<2>(48, 48);
  so.target_diameter = 16;
  const TrainingData<2> sim({}, so);
  double a = 0, b = 0;
  const auto s1 = sim.sample(9, 5, &a), s2 = sim.sample(9, 5, &b);
  CHECK(same_bytes(s1.image, s2.image));
  CHECK(same_labels(s1.mask, s2.mask));
  CHECK(a == b);
  MetricOptions seg_only;
  seg_only.boundary = false;
  CHECK(a == doctest::Approx(*evaluate_frame(s1.gt.cview(), s1.mask.cview(), seg_only).seg).epsilon(1e-12));
  CHECK_THROWS_AS(TrainingData<2>({}, [] {
                    TrainingDataOptions<2> bad;
                    bad.patch = Shape<2>(48, 48);
                    bad.metric = "dice";
                    return bad;
                  }()),
                  InvalidArgument);
}

TEST_CASE("TrainingData: frames too small after rescaling are skipped and named") {
  std::vector<AnnotatedFrame<2>> frames;
  frames.push_back(simulated_frame(Shape<2>(70, 70), 10.0, 3, "small"));   // diameter ~20 -> x0.5 -> 35 px
  frames.push_back(simulated_frame(Shape<2>(150, 150), 10.0, 4, "large"));  // -> 75 px: fits
  TrainingDataOptions<2> o;
  o.patch = Shape<2>(48, 48);
  o.target_diameter = 10;
  o.simulate = false;
  const TrainingData<2> data(std::move(frames), o);
  REQUIRE(data.skipped().size() == 1);
  CHECK(data.skipped()[0].find("small.tif") != std::string::npos);
  CHECK(data.real_frames() == 1);
  double t = 0;
  const auto s = data.sample(1, 0, &t);
  CHECK(s.image.shape() == Shape<2>(48, 48));
  // Nothing usable and no simulation: a clear error.
  std::vector<AnnotatedFrame<2>> only_small;
  only_small.push_back(simulated_frame(Shape<2>(70, 70), 10.0, 3, "small"));
  CHECK_THROWS_AS(TrainingData<2>(std::move(only_small), o), InvalidArgument);
}

// ------------------------------------------------------------------------------- Trainer

namespace {

TrainingDataOptions<2> tiny_data_options() {
  TrainingDataOptions<2> o;
  o.patch = Shape<2>(48, 48);
  o.target_diameter = 14;
  return o;
}

TrainerOptions tiny_trainer_options(long steps) {
  TrainerOptions t;
  t.batch = 4;
  t.steps = steps;
  t.seed = 5;
  t.validate_every = 1000;
  t.log_every = 1000;
  return t;
}

std::vector<std::vector<float>> snapshot(nn::Network<float, 2>& net) {
  std::vector<std::vector<float>> out;
  for (const auto& p : net.params()) out.emplace_back(p.value->begin(), p.value->end());
  for (const auto& b : net.buffers()) out.emplace_back(b.value->begin(), b.value->end());
  return out;
}

}  // namespace

namespace {

double worst_difference(const std::vector<std::vector<float>>& a, const std::vector<std::vector<float>>& b) {
  REQUIRE(a.size() == b.size());
  double worst = 0;
  for (std::size_t k = 0; k < a.size(); ++k) {
    REQUIRE(a[k].size() == b[k].size());
    for (std::size_t i = 0; i < a[k].size(); ++i)
      worst = std::max(worst, static_cast<double>(std::abs(a[k][i] - b[k][i])));
  }
  return worst;
}

}  // namespace

TEST_CASE("Trainer: N steps straight equal N/2 steps, checkpoint, N/2 more (bit for bit)") {
  TempDir dir;
  const TrainingData<2> data({}, tiny_data_options());
  const long n = 6;
  auto quiet = [](const TrainProgress&) {};
  nn::ModelInfo info;
  info.metric = "seg";

  // N steps straight, a checkpoint written half way.
  nn::Network<float, 2> net(tiny_config<2>(), 3);
  Trainer<2> ta(net, data, tiny_trainer_options(n));
  const auto initial = snapshot(net);
  std::vector<std::vector<float>> at_half;
  ta.run(nullptr, quiet, {}, [&] {
    if (ta.step() == n / 2) {
      ta.save_checkpoint(dir / "half.ckpt", info);
      at_half = snapshot(net);
    }
  });
  CHECK(ta.step() == n);
  const auto straight = snapshot(net);
  CHECK(straight != initial);
  CHECK(straight != at_half);

  // A new Trainer on the same network object loads the checkpoint (weights, BatchNorm
  // statistics, AdamW moments, step, best) and runs the second half again; the next test case
  // does the same with a fresh network, as a resumed process would.
  Trainer<2> tb(net, data, tiny_trainer_options(n));
  tb.load_checkpoint(dir / "half.ckpt");
  CHECK(tb.step() == n / 2);
  CHECK(snapshot(net) == at_half);
  tb.save_checkpoint(dir / "again.ckpt", info);  // the whole state round-trips exactly
  const auto first = nn::read_safetensors(dir / "half.ckpt"), second = nn::read_safetensors(dir / "again.ckpt");
  CHECK(first.metadata == second.metadata);
  REQUIRE(first.tensors.size() == second.tensors.size());
  std::size_t moments = 0;
  for (const auto& [name, t] : first.tensors) {
    CAPTURE(name);
    REQUIRE(second.tensors.count(name) == 1);
    CHECK(std::equal(t.begin(), t.end(), second.tensors.at(name).begin(), second.tensors.at(name).end()));
    moments += name.rfind("adamw.", 0) == 0;
  }
  CHECK(moments == 2 * net.params().size());
  tb.run(nullptr, quiet);
  CHECK(tb.step() == n);
  CHECK(worst_difference(snapshot(net), straight) == 0.0);

  // A checkpoint is also a model file of the weights... but not the other way round.
  nn::save_model(dir / "model.safetensors", net, info);
  Trainer<2> td(net, data, tiny_trainer_options(n));
  CHECK_THROWS_WITH_AS(td.load_checkpoint(dir / "model.safetensors"),
                       doctest::Contains("not a qanet training checkpoint"), IoError);
}

// Bit-exact across Network objects too: no reduction of the CPU engine may depend on where
// the allocator put a buffer or on thread timing (nn/detail/reduce.hpp). Before that was so,
// a run resumed in a fresh process ended about 3e-3 away from the uninterrupted one.
TEST_CASE("Trainer: resumption on a fresh Network object is bit-exact") {
  TempDir dir;
  const TrainingData<2> data({}, tiny_data_options());
  const long n = 6;
  auto quiet = [](const TrainProgress&) {};
  nn::ModelInfo info;
  info.metric = "seg";
  nn::Network<float, 2> a(tiny_config<2>(), 3), b(tiny_config<2>(), 3);
  Trainer<2> ta(a, data, tiny_trainer_options(n)), tb(b, data, tiny_trainer_options(n));
  ta.run(nullptr, quiet, {}, [&] {
    if (ta.step() == n / 2) ta.save_checkpoint(dir / "half.ckpt", info);
  });
  tb.run(nullptr, quiet);
  const double twice = worst_difference(snapshot(a), snapshot(b));
  nn::Network<float, 2> resumed(tiny_config<2>(), 999);
  Trainer<2> tc(resumed, data, tiny_trainer_options(n));
  tc.load_checkpoint(dir / "half.ckpt");
  tc.run(nullptr, quiet);
  const double after_resume = worst_difference(snapshot(resumed), snapshot(a));
  CHECK(twice == 0.0);
  CHECK(after_resume == 0.0);
}

TEST_CASE("Trainer: weight averaging follows its recurrence, is what gets validated, and resumes exactly") {
  TempDir dir;
  const TrainingData<2> data({}, tiny_data_options());
  const long n = 6;
  const double decay = 0.7;
  // The raw weights after every step (the averaging does not touch them), recorded through the
  // checkpoint callback, which runs between steps.
  nn::Network<float, 2> raw_net(tiny_config<2>(), 3);
  Trainer<2> raw(raw_net, data, tiny_trainer_options(n));
  std::vector<std::vector<std::vector<float>>> history;
  raw.run(nullptr, [](const TrainProgress&) {}, {}, [&] { history.push_back(snapshot(raw_net)); });
  REQUIRE(history.size() == static_cast<std::size_t>(n));

  auto opt = tiny_trainer_options(n);
  opt.ema = decay;
  opt.log_every = 1;
  nn::Network<float, 2> net(tiny_config<2>(), 3);
  Trainer<2> t(net, data, opt);
  auto expected = snapshot(net);  // the average starts at the initial weights
  std::vector<std::vector<std::vector<float>>> reported;
  t.run(nullptr, [&](const TrainProgress&) { reported.push_back(snapshot(net)); }, {}, [&] {
    if (t.step() == n / 2) t.save_checkpoint(dir / "half.ckpt", nn::ModelInfo{});
  });
  for (long step = 1; step <= n; ++step) {
    const double d = std::min(decay, (1.0 + static_cast<double>(step)) / (10.0 + static_cast<double>(step)));
    const auto& w = history[static_cast<std::size_t>(step - 1)];
    for (std::size_t k = 0; k < w.size(); ++k)
      for (std::size_t i = 0; i < w[k].size(); ++i)
        expected[k][i] = static_cast<float>(d) * expected[k][i] + static_cast<float>(1.0 - d) * w[k][i];
    CAPTURE(step);
    // Progress callbacks (and so validation and the saved best model) see the average...
    CHECK(worst_difference(reported[static_cast<std::size_t>(step - 1)], expected) < 1e-6);
  }
  // ... while training goes on with the raw weights, which averaging leaves alone.
  CHECK(worst_difference(snapshot(net), history.back()) == 0.0);
  CHECK(worst_difference(snapshot(net), expected) > 1e-4);
  std::vector<std::vector<float>> averaged;
  t.with_average([&] { averaged = snapshot(net); });
  CHECK(worst_difference(averaged, expected) < 1e-6);
  CHECK(worst_difference(snapshot(net), history.back()) == 0.0);

  // Resumed half way in a fresh network: the same raw weights and the same average, bit for bit.
  nn::Network<float, 2> net2(tiny_config<2>(), 9);
  Trainer<2> t2(net2, data, opt);
  t2.load_checkpoint(dir / "half.ckpt");
  t2.run(nullptr, [](const TrainProgress&) {});
  CHECK(worst_difference(snapshot(net2), snapshot(net)) == 0.0);
  std::vector<std::vector<float>> averaged2;
  t2.with_average([&] { averaged2 = snapshot(net2); });
  CHECK(worst_difference(averaged2, averaged) == 0.0);

  // A checkpoint with averaging does not resume a run without (nor with another decay).
  nn::Network<float, 2> net3(tiny_config<2>(), 3);
  Trainer<2> off(net3, data, tiny_trainer_options(n));
  CHECK_THROWS_WITH_AS(off.load_checkpoint(dir / "half.ckpt"), doctest::Contains("weight averaging"), InvalidArgument);
  auto other = opt;
  other.ema = 0.5;
  Trainer<2> t4(net3, data, other);
  CHECK_THROWS_AS(t4.load_checkpoint(dir / "half.ckpt"), InvalidArgument);
  auto bad = opt;
  bad.ema = 1.0;
  CHECK_THROWS_AS(Trainer<2>(net3, data, bad), InvalidArgument);
}

TEST_CASE("Trainer: an object-count model learns both outputs from counting training data, and only from it") {
  auto o = tiny_data_options();
  o.judged_scale = true;
  o.count_objects = true;
  const TrainingData<2> data({}, o);
  nn::Network<float, 2> net(tiny_config<2>(nn::InputEncoding::trinary, 2), 3);
  // The validation targets: the score, then the sample's objects in view / 4.
  const ValidationSet v = make_validation_set(data, 7, 6, nn::InputEncoding::trinary, 2);
  REQUIRE(v.target.shape() == nn::TensorShape({6, 2}));
  CHECK(v.size() == 6);
  for (Index i = 0; i < 6; ++i) {
    double t = 0, objects = 0;
    data.sample(7, static_cast<std::uint64_t>(i), &t, &objects);
    CHECK(v.target[2 * i] == static_cast<float>(t));
    CHECK(v.target[2 * i + 1] == static_cast<float>(objects / 4.0));
    CHECK(objects > 0.0);
  }
  // Its validation MSE is the score's alone: the per-sample mean squared score error.
  Trainer<2> t(net, data, tiny_trainer_options(3));
  t.run(nullptr, [](const TrainProgress&) {});
  const auto y = predict(net, v);
  double mse = 0;
  for (Index i = 0; i < 6; ++i) mse += (y[i] - v.target[2 * i]) * (y[i] - v.target[2 * i]) / 6.0;
  CHECK(t.validate(v) == doctest::Approx(mse));
  // A score-only network with counting data, or a counting one with score-only data, is refused.
  nn::Network<float, 2> one(tiny_config<2>(), 3);
  CHECK_THROWS_AS(Trainer<2>(one, data, tiny_trainer_options(3)), InvalidArgument);
  const TrainingData<2> plain({}, tiny_data_options());
  CHECK_THROWS_AS(Trainer<2>(net, plain, tiny_trainer_options(3)), InvalidArgument);
  // Counting needs a judged scale.
  o.judged_scale = false;
  CHECK_THROWS_AS(TrainingData<2>({}, o), InvalidArgument);
}

TEST_CASE("Trainer: views of false positives alone train the object count, not the score") {
  auto o = tiny_data_options();
  o.judged_scale = true;
  o.count_objects = true;
  o.segmenter_error_probability = 1.0;
  o.false_positive_views = 1.0;
  const TrainingData<2> data({}, o);
  // Such samples come with a NaN score and 0 objects; they are asked for only with the count.
  Index undefined = 0;
  for (std::uint64_t i = 0; i < 60; ++i) {
    double t = 0, objects = -1;
    const auto s = data.sample(7, i, &t, &objects);
    CHECK(s.false_positive_view == std::isnan(t));
    if (s.false_positive_view) {
      ++undefined;
      CHECK(objects == 0.0);
    } else {
      CHECK(objects > 0.0);
    }
    double score_only = NAN;  // without the count asked for, such views are drawn again
    data.sample(7, i, &score_only);
    CHECK(std::isfinite(score_only));
  }
  CHECK(undefined > 0);

  // The squared error's gradient is 0 for a filled target and 2 (y - t) / n for the others.
  nn::Tensor<float> y({3, 2}), target({3, 2});
  const float yv[] = {0.2f, 1.5f, 0.7f, 0.4f, 0.9f, 2.0f};
  const float tv[] = {0.5f, 1.0f, NAN, 0.0f, 0.1f, NAN};
  std::copy(yv, yv + 6, y.data());
  std::copy(tv, tv + 6, target.data());
  fill_undefined_targets(target, y);
  nn::MseLoss<float> mse;
  const double loss = mse.forward(y, target);
  CHECK(loss == doctest::Approx((0.09 + 0.25 + 0.16 + 0.64) / 6.0));
  const auto& g = mse.backward();
  for (int i = 0; i < 6; ++i) {
    CAPTURE(i);
    CHECK(g[i] == doctest::Approx(std::isnan(tv[i]) ? 0.0 : 2.0 * (yv[i] - tv[i]) / 6.0));
  }

  // The validation MSE skips them; training runs (a NaN reaching the loss would stop it).
  const ValidationSet v = make_validation_set(data, 7, 60, nn::InputEncoding::trinary, 2);  // the indices above
  nn::Network<float, 2> net(tiny_config<2>(nn::InputEncoding::trinary, 2), 3);
  Trainer<2> tr(net, data, tiny_trainer_options(3));
  tr.run(nullptr, [](const TrainProgress&) {});
  const auto p = predict(net, v);
  double sum = 0;
  Index n = 0;
  for (Index i = 0; i < 60; ++i)
    if (!std::isnan(v.target[2 * i])) sum += (p[i] - v.target[2 * i]) * (p[i] - v.target[2 * i]), ++n;
  CHECK(n == 60 - undefined);
  CHECK(tr.validate(v) == doctest::Approx(sum / static_cast<double>(n)));
}

TEST_CASE("Trainer: a checkpoint of other settings is refused with a clear message") {
  TempDir dir;
  const TrainingData<2> data({}, tiny_data_options());
  nn::Network<float, 2> net(tiny_config<2>(), 3);
  Trainer<2> t(net, data, tiny_trainer_options(2));
  t.run(nullptr, [](const TrainProgress&) {});
  nn::ModelInfo info;
  info.metric = "seg";
  t.save_checkpoint(dir / "run.ckpt", info);
  const std::string path = (dir / "run.ckpt").string();

  auto other = [&](auto change) {
    nn::Network<float, 2> n2(tiny_config<2>(), 3);
    auto o = tiny_trainer_options(2);
    change(o);
    Trainer<2> t2(n2, data, o);
    t2.load_checkpoint(dir / "run.ckpt");
  };
  CHECK_THROWS_WITH_AS(other([](TrainerOptions& o) { o.steps = 3; }), doctest::Contains("same settings"), InvalidArgument);
  CHECK_THROWS_WITH_AS(other([](TrainerOptions& o) { o.seed = 6; }), doctest::Contains(path.c_str()), InvalidArgument);
  CHECK_THROWS_WITH_AS(other([](TrainerOptions& o) { o.batch = 2; }), doctest::Contains("batch 4"), InvalidArgument);
  // Another architecture: the tensors do not fit.
  auto wide = tiny_config<2>();
  wide.widths = {1, 3, 3, 3, 3};
  nn::Network<float, 2> n3(wide, 3);
  Trainer<2> t3(n3, data, tiny_trainer_options(2));
  CHECK_THROWS_WITH_AS(t3.load_checkpoint(dir / "run.ckpt"), doctest::Contains("another shape"), IoError);
  // Another target metric: the training stream would change meaning.
  auto mo = tiny_data_options();
  mo.metric = "mhd95";
  const TrainingData<2> mdata({}, mo);
  nn::Network<float, 2> n4(tiny_config<2>(), 3);
  Trainer<2> t4(n4, mdata, tiny_trainer_options(2));
  CHECK_THROWS_WITH_AS(t4.load_checkpoint(dir / "run.ckpt"), doctest::Contains("mhd95"), InvalidArgument);
  // Another perturbation mix (another share of systematic boundary offsets).
  auto so = tiny_data_options();
  so.perturb.boundary_shift_probability = 0.5;
  const TrainingData<2> sdata({}, so);
  nn::Network<float, 2> n5(tiny_config<2>(), 3);
  Trainer<2> t5(n5, sdata, tiny_trainer_options(2));
  CHECK_THROWS_WITH_AS(t5.load_checkpoint(dir / "run.ckpt"), doctest::Contains("boundary_shift_probability"), InvalidArgument);
  // Settings that would divide by zero are refused up front.
  auto never = tiny_trainer_options(2);
  never.validate_every = 0;
  CHECK_THROWS_AS(Trainer<2>(net, data, never), InvalidArgument);
}

// ------------------------------------------------------------------------------- datasets

TEST_CASE("find_annotated_files: CTC datasets, one CTC sequence, StarDist folders") {
  TempDir dir;
  LabelImage<2> lab(Shape<2>(8, 8), 1);
  Image<std::uint16_t, 2> img(Shape<2>(8, 8), 7);
  const fs::path ds = dir / "DS";
  for (const char* d : {"01", "01_GT/SEG", "02", "02_GT/SEG", "03", "01_RES"}) fs::create_directories(ds / d);
  write_tiff(ds / "01/t000.tif", img.cview());
  write_tiff(ds / "01/t001.tif", img.cview());
  write_tiff(ds / "01/t002.tif", img.cview());
  write_tiff(ds / "01_GT/SEG/man_seg000.tif", lab.cview());
  write_tiff(ds / "01_GT/SEG/man_seg002.tif", lab.cview());
  write_tiff(ds / "01_GT/SEG/man_seg_001_003.tif", lab.cview());  // one plane: not a whole frame
  write_tiff(ds / "02/t0005.tif", img.cview());                    // 4 digits pair with 3
  write_tiff(ds / "02_GT/SEG/man_seg005.tif", lab.cview());
  write_tiff(ds / "02_GT/SEG/man_seg006.tif", lab.cview());  // no image: ignored
  write_tiff(ds / "03/t000.tif", img.cview());                // no GT at all
  write_tiff(ds / "01_RES/mask000.tif", lab.cview());

  auto files = find_annotated_files(ds);
  REQUIRE(files.size() == 3);
  CHECK(files[0].image == ds / "01/t000.tif");
  CHECK(files[0].labels == ds / "01_GT/SEG/man_seg000.tif");
  CHECK(files[0].sequence == "DS/01");
  CHECK(files[1].image == ds / "01/t002.tif");
  CHECK(files[2].image == ds / "02/t0005.tif");
  CHECK(files[2].sequence == "DS/02");

  // One sequence folder NN, with or without a trailing slash.
  for (const fs::path& one : {ds / "01", fs::path((ds / "01").string() + "/")}) {
    CAPTURE(one);
    files = find_annotated_files(one);
    REQUIRE(files.size() == 2);
    CHECK(files[0].sequence == "DS/01");
    CHECK(files[1].labels == ds / "01_GT/SEG/man_seg002.tif");
  }
  CHECK_THROWS_AS(find_annotated_files(ds / "03"), IoError);  // a sequence without GT
  // Relative paths ("01" in the dataset folder, "." inside the sequence) name it the same way.
  const fs::path cwd = fs::current_path();
  fs::current_path(ds);
  const auto rel = find_annotated_files("01");
  REQUIRE(rel.size() == 2);
  CHECK(read_annotated_frame<2>(rel[0]).labels(0, 0) == 1);  // paths usable from there
  fs::current_path(ds / "01");
  const auto dot = find_annotated_files(".");
  fs::current_path(cwd);
  CHECK(rel[0].sequence == "DS/01");
  REQUIRE(dot.size() == 2);
  CHECK(dot[1].sequence == "DS/01");

  // StarDist: images/NAME with masks/NAME, each file its own sequence.
  const fs::path sd = dir / "nuclei";
  fs::create_directories(sd / "images");
  fs::create_directories(sd / "masks");
  for (const char* n : {"a.tif", "b.tif", "c.tif"}) write_tiff(sd / "images" / n, img.cview());
  for (const char* n : {"a.tif", "b.tif"}) write_tiff(sd / "masks" / n, lab.cview());
  files = find_annotated_files(sd);
  REQUIRE(files.size() == 2);
  CHECK(files[0].image == sd / "images/a.tif");
  CHECK(files[0].labels == sd / "masks/a.tif");
  CHECK(files[0].sequence == "nuclei/a");
  CHECK(files[1].sequence == "nuclei/b");
  const auto frame = read_annotated_frame<2>(files[1]);
  CHECK(frame.image.shape() == Shape<2>(8, 8));
  CHECK(frame.image(0, 0) == 7.0f);
  CHECK(frame.sequence == "nuclei/b");

  // Errors name the folder or files.
  fs::create_directories(dir / "empty");
  CHECK_THROWS_WITH_AS(find_annotated_files(dir / "empty"), doctest::Contains("empty"), IoError);
  CHECK_THROWS_WITH_AS(find_annotated_files(dir / "absent"), doctest::Contains("not a folder"), IoError);
  write_tiff(sd / "masks/c.tif", LabelImage<2>(Shape<2>(8, 9), 1).cview());
  files = find_annotated_files(sd);
  REQUIRE(files.size() == 3);
  CHECK_THROWS_WITH_AS(read_annotated_frame<2>(files[2]), doctest::Contains("c.tif"), InvalidArgument);
}

// ------------------------------------------------------------------------------- command line

namespace {

// Tensors of a safetensors file, by name.
std::map<std::string, std::vector<float>> tensors_of(const fs::path& p) {
  std::map<std::string, std::vector<float>> out;
  for (auto& [name, t] : nn::read_safetensors(p).tensors) out[name] = std::vector<float>(t.begin(), t.end());
  return out;
}


}  // namespace


#ifdef QANET_CLI
namespace {


// The settings of the small CLI runs below.
const std::string train_args = "train --preset small --steps 4 --batch 2 --simulate 4 --val-samples 4 --validate-every 1 --quiet";

}  // namespace

TEST_CASE("qanet train: model, checkpoint and log; --resume continues bit for bit; mismatched resume refused") {
  TempDir dir;
  const fs::path a = dir / "a.safetensors";
  CliResult r = qanet_cli(train_args + " --out " + q(a));
  REQUIRE_MESSAGE(r.status == 0, r.out);
  CHECK(fs::exists(a));
  CHECK(fs::exists(dir / "a.safetensors.ckpt"));
  REQUIRE(fs::exists(dir / "a.safetensors.log.csv"));
  CHECK(read_text(dir / "a.safetensors.curve.svg").rfind("<svg", 0) == 0);
  // The log: a header and one line per step (validation every step).
  const std::string log = read_text(dir / "a.safetensors.log.csv");
  CHECK(log.rfind("step,epoch,loss,val_mse,best_val_mse,lr,samples_per_s,seconds\n", 0) == 0);
  CHECK(std::count(log.begin(), log.end(), '\n') == 5);
  const nn::ModelInfo info = nn::read_model_info(a);
  CHECK(info.metric == "seg");
  CHECK(info.training["target_diameter"].get<double>() == doctest::Approx(40.0));
  CHECK(info.training["steps"] == 4);
  const Assessor<2> loaded(a);  // the model file is usable as it is
  CHECK(loaded.target_diameter() == doctest::Approx(40.0));

  // A checkpoint of the same run half way, written through the API with the CLI's settings
  // (preset small, diameter 128 / 3.2, simulation only, seed 1); the CLI resumes it and must
  // end where the straight CLI run ended, bit for bit.
  {
    const nn::ModelConfig cfg = nn::model_preset(nn::Architecture::ribcage, "small", 2);
    TrainingDataOptions<2> o;
    o.patch = Shape<2>(128, 128);
    o.target_diameter = info.training["target_diameter"].get<double>();
    o.simulate_fraction = 1.0;
    o.clean_probability = 0.05;  // the CLI's --clean-masks, --scale-jitter, --judged-scale, --whole-object-seg defaults
    o.scale_jitter = 1.3;
    o.judged_scale = true;
    o.whole_object_seg = true;
    const TrainingData<2> data({}, o);
    nn::Network<float, 2> net(cfg, 1);
    TrainerOptions t;
    t.batch = 2, t.steps = 4, t.seed = 1, t.validate_every = 1;
    Trainer<2> trainer(net, data, t);
    nn::ModelInfo mi;
    mi.metric = "seg";
    trainer.run(nullptr, [](const TrainProgress&) {}, {}, [&] {
      if (trainer.step() == 2) trainer.save_checkpoint(dir / "half.ckpt", mi);
    });
  }
  const fs::path b = dir / "b.safetensors";
  r = qanet_cli(train_args + " --out " + q(b) + " --resume " + q(dir / "half.ckpt"));
  REQUIRE_MESSAGE(r.status == 0, r.out);
  CHECK(r.out.find("resumed") != std::string::npos);
  CHECK(r.out.find("at step 2") != std::string::npos);
  CHECK(nn::read_safetensors(dir / "b.safetensors.ckpt").metadata.at("checkpoint_step") == "4");
  CHECK(fs::exists(b));
  const std::string blog = read_text(dir / "b.safetensors.log.csv");
  CHECK(std::count(blog.begin(), blog.end(), '\n') == 3);  // header, steps 3 and 4
  CHECK(blog.find("\n3,") != std::string::npos);
  // The straight run and the resumed one end bit for bit equal (weights, statistics, moments).
  const auto straight = tensors_of(dir / "a.safetensors.ckpt"), resumed = tensors_of(dir / "b.safetensors.ckpt");
  REQUIRE(straight.size() == resumed.size());
  double worst = 0;
  for (const auto& [name, v] : straight) {
    CAPTURE(name);
    REQUIRE(resumed.count(name) == 1);
    for (std::size_t i = 0; i < v.size(); ++i) worst = std::max(worst, static_cast<double>(std::abs(resumed.at(name)[i] - v[i])));
  }
  CHECK(worst == 0.0);

  // Other settings than the checkpoint's: refused, naming the file and what differs.
  r = qanet_cli(train_args + " --out " + q(dir / "c.safetensors") + " --seed 2 --resume " + q(dir / "a.safetensors.ckpt"));
  CHECK(r.status == 1);
  CHECK(r.out.find("a.safetensors.ckpt") != std::string::npos);
  CHECK(r.out.find("same settings") != std::string::npos);
  r = qanet_cli("train --preset small --steps 4 --batch 2 --simulate 4 --val-samples 4 --metric mhd95 --quiet --out " +
                q(dir / "c.safetensors") + " --resume " + q(dir / "a.safetensors.ckpt"));
  CHECK(r.status == 1);
  CHECK(r.out.find("mhd95") != std::string::npos);
  // A model file is no checkpoint.
  r = qanet_cli(train_args + " --out " + q(dir / "c.safetensors") + " --resume " + q(a));
  CHECK(r.status == 1);
  CHECK(r.out.find("not a qanet training checkpoint") != std::string::npos);
}

TEST_CASE("qanet train --init starts from a model's weights; another architecture is refused") {
  TempDir dir;
  const fs::path a = dir / "a.safetensors";
  CliResult r = qanet_cli(train_args + " --out " + q(a));
  REQUIRE_MESSAGE(r.status == 0, r.out);
  // One step at a vanishing learning rate: the weights stay those of the initial model (the
  // BatchNorm running statistics move, they are not compared).
  const fs::path b = dir / "b.safetensors";
  r = qanet_cli("train --preset small --steps 1 --batch 2 --simulate 4 --val-samples 4 --lr 1e-30 --quiet --seed 5"
                " --init " + q(a) + " --out " + q(b));
  REQUIRE_MESSAGE(r.status == 0, r.out);
  const auto start = tensors_of(a), tuned = tensors_of(dir / "b.safetensors.last.safetensors");
  for (const char* name : {"image_rib.0.conv.weight", "spine.3.conv.bias", "head.2.weight"}) {
    CAPTURE(name);
    REQUIRE(start.count(name) == 1);
    CHECK(tuned.at(name) == start.at(name));
  }
  CHECK(nn::read_model_info(b).training["init"].get<std::string>() == a.string());
  // Seed 5 alone (no --init) would start elsewhere: the check above can fail.
  r = qanet_cli("train --preset small --steps 1 --batch 2 --simulate 4 --val-samples 4 --lr 1e-30 --quiet --seed 5"
                " --out " + q(dir / "c.safetensors"));
  REQUIRE(r.status == 0);
  CHECK(tensors_of(dir / "c.safetensors.last.safetensors").at("image_rib.0.conv.weight") != start.at("image_rib.0.conv.weight"));
  r = qanet_cli("train --preset small --architecture siamese --steps 1 --batch 2 --simulate 4 --val-samples 4 --quiet"
                " --init " + q(a) + " --out " + q(dir / "d.safetensors"));
  CHECK(r.status == 1);
  CHECK(r.out.find("--init") != std::string::npos);
  CHECK(r.out.find("siamese") != std::string::npos);
}

TEST_CASE("qanet score: one image, a CTC folder, flags, heat maps and errors") {
  TempDir dir;
  const fs::path model = dir / "tiny.safetensors";
  write_tiny_model<2>(model);
  const Assessor<2> assessor(model);
  fs::create_directories(dir / "01");
  fs::create_directories(dir / "01_RES");
  std::vector<double> expect;
  std::vector<Index> objects;
  for (int t = 0; t < 3; ++t) {
    const Scene<2> sc = scene_2d(50 + static_cast<std::uint64_t>(t));
    Image<std::uint16_t, 2> img(sc.image.shape());
    for (Index i = 0; i < img.size(); ++i) img[i] = static_cast<std::uint16_t>(std::lround(sc.image[i]));
    LabelImage<2> mask = sc.labels;
    if (t == 2)  // fewer objects: a different weight in the pooled score
      for (auto& v : mask)
        if (v != 3 && v != 9) v = 0;
    write_tiff(dir / ("01/t00" + std::to_string(t) + ".tif"), img.cview());
    write_tiff(dir / ("01_RES/mask00" + std::to_string(t) + ".tif"), mask.cview());
    const auto a = assessor.assess(Image<float, 2>::from_view(img.cview()).cview(), mask.cview());
    expect.push_back(a.score);
    objects.push_back(a.objects);
  }
  CHECK(objects == std::vector<Index>{7, 7, 2});

  // One image and mask.
  CliResult r = qanet_cli("score --json --model " + q(model) + " --image " + q(dir / "01/t000.tif") + " --mask " +
                          q(dir / "01_RES/mask000.tif"));
  REQUIRE_MESSAGE(r.status == 0, r.out);
  json j = json::parse(r.out);
  CHECK(j["score"].get<double>() == doctest::Approx(expect[0]).epsilon(1e-6));
  CHECK(j["objects"] == 7);
  CHECK(j["metric"] == "seg");
  CHECK(j["patches"].size() > 1);
  // The model comes from QANET_MODEL when --model is absent.
  r = {0, run_command("QANET_MODEL=" + q(model) + " " + std::string(QANET_CLI) + " score --json --image " +
                          q(dir / "01/t000.tif") + " --mask " + q(dir / "01_RES/mask000.tif"))};
  CHECK(json::parse(r.out)["score"].get<double>() == doctest::Approx(expect[0]).epsilon(1e-6));

  // A folder: frames paired by number, pooled by object counts; an empty mask is reported
  // (null score, its reason) and left out of the pool.
  write_tiff(dir / "01/t003.tif", Image<std::uint16_t, 2>(Shape<2>(100, 90), 100).cview());
  write_tiff(dir / "01_RES/mask003.tif", LabelImage<2>(Shape<2>(100, 90)).cview());
  r = qanet_cli("score --json --model " + q(model) + " --images " + q(dir / "01") + " --masks " + q(dir / "01_RES") +
                " --flag-below 2 --heatmap " + q(dir / "maps") + " 2>/dev/null");
  REQUIRE_MESSAGE(r.status == 0, r.out);
  j = json::parse(r.out);
  REQUIRE(j["frames"].size() == 4);
  for (int t = 0; t < 3; ++t) {
    CAPTURE(t);
    CHECK(j["frames"][t]["frame"] == t);
    CHECK(j["frames"][t]["score"].get<double>() == doctest::Approx(expect[static_cast<std::size_t>(t)]).epsilon(1e-6));
    CHECK(j["frames"][t]["objects"] == objects[static_cast<std::size_t>(t)]);
    CHECK(j["frames"][t]["mask"].get<std::string>().find("mask00" + std::to_string(t) + ".tif") != std::string::npos);
    CHECK(j["frames"][t]["image"].get<std::string>().find("t00" + std::to_string(t) + ".tif") != std::string::npos);
    CHECK(is_png(dir / "maps" / ("mask00" + std::to_string(t) + "_quality.png")));
  }
  CHECK(j["frames"][3]["score"].is_null());
  CHECK(j["frames"][3]["objects"] == 0);
  CHECK(j["frames"][3]["error"].get<std::string>().find("no object") != std::string::npos);
  CHECK(!fs::exists(dir / "maps" / "mask003_quality.png"));
  const double pooled = (expect[0] * 7 + expect[1] * 7 + expect[2] * 2) / 16.0;
  CHECK(j["score"].get<double>() == doctest::Approx(pooled).epsilon(1e-6));
  CHECK(j["objects"] == 16);
  // Every scored frame and every patch lies below 2 (SEG <= 1): all flagged.
  std::size_t patches = 0;
  for (int t = 0; t < 3; ++t) {
    const auto one = json::parse(qanet_cli("score --json --model " + q(model) + " --image " +
                                           q(dir / ("01/t00" + std::to_string(t) + ".tif")) + " --mask " +
                                           q(dir / ("01_RES/mask00" + std::to_string(t) + ".tif")) + " 2>/dev/null")
                                     .out);
    patches += one["patches"].size();
  }
  CHECK(j["flagged"].size() == 3 + patches);
  // A threshold below every score flags nothing; the text output says so.
  r = qanet_cli("score --model " + q(model) + " --images " + q(dir / "01") + " --masks " + q(dir / "01_RES") +
                " --flag-below -1");
  CHECK(r.status == 0);
  CHECK(r.out.find("0 flagged") != std::string::npos);
  CHECK(r.out.find("mask003.tif not scored") != std::string::npos);
  // The worst frame by a threshold between the scores: only frames under it are listed.
  const double mid = 0.5 * (*std::min_element(expect.begin(), expect.end()) + *std::max_element(expect.begin(), expect.end()));
  r = qanet_cli("score --json --model " + q(model) + " --images " + q(dir / "01") + " --masks " + q(dir / "01_RES") +
                " --flag-below " + std::to_string(mid) + " 2>/dev/null");
  j = json::parse(r.out);
  std::size_t frames_flagged = 0;
  for (const auto& f : j["flagged"]) {
    CHECK(f["score"].get<double>() < mid);
    frames_flagged += f.contains("patch_origin") ? 0 : 1;
  }
  CHECK(frames_flagged == static_cast<std::size_t>(std::count_if(expect.begin(), expect.end(), [&](double s) { return s < mid; })));

  // Errors: a mask without its image names the mask; only empty masks; bad arguments.
  write_tiff(dir / "01_RES/mask007.tif", LabelImage<2>(Shape<2>(100, 90), 1).cview());
  r = qanet_cli("score --model " + q(model) + " --images " + q(dir / "01") + " --masks " + q(dir / "01_RES"));
  CHECK(r.status == 1);
  CHECK(r.out.find("mask007.tif") != std::string::npos);
  CHECK(r.out.find("t7") != std::string::npos);
  r = qanet_cli("score --model " + q(model) + " --image " + q(dir / "01/t003.tif") + " --mask " + q(dir / "01_RES/mask003.tif"));
  CHECK(r.status == 1);
  CHECK(r.out.find("no object") != std::string::npos);
  r = qanet_cli("score --model " + q(model) + " --image " + q(dir / "01/t000.tif") + " --mask " + q(dir / "absent.tif"));
  CHECK(r.status == 1);
  CHECK(r.out.find("absent.tif") != std::string::npos);
  write_tiff(dir / "narrow.tif", LabelImage<2>(Shape<2>(100, 80), 1).cview());
  r = qanet_cli("score --model " + q(model) + " --image " + q(dir / "01/t000.tif") + " --mask " + q(dir / "narrow.tif"));
  CHECK(r.status == 1);
  CHECK(r.out.find("narrow.tif") != std::string::npos);
  CHECK(r.out.find("t000.tif") != std::string::npos);
  r = qanet_cli("score --model " + q(model) + " --image " + q(dir / "01/t000.tif"));
  CHECK(r.status == 1);
  CHECK(r.out.find("--mask") != std::string::npos);
  r = qanet_cli("score --model " + q(dir / "none.safetensors") + " --image " + q(dir / "01/t000.tif") + " --mask " +
                q(dir / "01_RES/mask000.tif"));
  CHECK(r.status == 1);
  CHECK(r.out.find("none.safetensors") != std::string::npos);
}

TEST_CASE("qanet evaluate on qanet simulate output: Table 1 statistics and plots") {
  TempDir dir;
  const fs::path model = dir / "tiny.safetensors";
  write_tiny_model<2>(model);
  CliResult r = qanet_cli("simulate --quiet --frames 2 --perturbations 2 --size 160,160 --out " + q(dir / "sim"));
  REQUIRE_MESSAGE(r.status == 0, r.out);
  r = qanet_cli("evaluate --json --model " + q(model) + " --data " + q(dir / "sim") + " --plots " + q(dir / "plots") +
                " 2>/dev/null");
  REQUIRE_MESSAGE(r.status == 0, r.out);
  const json j = json::parse(r.out);
  for (const char* k : {"pearson", "spearman", "mae", "rmse", "bias", "auc", "n"}) {
    CAPTURE(k);
    CHECK(j.contains(k));
  }
  CHECK(j["n"] == 4);
  // Recompute every pair: the true SEG from the files, the prediction with the Assessor.
  const Assessor<2> assessor(model);
  REQUIRE(j["samples"].size() == 4);
  double mae = 0, bias = 0, se = 0, auc = 0;
  for (const auto& s : j["samples"]) {
    const fs::path res = s["result"].get<std::string>();
    const std::string name = res.filename().string();  // maskTTT.tif
    const std::string ttt = name.substr(4, 3);
    const auto gt = read_labels<2>(dir / "sim/01_GT/SEG" / ("man_seg" + ttt + ".tif"));
    const auto mask = read_labels<2>(res);
    const auto img = read_tiff_as<float, 2>(dir / "sim/01" / ("t" + ttt + ".tif"));
    MetricOptions mo;
    mo.boundary = false;
    const double truth = *evaluate_frame(gt.cview(), mask.cview(), mo).seg;
    const double pred = assessor.assess(img.cview(), mask.cview()).score;
    CHECK(s["true"].get<double>() == doctest::Approx(truth).epsilon(1e-12));
    CHECK(s["predicted"].get<double>() == doctest::Approx(pred).epsilon(1e-6));
    mae += std::abs(pred - truth) / 4, bias += (pred - truth) / 4, se += (pred - truth) * (pred - truth) / 4;
    auc += (1.0 - std::min(std::abs(pred - truth), 1.0)) / 4;  // area under the hit rate on [0, 1]
  }
  CHECK(j["mae"].get<double>() == doctest::Approx(mae).epsilon(1e-6));
  CHECK(j["bias"].get<double>() == doctest::Approx(bias).epsilon(1e-6));
  CHECK(j["rmse"].get<double>() == doctest::Approx(std::sqrt(se)).epsilon(1e-6));
  CHECK(j["auc"].get<double>() == doctest::Approx(auc).epsilon(1e-6));
  for (const char* f : {"scatter.svg", "hit_rate.svg"}) {
    CAPTURE(f);
    const std::string svg = read_text(dir / "plots" / f);
    CHECK(svg.rfind("<svg", 0) == 0);
    CHECK(svg.find("</svg>") != std::string::npos);
  }
  // Text output, and a folder without triples.
  r = qanet_cli("evaluate --model " + q(model) + " --data " + q(dir / "sim") + " 2>/dev/null");
  CHECK(r.status == 0);
  CHECK(r.out.find("Pearson") != std::string::npos);
  fs::create_directories(dir / "nothing");
  r = qanet_cli("evaluate --model " + q(model) + " --data " + q(dir / "nothing"));
  CHECK(r.status == 1);
  CHECK(r.out.find("no (image, result, ground truth) triple") != std::string::npos);
}

TEST_CASE("qanet calibrate stores the least-squares line of true on raw scores; evaluate --gt perturbs annotated frames") {
  TempDir dir;
  // The bundled model without its recalibration: raw scores that rise with the true SEG.
  const fs::path raw = dir / "raw.safetensors", cal = dir / "cal.safetensors", again = dir / "again.safetensors";
  {
    nn::ModelInfo info;
    auto net = nn::load_model<float, 2>(fs::path(QANET_SOURCE_DIR) / "models/qanet-seg-2d-small.safetensors", &info);
    info.training.erase("calibration");
    nn::save_model(raw, net, info);
  }
  CliResult r = qanet_cli("simulate --quiet --frames 3 --perturbations 3 --size 256,256 --seed 5 --out " + q(dir / "sim"));
  REQUIRE_MESSAGE(r.status == 0, r.out);
  r = qanet_cli("evaluate --json --model " + q(raw) + " --data " + q(dir / "sim") + " 2>/dev/null");
  REQUIRE_MESSAGE(r.status == 0, r.out);
  const json j = json::parse(r.out);
  REQUIRE(j["samples"].size() == 9);
  // The line by the normal equations (least_squares_line centres the sums instead).
  double n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (const auto& s : j["samples"]) {
    const double x = s["predicted"].get<double>(), y = s["true"].get<double>();
    n += 1, sx += x, sy += y, sxx += x * x, sxy += x * y;
  }
  const double slope = (n * sxy - sx * sy) / (n * sxx - sx * sx), intercept = (sy - slope * sx) / n;
  REQUIRE(slope > 0);

  r = qanet_cli("calibrate --model " + q(raw) + " --data " + q(dir / "sim") + " --out " + q(cal) + " 2>/dev/null");
  REQUIRE_MESSAGE(r.status == 0, r.out);
  CHECK(r.out.find("fitted on 9 frames") != std::string::npos);
  const auto c = nn::read_model_info(cal).training["calibration"];
  CHECK(c["slope"].get<double>() == doctest::Approx(slope).epsilon(1e-6));
  CHECK(c["intercept"].get<double>() == doctest::Approx(intercept).epsilon(1e-6));
  CHECK(c["frames"] == 9);
  CHECK(Assessor<2>(cal).calibration().slope == c["slope"].get<double>());
  // Recalibrating a calibrated model fits on its raw output again: the same line.
  r = qanet_cli("calibrate --model " + q(cal) + " --data " + q(dir / "sim") + " --out " + q(again) + " 2>/dev/null");
  REQUIRE_MESSAGE(r.status == 0, r.out);
  CHECK(nn::read_model_info(again).training["calibration"]["slope"].get<double>() ==
        doctest::Approx(slope).epsilon(1e-6));
  // Interval residuals, by brute force: each frame under the line (normal equations) of the
  // frames of the other folds, five folds by image name, the prediction clamped to [0, 1].
  {
    std::vector<double> xs, ys;
    std::vector<std::uint64_t> folds;
    for (const auto& s : j["samples"]) {
      xs.push_back(s["predicted"].get<double>()), ys.push_back(s["true"].get<double>());
      const std::string mask = fs::path(s["result"].get<std::string>()).filename().string();  // maskTTT.tif
      folds.push_back(stable_hash("01/t" + mask.substr(4)) % 5);
    }
    std::vector<double> expected;
    for (std::size_t i = 0; i < xs.size(); ++i) {
      double m = 0, mx = 0, my = 0, mxx = 0, mxy = 0;
      for (std::size_t k = 0; k < xs.size(); ++k)
        if (folds[k] != folds[i]) m += 1, mx += xs[k], my += ys[k], mxx += xs[k] * xs[k], mxy += xs[k] * ys[k];
      if (m == 0) break;  // one fold only: no residuals
      const double b = (m * mxy - mx * my) / (m * mxx - mx * mx), a = (my - b * mx) / m;
      expected.push_back(std::abs(ys[i] - std::clamp(a + b * xs[i], 0.0, 1.0)));
    }
    std::sort(expected.begin(), expected.end());
    if (expected.size() == xs.size()) {
      REQUIRE(c.contains("residuals"));
      REQUIRE(c["residuals"].size() == 9);
      for (std::size_t i = 0; i < 9; ++i) CHECK(c["residuals"][i].get<double>() == doctest::Approx(expected[i]).epsilon(1e-5));
      // qanet score: the 90% interval is [s - q, s + q] within [0, 1], q the 9th smallest of 9
      // residuals (ceil(10 * 0.9) = 9); at 95% too few residuals: the whole range.
      r = qanet_cli("score --json --model " + q(cal) + " --images " + q(dir / "sim" / "01") + " --masks " +
                    q(dir / "sim" / "01_RES_p1"));
      REQUIRE_MESSAGE(r.status == 0, r.out);
      const json sj = json::parse(r.out);
      CHECK(sj["coverage"].get<double>() == 0.9);
      for (const auto& f : sj["frames"]) {
        const double sc = f["score"].get<double>();
        CHECK(f["interval"][0].get<double>() == doctest::Approx(std::max(0.0, sc - expected[8])).epsilon(1e-5));
        CHECK(f["interval"][1].get<double>() == doctest::Approx(std::min(1.0, sc + expected[8])).epsilon(1e-5));
      }
      r = qanet_cli("score --coverage 0.95 --model " + q(cal) + " --images " + q(dir / "sim" / "01") + " --masks " +
                    q(dir / "sim" / "01_RES_p1"));
      REQUIRE_MESSAGE(r.status == 0, r.out);
      CHECK(r.out.find("[0.0000, 1.0000]") != std::string::npos);
      // qanet evaluate reports how often the intervals hold the truth.
      r = qanet_cli("evaluate --json --model " + q(cal) + " --data " + q(dir / "sim") + " 2>/dev/null");
      REQUIRE_MESSAGE(r.status == 0, r.out);
      const json ev = json::parse(r.out);
      std::size_t held = 0;
      for (const auto& s : ev["samples"]) {
        const double p = s["predicted"].get<double>(), t = s["true"].get<double>();
        held += std::max(0.0, p - expected[8]) <= t && t <= std::min(1.0, p + expected[8]);
      }
      CHECK(ev["intervals"]["frames"]["n"] == 9);
      CHECK(ev["intervals"]["frames"]["covered"].get<double>() == doctest::Approx(held / 9.0));
    } else {
      CHECK_FALSE(c.contains("residuals"));
    }
  }
  // The calibrated model's frame scores: the weighted mean of the mapped patch scores, each
  // clamped to [0, 1], so the mapped raw frame score wherever no patch reaches a bound.
  r = qanet_cli("evaluate --json --model " + q(cal) + " --data " + q(dir / "sim") + " 2>/dev/null");
  REQUIRE_MESSAGE(r.status == 0, r.out);
  const json jc = json::parse(r.out);
  for (std::size_t i = 0; i < 9; ++i) {
    const double x = j["samples"][i]["predicted"].get<double>(), y = jc["samples"][i]["predicted"].get<double>();
    CAPTURE(x);
    if (intercept + slope * x > 0.2 && intercept + slope * x < 0.8)
      CHECK(y == doctest::Approx(intercept + slope * x).epsilon(0.05));
  }

  // --gt: K perturbed copies of each annotated frame, the same wherever the data lies.
  fs::create_directories(dir / "elsewhere" / "sim");
  fs::copy(dir / "sim" / "01", dir / "elsewhere" / "sim" / "01", fs::copy_options::recursive);
  fs::copy(dir / "sim" / "01_GT", dir / "elsewhere" / "sim" / "01_GT", fs::copy_options::recursive);
  auto samples = [&](const fs::path& data, const std::string& seed) {
    const CliResult e = qanet_cli("evaluate --json --model " + q(raw) + " --gt " + q(data) + " --perturbations 2 --seed " +
                                  seed + " 2>/dev/null");
    REQUIRE_MESSAGE(e.status == 0, e.out);
    const json ej = json::parse(e.out);
    std::vector<std::pair<double, double>> v;
    for (const auto& s : ej["samples"]) v.emplace_back(s["true"].get<double>(), s["predicted"].get<double>());
    return v;
  };
  const auto here = samples(dir / "sim", "3"), there = samples(dir / "elsewhere" / "sim", "3"), other = samples(dir / "sim", "4");
  CHECK(here.size() == 6);
  CHECK(here == there);
  CHECK(here != other);
  for (const auto& [t, p] : here) CHECK((t >= 0 && t <= 1 && p >= 0 && p <= 1));
  // --clean-copies adds every annotated frame's ground truth as a mask: true SEG 1, predicted as
  // qanet score predicts that frame with the ground truth as its mask.
  {
    const CliResult e = qanet_cli("evaluate --json --model " + q(raw) + " --gt " + q(dir / "sim") +
                                  " --perturbations 2 --seed 3 --clean-copies 2>/dev/null");
    REQUIRE_MESSAGE(e.status == 0, e.out);
    const json ej = json::parse(e.out);
    CHECK(ej["samples"].size() == 9);
    int clean = 0;
    for (const auto& smp : ej["samples"]) {
      const std::string name = smp["result"].get<std::string>();
      if (name.find(" perturbed") != std::string::npos) continue;  // "GT perturbed (seed S)"
      const fs::path gt = name;
      ++clean;
      CHECK(smp["true"].get<double>() == 1.0);
      const std::string t = gt.stem().string().substr(std::string("man_seg").size());
      const CliResult sc = qanet_cli("score --json --model " + q(raw) + " --image " + q(dir / "sim" / "01" / ("t" + t + ".tif")) +
                                     " --mask " + q(gt));
      REQUIRE_MESSAGE(sc.status == 0, sc.out);
      CHECK(smp["predicted"].get<double>() == doctest::Approx(json::parse(sc.out)["score"].get<double>()).epsilon(1e-9));
    }
    CHECK(clean == 3);
  }
  // Neither results nor annotated frames: refused.
  r = qanet_cli("calibrate --model " + q(raw) + " --out " + q(dir / "x.safetensors"));
  CHECK(r.status == 1);
  CHECK(r.out.find("--gt") != std::string::npos);
  CHECK(!fs::exists(dir / "x.safetensors"));
}
#endif

// ------------------------------------------------------------------------------- embedding example

#ifdef QANET_EMBED_EXAMPLE
TEST_CASE("qanet demo: report, plots, a severity-0 mask with true SEG 1, truths falling with severity") {
  TempDir dir;
  write_tiny_model<2>(dir / "m.safetensors", 14);
  const CliResult r = qanet_cli("demo --frames 1 --seed 7 --out " + q(dir / "report") + " --model " + q(dir / "m.safetensors"));
  REQUIRE_MESSAGE(r.status == 0, r.out);
  CHECK(fs::exists(dir / "report" / "report.md"));
  CHECK(read_text(dir / "report" / "scatter.svg").rfind("<svg", 0) == 0);
  CHECK(read_text(dir / "report" / "hit_rate.svg").rfind("<svg", 0) == 0);
  // The table: image, severity, objects, true SEG, predicted, error; one row per severity.
  std::istringstream lines(r.out);
  std::string line;
  std::vector<std::pair<double, double>> rows;  // severity, true SEG
  while (std::getline(lines, line)) {
    std::istringstream f(line);
    int image = -1;
    double severity = -1, truth = -1;
    long long objects = -1;
    if (f >> image >> severity >> objects >> truth && image == 0) rows.emplace_back(severity, truth);
  }
  REQUIRE(rows.size() == 8);
  CHECK(rows.front().first == 0.0);
  CHECK(rows.front().second == doctest::Approx(1.0));  // the unperturbed mask is the ground truth
  CHECK(rows.back().first == 1.0);
  CHECK(rows.back().second < 0.8);
  // A model of another metric is refused with a message.
  nn::Network<float, 2> net(tiny_config<2>(), 3);
  nn::ModelInfo info;
  info.metric = "mhd95";
  nn::save_model(dir / "d.safetensors", net, info);
  const CliResult bad = qanet_cli("demo --frames 1 --out " + q(dir / "r2") + " --model " + q(dir / "d.safetensors"));
  CHECK(bad.status != 0);
  CHECK(bad.out.find("SEG model") != std::string::npos);
}

TEST_CASE("the embedding example scores its toy pipeline's masks from several threads") {
  TempDir dir;
  write_tiny_model<2>(dir / "tiny.safetensors");
  int status = -1;
  std::string out = run_command(std::string(QANET_EMBED_EXAMPLE) + " " + q(dir / "tiny.safetensors") + " 2>&1", &status);
  REQUIRE_MESSAGE(status == 0, out);
  CHECK(out.find("simulated frame 0") != std::string::npos);
  CHECK(out.find("simulated frame 3") != std::string::npos);
  CHECK(out.find("of 4 masks accepted") != std::string::npos);
  // The model may also come from QANET_MODEL; no model at all is a usage error.
  out = run_command("QANET_MODEL=" + q(dir / "tiny.safetensors") + " " + std::string(QANET_EMBED_EXAMPLE) + " 2>&1", &status);
  CHECK(status == 0);
  out = run_command("env -u QANET_MODEL " + std::string(QANET_EMBED_EXAMPLE) + " 2>&1", &status);
  CHECK(status == 2);
  CHECK(out.find("usage") != std::string::npos);
  // A TIFF given on the command line.
  const Scene<2> sc = scene_2d();
  write_tiff(dir / "cells.tif", sc.image.cview());
  out = run_command(std::string(QANET_EMBED_EXAMPLE) + " " + q(dir / "tiny.safetensors") + " " + q(dir / "cells.tif") + " 2>&1",
                    &status);
  CHECK(status == 0);
  CHECK(out.find("cells.tif") != std::string::npos);
  CHECK(out.find("of 1 masks accepted") != std::string::npos);
}
#endif
