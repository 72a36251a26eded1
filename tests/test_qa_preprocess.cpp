// Tests of the preprocessing of scoring: percentile normalisation, rescaling, tiling.
#include <fstream>
#include <set>

#include "qanet/core/random.hpp"
#include "qanet/core/components.hpp"
#include "qanet/qa/datasets.hpp"
#include "qanet/qa/inputs.hpp"
#include "qanet/qa/normalize.hpp"
#include "qanet/qa/split.hpp"
#include "qanet/qa/rescale.hpp"
#include "qanet/qa/tiling.hpp"
#include "support.hpp"

using namespace qanet;

TEST_CASE("percentiles follow numpy's linear interpolation (hand values)") {
  // 0..10: the 1st percentile sits at position 0.1 -> 0.1; 99.8th at 9.98 -> 9.98.
  std::vector<float> v{10, 3, 5, 0, 1, 2, 4, 6, 7, 8, 9};
  CHECK(percentile_linear(v, 1.0) == doctest::Approx(0.1));
  CHECK(percentile_linear(v, 99.8) == doctest::Approx(9.98));
  CHECK(percentile_linear(v, 50.0) == doctest::Approx(5.0));
  std::vector<float> one{4};
  CHECK(percentile_linear(one, 99.8) == 4.0);
}

TEST_CASE("normalisation agrees with numpy on a random uint16 image") {
  const std::string py = qanet::testing::python_with_scipy();
  if (py.empty()) {
    MESSAGE("skipped: no python3 with numpy");
    return;
  }
  Rng rng(3);
  Image<std::uint16_t, 2> img(Shape<2>(37, 53));
  for (auto& x : img) x = static_cast<std::uint16_t>(rng.uniform_int(0, 4000));
  qanet::testing::TempDir dir;
  {
    std::ofstream f(dir / "v.txt");
    for (auto x : img) f << x << "\n";
  }
  const std::string out = qanet::testing::run_command(
      py + " -c \"import numpy as np; v=np.loadtxt('" + (dir / "v.txt").string() +
      "').astype(np.float32); print(repr(float(np.percentile(v,1))), repr(float(np.percentile(v,99.8))))\"");
  double lo = 0, hi = 0;
  std::istringstream(out) >> lo >> hi;
  auto n = normalize_percentile(img.cview());
  for (Index i = 0; i < img.size(); ++i)
    CHECK(n[i] == doctest::Approx((img[i] - lo) / (hi - lo)).epsilon(1e-5));
}

TEST_CASE("constant images normalise to zero; NaNs are rejected") {
  Image<float, 2> c(Shape<2>(8, 8), 7.0f);
  for (float v : normalize_percentile(c.cview())) CHECK(v == 0.0f);
  c(3, 3) = std::nanf("");
  CHECK_THROWS_AS(normalize_percentile(c.cview()), InvalidArgument);
}

TEST_CASE("linear rescaling: identity at factor 1, hand values at factor 2 and 0.5") {
  Image<float, 2> img(Shape<2>(2, 2));
  img(0, 0) = 0, img(0, 1) = 4, img(1, 0) = 8, img(1, 1) = 12;
  auto same = rescale_linear(img.cview(), {1.0, 1.0});
  for (Index i = 0; i < 4; ++i) CHECK(same[i] == img[i]);
  auto up = rescale_linear(img.cview(), {2.0, 2.0});
  REQUIRE(up.shape() == Shape<2>(4, 4));
  // Output pixel x=1 maps to source 0.25 (centres aligned): 0 + 0.25 * 4 = 1.
  CHECK(up(0, 0) == doctest::Approx(0.0));
  CHECK(up(0, 1) == doctest::Approx(1.0));
  CHECK(up(0, 2) == doctest::Approx(3.0));
  CHECK(up(1, 1) == doctest::Approx(0.25 * 8 + 1.0));
  CHECK(up.spacing()[0] == doctest::Approx(0.5));
  auto down = rescale_linear(up.cview(), {0.5, 0.5});
  REQUIRE(down.shape() == Shape<2>(2, 2));
  // Output (0,0) maps to source (0.5, 0.5): the mean of up(0,0)=0, up(0,1)=1, up(1,0)=2, up(1,1)=3.
  CHECK(down(0, 0) == doctest::Approx(1.5));
}

