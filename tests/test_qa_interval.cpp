// Tests of the conformal intervals of scores (qa/interval.hpp).
#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "qanet/qa/interval.hpp"
#include "support.hpp"

using namespace qanet;

TEST_CASE("conformal half-width: the ceil((n + 1) c)-th smallest residual (hand values)") {
  ConformalResiduals r;
  for (int i = 1; i <= 10; ++i) r.sorted.push_back(0.1 * i);
  CHECK(r.half_width(0.5) == doctest::Approx(0.6));  // ceil(5.5) = 6
  CHECK(r.half_width(0.9) == doctest::Approx(1.0));  // ceil(9.9) = 10
  CHECK(r.half_width(9.0 / 11.0) == doctest::Approx(0.9));  // exactly 9: not rounded up to 10
  CHECK(std::isinf(r.half_width(0.95)));  // ceil(10.45) = 11 > 10: too few residuals
  CHECK(r.half_width(0.01) == doctest::Approx(0.1));
  CHECK_THROWS_AS(r.half_width(1.0), InvalidArgument);
  CHECK_THROWS_AS(r.half_width(0.0), InvalidArgument);
  CHECK(std::isinf(ConformalResiduals{}.half_width(0.5)));
}

TEST_CASE("cross-fitted residuals: each fold judged by the line of the others, clamped (hand values)") {
  // Fold 0 lies on y = x, fold 1 on y = x + 1. Fold 0 under fold 1's line: predictions 1 and 2,
  // clamped to [0, 1]: residuals |0 - 1| = 1 and |1 - 1| = 0. Fold 1 under y = x: 1 and 1.
  const std::vector<double> x{0, 1, 0, 1}, y{0, 1, 1, 2};
  const std::vector<int> fold{0, 0, 1, 1};
  const auto r = cross_fitted_residuals(x, y, fold, [](double v) { return std::clamp(v, 0.0, 1.0); });
  REQUIRE(r.sorted.size() == 4);
  CHECK(r.sorted[0] == doctest::Approx(0.0));
  CHECK(r.sorted[1] == doctest::Approx(1.0));
  CHECK(r.sorted[3] == doctest::Approx(1.0));
  const auto unclamped = cross_fitted_residuals(x, y, fold, [](double v) { return v; });
  for (const double v : unclamped.sorted) CHECK(v == doctest::Approx(1.0));
  CHECK_THROWS_AS(cross_fitted_residuals(x, y, {0, 0, 0, 0}, [](double v) { return v; }), InvalidArgument);
  CHECK_THROWS_AS(cross_fitted_residuals(x, y, {0, 1}, [](double v) { return v; }), InvalidArgument);
}

TEST_CASE("conformal intervals hold new exchangeable frames at the nominal rate (simulation)") {
  // Calibration frames: truth = 0.2 + 0.7 x + noise, the model's raw output x. New frames from
  // the same law, mapped by the line fitted on all calibration frames: the 90% interval must
  // hold about 90% of them (the guarantee is >= 90% on average over calibration draws; one
  // draw of 400 residuals varies by about 1.5 points).
  std::mt19937_64 rng(20261203);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::normal_distribution<double> noise(0.0, 0.08);
  std::vector<double> x, y;
  std::vector<int> fold;
  for (int i = 0; i < 400; ++i) {
    x.push_back(u(rng));
    y.push_back(0.2 + 0.7 * x.back() + noise(rng));
    fold.push_back(i % 5);
  }
  const auto identity = [](double v) { return v; };
  const ConformalResiduals r = cross_fitted_residuals(x, y, fold, identity);
  const LinearFit line = least_squares_line(x, y);
  for (const double coverage : {0.8, 0.9}) {
    const double q = r.half_width(coverage);
    CHECK(q == doctest::Approx(0.08 * (coverage == 0.8 ? 1.2816 : 1.6449)).epsilon(0.12));  // the normal quantile
    int held = 0;
    const int n = 20000;
    for (int i = 0; i < n; ++i) {
      const double xi = u(rng), yi = 0.2 + 0.7 * xi + noise(rng);
      const ScoreInterval iv{line(xi) - q, line(xi) + q};
      held += iv.contains(yi);
    }
    CAPTURE(coverage);
    CHECK(double(held) / n == doctest::Approx(coverage).epsilon(0.035 / coverage));
  }
}
