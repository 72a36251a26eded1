#pragma once
// Conformal prediction intervals for predicted scores. `qanet calibrate` measures how far the
// calibrated prediction falls from the true score on annotated frames and stores those absolute
// residuals in the model; a score s then gets the interval [s - q, s + q], q the residual
// quantile at the chosen coverage. For calibration frames and new frames that are exchangeable
// (drawn alike), the interval holds the true score with probability at least the coverage
// (split conformal prediction, Vovk et al.; Lei et al. 2018). The frames a recalibration line
// was fitted on would give residuals that are slightly too small, so each frame's residual is
// taken from a line fitted on the other folds (cross-fitting), folds by image so that the
// perturbed copies of one image never sit on both sides.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <set>
#include <vector>

#include "qanet/core/error.hpp"
#include "qanet/metrics/regression.hpp"

namespace qanet {

struct ConformalResiduals {
  std::vector<double> sorted;  // absolute residuals |true - predicted|, ascending

  // Half-width of the interval at `coverage` in (0, 1): the ceil((n + 1) coverage)-th smallest
  // residual, the finite-sample conformal quantile; infinite when there are too few residuals
  // for that coverage (fewer than coverage / (1 - coverage)).
  double half_width(double coverage) const {
    if (!(coverage > 0 && coverage < 1)) throw InvalidArgument("coverage must lie in (0, 1)");
    const double n = static_cast<double>(sorted.size());
    const double k = std::ceil((n + 1) * coverage - 1e-9);  // 1-based rank (tolerance: 0.9 * 10 is 9, not 9.000001)
    if (k > n) return std::numeric_limits<double>::infinity();
    return sorted[static_cast<std::size_t>(std::max(1.0, k)) - 1];
  }
};

// The residual of every frame i under the least-squares line fitted on the frames of all other
// folds, mapped through `clamp` (the score's range) before it is compared with the truth.
// Needs at least two folds, each fold's complement with two distinct predictions.
inline ConformalResiduals cross_fitted_residuals(const std::vector<double>& predicted, const std::vector<double>& truth,
                                                 const std::vector<int>& fold,
                                                 const std::function<double(double)>& clamp) {
  if (fold.size() != predicted.size())
    throw InvalidArgument("cross_fitted_residuals: " + std::to_string(fold.size()) + " folds for " +
                          std::to_string(predicted.size()) + " frames");
  const std::set<int> folds(fold.begin(), fold.end());
  if (folds.size() < 2) throw InvalidArgument("cross_fitted_residuals: the frames need at least two folds (images)");
  ConformalResiduals out;
  for (const int f : folds) {
    std::vector<double> p, t;
    for (std::size_t i = 0; i < fold.size(); ++i)
      if (fold[i] != f) p.push_back(predicted[i]), t.push_back(truth[i]);
    const LinearFit line = least_squares_line(p, t);
    for (std::size_t i = 0; i < fold.size(); ++i)
      if (fold[i] == f) out.sorted.push_back(std::abs(truth[i] - clamp(line(predicted[i]))));
  }
  std::sort(out.sorted.begin(), out.sorted.end());
  return out;
}

struct ScoreInterval {
  double low = 0, high = 0;
  bool contains(double v) const { return low <= v && v <= high; }
  double width() const { return high - low; }
};

}  // namespace qanet