TEST_CASE("nearest rescaling keeps labels and measures diameters") {
  LabelImage<2> l(Shape<2>(20, 20));
  for (int y = 0; y < 10; ++y)
    for (int x = 0; x < 10; ++x) l(y, x) = 3;
  auto up = rescale_nearest(l.cview(), {2.0, 2.0});
  std::set<Label> seen(up.begin(), up.end());
  CHECK(seen == std::set<Label>{0, 3});
  Index n = 0;
  for (auto v : up) n += v == 3;
  CHECK(n == 400);
  CHECK(median_object_diameter(l.cview()) == doctest::Approx(2 * std::sqrt(100 / M_PI)));
  CHECK(median_object_diameter(LabelImage<2>(Shape<2>(4, 4)).cview()) == 0.0);
}

TEST_CASE("tiles cover the image, last tile flush with the edge") {
  CHECK(tile_starts(10, 4, 4) == std::vector<Index>{0, 4, 6});
  CHECK(tile_starts(8, 4, 4) == std::vector<Index>{0, 4});
  CHECK(tile_starts(3, 4, 2) == std::vector<Index>{0});
  auto tiles = make_tiles<2>(Shape<2>(10, 8), {4, 4}, {4, 4});
  CHECK(tiles.size() == 6);
  std::vector<int> covered(80, 0);
  for (const auto& t : tiles)
    for (int y = 0; y < 4; ++y)
      for (int x = 0; x < 4; ++x) covered[(t.origin[0] + y) * 8 + t.origin[1] + x] = 1;
  for (int c : covered) CHECK(c == 1);
}

TEST_CASE("aligned tiles: the last start moves on to a multiple of the alignment unless that leaves a gap") {
  // 300 px, patches of 128 every 64: 0, 64, 128, then 300 - 128 = 172 rounded up to 176.
  CHECK(tile_starts(300, 128, 64, 16) == std::vector<Index>{0, 64, 128, 176});
  CHECK(tile_starts(300, 128, 64) == std::vector<Index>{0, 64, 128, 172});
  // Already a multiple: flush with the edge as without alignment.
  CHECK(tile_starts(320, 128, 64, 16) == std::vector<Index>{0, 64, 128, 192});
  // Patches of 10 every 10 on 29 px: 19 would round up to 32, past the end of the tile at 10
  // (10 + 10 = 20 < 32), so the flush start 19 is kept.
  CHECK(tile_starts(29, 10, 10, 16) == std::vector<Index>{0, 10, 19});
  CHECK(tile_starts(100, 128, 64, 16) == std::vector<Index>{0});
  CHECK_THROWS_AS(tile_starts(100, 16, 8, 0), InvalidArgument);
  // Every voxel of the axis is covered, for many lengths.
  for (Index n = 1; n < 400; n += 7) {
    CAPTURE(n);
    const auto s = tile_starts(n, 48, 32, 16);
    std::vector<int> hit(static_cast<std::size_t>(n), 0);
    for (Index o : s)
      for (Index i = o; i < std::min(n, o + 48); ++i) hit[static_cast<std::size_t>(i)] = 1;
    CHECK(std::count(hit.begin(), hit.end(), 0) == 0);
    for (Index o : s) CHECK(o % 16 == 0);  // a stride of 32 keeps every start aligned
  }
}

