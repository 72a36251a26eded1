// Tests of the preprocessing of scoring: percentile normalisation, rescaling, tiling.
#include <fstream>
#include <set>

#include "qanet/core/random.hpp"
#include "qanet/qa/normalize.hpp"
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
