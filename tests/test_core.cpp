// Tests of core: shapes, views, labels, trinary encoding, random streams.
#include <set>

#include "qanet/core.hpp"
#include "support.hpp"

using namespace qanet;

TEST_CASE("shape offsets and coordinates are inverse, x fastest") {
  Shape<3> s(2, 3, 4);
  CHECK(s.size() == 24);
  CHECK(s.stride(0) == 12);
  CHECK(s.stride(1) == 4);
  CHECK(s.stride(2) == 1);
  CHECK(s.offset({1, 2, 3}) == 23);
  for (Index i = 0; i < s.size(); ++i) CHECK(s.offset(s.coords(i)) == i);
  CHECK(s.str() == "2x3x4");
}

TEST_CASE("views wrap caller memory without copies and reject bad spacing") {
  std::vector<unsigned short> buf(12, 0);
  ImageView<unsigned short, 2> v(buf.data(), Shape<2>(3, 4), Spacing<2>{2.0, 0.5});
  v(1, 2) = 7;
  CHECK(buf[6] == 7);
  ImageView<const unsigned short, 2> cv = v;
  CHECK(cv(1, 2) == 7);
  CHECK_THROWS_AS((ImageView<unsigned short, 2>(buf.data(), Shape<2>(3, 4), Spacing<2>{0.0, 1.0})),
                  InvalidArgument);
  CHECK_THROWS_AS((ImageView<unsigned short, 2>(nullptr, Shape<2>(3, 4))), InvalidArgument);
  auto mv = make_view(buf.data(), Shape<2>(3, 4), {2.0, 0.5});
  CHECK(mv.spacing()[0] == 2.0);
  CHECK(mv(1, 2) == 7);
}

TEST_CASE("to_labels rejects negative, fractional and non-finite labels") {
  std::vector<int> neg{0, 1, -2, 3};
  CHECK_THROWS_AS(to_labels(make_view(neg.data(), Shape<2>(2, 2))), InvalidArgument);
  std::vector<float> frac{0.f, 1.5f, 2.f, 3.f};
  CHECK_THROWS_AS(to_labels(make_view(frac.data(), Shape<2>(2, 2))), InvalidArgument);
  std::vector<float> nan{0.f, std::nanf(""), 2.f, 3.f};
  CHECK_THROWS_AS(to_labels(make_view(nan.data(), Shape<2>(2, 2))), InvalidArgument);
  std::vector<float> ok{0.f, 70000.f, 2.f, 2.f};
  auto l = to_labels(make_view(ok.data(), Shape<2>(2, 2)));
  CHECK(l[1] == 70000u);
  CHECK(count_objects(l.cview()) == 2);
}

TEST_CASE("relabel_consecutive keeps order and background") {
  std::vector<Label> in{0, 90000, 5, 5, 0, 17};
  auto out = relabel_consecutive(make_view(in.data(), Shape<2>(2, 3)));
  CHECK(std::vector<Label>(out.begin(), out.end()) == std::vector<Label>{0, 3, 1, 1, 0, 2});
}

TEST_CASE("trinary encoding: hand-computed 2D case with touching cells") {
  // Two touching 3x3 cells (labels 1 and 2) in a 5x8 image.
  // row 1..3, cols 1..3 -> label 1; cols 4..6 -> label 2.
  LabelImage<2> l(Shape<2>(5, 8));
  for (int y = 1; y <= 3; ++y)
    for (int x = 1; x <= 6; ++x) l(y, x) = x <= 3 ? 1 : 2;
  auto t = trinary_encode(l.cview());
  const char* expected[5] = {"00000000", "02222220", "02122120", "02222220", "00000000"};
  for (int y = 0; y < 5; ++y)
    for (int x = 0; x < 8; ++x) CHECK(int(t(y, x)) == expected[y][x] - '0');
  auto c = trinary_channel(l.cview());
  CHECK(c(2, 2) == 0.5f);
  CHECK(c(2, 3) == 1.0f);
  auto b = binary_channel(l.cview());
  CHECK(b(2, 3) == 1.0f);
  CHECK(b(0, 0) == 0.0f);
}

TEST_CASE("trinary encoding: boundary is face-connected in 3D and widens inwards") {
  LabelImage<3> l(Shape<3>(7, 7, 7));
  for (int z = 1; z < 6; ++z)
    for (int y = 1; y < 6; ++y)
      for (int x = 1; x < 6; ++x) l(z, y, x) = 4;
  auto t1 = trinary_encode(l.cview());
  // Interior of a 5-cube after removing its face layer: 3^3 voxels.
  int interior = 0, boundary = 0;
  for (auto v : t1) interior += v == 1, boundary += v == 2;
  CHECK(interior == 27);
  CHECK(boundary == 125 - 27);
  auto t2 = trinary_encode(l.cview(), 2);
  interior = 0;
  for (auto v : t2) interior += v == 1;
  CHECK(interior == 1);
}

TEST_CASE("derived random streams are reproducible and distinct") {
  Rng a = Rng::derive(42, {1, 2}), b = Rng::derive(42, {1, 2}), c = Rng::derive(42, {2, 1});
  std::set<std::uint64_t> seen;
  for (int i = 0; i < 100; ++i) {
    auto x = a(), y = b(), z = c();
    CHECK(x == y);
    CHECK(x != z);
    seen.insert(x);
  }
  CHECK(seen.size() == 100);
  Rng r(7);
  double sum = 0, sq = 0;
  int counts[6] = {};
  for (int i = 0; i < 60000; ++i) {
    double n = r.normal();
    sum += n, sq += n * n;
    counts[r.uniform_int(0, 5)]++;
  }
  CHECK(std::abs(sum / 60000) < 0.02);
  CHECK(std::abs(sq / 60000 - 1.0) < 0.03);
  for (int k : counts) CHECK(std::abs(k - 10000) < 400);
}