namespace {

// Discs of radius r on a grid (centres `gap` apart), labels 1..n; touching when gap <= 2r.
LabelImage<2> disc_grid(Index size, double r, Index gap, Index* count = nullptr) {
  LabelImage<2> l(Shape<2>(size, size), 0);
  Label next = 0;
  for (Index cy = gap / 2; cy + gap / 2 <= size; cy += gap)
    for (Index cx = gap / 2; cx + gap / 2 <= size; cx += gap) {
      ++next;
      for (Index y = 0; y < size; ++y)
        for (Index x = 0; x < size; ++x)
          if ((y - cy) * (y - cy) + (x - cx) * (x - cx) <= r * r && l(y, x) == 0) l(y, x) = next;
    }
  if (count) *count = next;
  return l;
}

}  // namespace

TEST_CASE("the scale estimate measures discs and is not moved by specks, cuts or merges") {
  Index n = 0;
  const LabelImage<2> gt = disc_grid(240, 12.0, 40, &n);
  REQUIRE(n == 36);
  const double d = estimate_object_diameter(gt.cview()).diameter;
  // Twice the largest distance to the background: 2 * 13 for a digital disc of radius 12.
  CHECK(d >= 24.0);
  CHECK(d <= 27.0);
  // 2,000 single-pixel specks in the background (the old median diameter falls to 1.1 px).
  LabelImage<2> specks = gt;
  Rng rng(4);
  Label next = 1000;
  for (int k = 0; k < 2000; ++k) {
    const Index i = rng.uniform_int(0, specks.size() - 1);
    if (!specks[i]) specks[i] = next++;
  }
  CHECK(median_object_diameter(specks.cview()) < 2.0);
  CHECK(estimate_object_diameter(specks.cview()).diameter == d);
  // Every cell cut in two (the right half relabelled), and cut with a one-pixel gap.
  LabelImage<2> halves = gt, gaps = gt;
  for (Index y = 0; y < 240; ++y)
    for (Index x = 0; x < 240; ++x) {
      const Index rel = x % 40 - 20;  // the discs' centres sit at x = 20 + 40 k
      if (gt(y, x) && rel > 0) halves(y, x) = gt(y, x) + 500;
      if (gt(y, x) && rel == 0) gaps(y, x) = 0;
      if (gt(y, x) && rel > 0) gaps(y, x) = gt(y, x) + 500;
    }
  CHECK(median_object_diameter(halves.cview()) < 0.8 * median_object_diameter(gt.cview()));
  CHECK(estimate_object_diameter(halves.cview()).diameter == d);
  // A one-pixel cut line is bridged by the closing; only the tips of the line stay open.
  CHECK(estimate_object_diameter(gaps.cview()).diameter == doctest::Approx(d).epsilon(0.1));
  // Touching pairs merged into one label: the foreground is the same.
  const LabelImage<2> touching = disc_grid(240, 12.0, 24);
  LabelImage<2> merged = touching;
  for (auto& v : merged)
    if (v) v = (v + 1) / 2;
  CHECK(estimate_object_diameter(merged.cview()).diameter == estimate_object_diameter(touching.cview()).diameter);
  CHECK(estimate_object_diameter(LabelImage<2>(Shape<2>(8, 8)).cview()).diameter == 0.0);
}

namespace {

// An image of bright discs (value 200 on 10) where `labels` has its discs of radius `r`.
Image<float, 2> bright_discs(Index size, double r, Index gap) {
  const LabelImage<2> l = disc_grid(size, r, gap);
  Image<float, 2> img(l.shape(), 10.0f);
  for (Index i = 0; i < l.size(); ++i)
    if (l[i]) img[i] = 200.0f;
  return img;
}

}  // namespace

TEST_CASE("the image floors a mask whose objects are all too thin, and only such a mask") {
  const Image<float, 2> img = bright_discs(240, 12.0, 40);  // cells of diameter about 25
  const LabelImage<2> cells = disc_grid(240, 12.0, 40), cores = disc_grid(240, 4.0, 40);
  const double d_cells = estimate_object_diameter(cells.cview()).diameter;
  const double d_cores = estimate_object_diameter(cores.cview()).diameter;
  REQUIRE(d_cores < 0.5 * d_cells);
  // The image's bright foreground is the cells (blurred by 1.5 px, thresholded half-way up).
  const double image_d = image_foreground_diameter(img.cview());
  CHECK(image_d == doctest::Approx(d_cells).epsilon(0.1));
  // Cores of the cells: raised to 0.8 of the image's measure.
  const ScaleEstimate c = estimate_object_diameter(img.cview(), cores.cview());
  CHECK(c.image_floor == doctest::Approx(image_floor_share * image_d));
  CHECK(c.diameter == c.image_floor);
  // The right mask, and a dilated one, keep their own measure.
  CHECK(estimate_object_diameter(img.cview(), cells.cview()).diameter == d_cells);
  const LabelImage<2> fat = disc_grid(240, 16.0, 40);
  CHECK(estimate_object_diameter(img.cview(), fat.cview()).diameter == estimate_object_diameter(fat.cview()).diameter);
  // A floor beyond image_floor_reach times the mask (a bright clump much larger than the
  // objects) is not believed.
  const LabelImage<2> specks = disc_grid(240, 1.5, 40);
  const ScaleEstimate s = estimate_object_diameter(img.cview(), specks.cview());
  REQUIRE(s.image_floor > image_floor_reach * estimate_object_diameter(specks.cview()).diameter);
  CHECK(s.diameter == estimate_object_diameter(specks.cview()).diameter);
  // A flat image has no foreground and no floor; shapes must agree.
  CHECK(image_foreground_diameter(Image<float, 2>(Shape<2>(64, 64), 5.0f).cview()) == 0.0);
  CHECK_THROWS_AS(estimate_object_diameter(Image<float, 2>(Shape<2>(10, 10)).cview(), cells.cview()), InvalidArgument);
  // measured_diameter dispatches on the convention.
  CHECK(measured_diameter(img.cview(), cores.cview(), ScaleMeasure::foreground_thickness) == d_cores);
  CHECK(measured_diameter(img.cview(), cores.cview(), ScaleMeasure::image_floored_thickness) == c.diameter);
}

TEST_CASE("the scale estimate of a volume is that of its fullest plane") {
  const LabelImage<2> plane = disc_grid(120, 10.0, 40);
  LabelImage<3> vol(Shape<3>(3, 120, 120), 0);
  for (Index i = 0; i < plane.size(); ++i) vol[plane.size() + i] = plane[i];  // only z = 1 holds cells
  CHECK(estimate_object_diameter(vol.cview()).diameter == estimate_object_diameter(plane.cview()).diameter);
}

TEST_CASE("connected components follow face connectivity") {
  // 1 1 0 1
  // 0 1 0 1
  // 1 0 0 0   -> three components (the diagonal pixel is not connected)
  const int v[12] = {1, 1, 0, 1, 0, 1, 0, 1, 1, 0, 0, 0};
  Index n = 0;
  const auto c = connected_components<2>(Shape<2>(3, 4), [&](Index i) { return v[i] != 0; }, &n);
  CHECK(n == 3);
  CHECK(c[0] == c[1]);
  CHECK(c[1] == c[5]);
  CHECK(c[3] == c[7]);
  CHECK(c[8] != c[0]);
  CHECK(c[2] == 0);
}

TEST_CASE("the stable split hash is FNV-1a and parts follow it") {
  // Published FNV-1a 64-bit test vectors.
  CHECK(stable_hash("") == 0xcbf29ce484222325ULL);
  CHECK(stable_hash("a") == 0xaf63dc4c8601ec8cULL);
  CHECK(stable_hash("foobar") == 0x85944171f73967e8ULL);
  int counts[4] = {0, 0, 0, 0};
  for (int k = 0; k < 2000; ++k) {
    const std::string name = "DS/" + std::to_string(k);
    const auto b = stable_hash(name) % 100;
    const DataPart want = b < 70 ? DataPart::train : b < 85 ? DataPart::calibration : DataPart::test;
    CHECK(data_part_of(name) == want);
    ++counts[static_cast<int>(want)];
  }
  CHECK(counts[1] > 1300);
  CHECK(counts[3] > 220);
  CHECK_THROWS_AS(parse_data_part("validation"), InvalidArgument);
}

TEST_CASE("input conventions round-trip through model metadata; old files keep the old ones") {
  nn::ModelInfo old;  // as written before conventions were stored
  old.normalisation = "percentile 1 99.8 per patch";
  const InputConvention o = InputConvention::of(old);
  CHECK(o.normalisation == Normalisation::per_patch);
  CHECK(o.scale == ScaleMeasure::object_median);
  nn::ModelInfo info;
  InputConvention{}.store(info);
  const InputConvention n = InputConvention::of(info);
  CHECK(n.normalisation == Normalisation::per_image);
  CHECK(n.scale == ScaleMeasure::image_floored_thickness);
  CHECK(info.training["scale_measure"] == "foreground thickness, image floor");
  nn::ModelInfo v02;  // the 0.2 models: thickness without the image floor
  v02.training = {{"scale_measure", "foreground thickness"}};
  CHECK(InputConvention::of(v02).scale == ScaleMeasure::foreground_thickness);
  CHECK(scale_factor(20.0, 40.0) == 2.0);
  CHECK(scale_factor(1.0, 40.0) == 8.0);  // clamped
  CHECK(scale_factor(0.0, 40.0) == 1.0);
}

TEST_CASE("per-image inputs are crops of the image normalised once") {
  Rng rng(9);
  Image<float, 2> img(Shape<2>(40, 50));
  for (auto& x : img) x = static_cast<float>(rng.uniform(10, 900));
  const auto whole = normalize_percentile(img.cview());
  LabelImage<2> mask(Shape<2>(20, 20), 1);
  Image<float, 2> crop(Shape<2>(20, 20));
  for (Index y = 0; y < 20; ++y)
    for (Index x = 0; x < 20; ++x) crop(y, x) = whole(y + 7, x + 11);
  nn::Tensor<float> xi({1, 1, 20, 20}), xs({1, 1, 20, 20});
  fill_network_inputs(xi, xs, 0, crop.cview(), mask.cview(), nn::InputEncoding::trinary, Normalisation::per_image);
  for (Index y = 0; y < 20; ++y)
    for (Index x = 0; x < 20; ++x) REQUIRE(xi[y * 20 + x] == whole(y + 7, x + 11));
  // Per patch, the crop's own percentiles map it to [0, 1] (about): its minimum lands near 0.
  fill_network_inputs(xi, xs, 0, crop.cview(), mask.cview(), nn::InputEncoding::trinary, Normalisation::per_patch);
  CHECK(*std::min_element(xi.begin(), xi.end()) < 0.0f);
  CHECK(*std::min_element(xi.begin(), xi.end()) > -0.05f);
}

TEST_CASE("a split part filters single-image sequences by the hash and keeps CTC sequences whole") {
  std::vector<AnnotatedFile> files;
  for (int k = 0; k < 300; ++k) files.push_back({"i.tif", "m.tif", "DSB/" + std::to_string(k), true});
  files.push_back({"t000.tif", "man_seg000.tif", "Fluo-N2DH-SIM+/01", false});
  std::size_t total = 0;
  for (DataPart p : {DataPart::train, DataPart::calibration, DataPart::test}) {
    const auto kept = files_in_part(files, p);
    total += kept.size() - 1;  // the CTC frame is in every part
    CHECK(kept.back().sequence == "Fluo-N2DH-SIM+/01");
    for (const auto& f : kept)
      if (f.single_image) CHECK(data_part_of(f.sequence) == p);
  }
  CHECK(total == 300);  // the parts partition the images
  CHECK(files_in_part(files, DataPart::all).size() == files.size());
}
