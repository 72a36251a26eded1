#pragma once
// Agreement between predicted and true quality values (SPEC §8, the QANet paper's Table 1):
// Pearson r, Spearman rho, MAE, RMSE, bias and the hit rate h(t) with its area on [0, 1].

#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include "qanet/core/error.hpp"
#include "qanet/core/shape.hpp"

namespace qanet {

// Whether a metric's values lie in [0, 1] with higher better (SEG, neMHD, the per-object IoU
// "iou") or are distances in px (>= 0, lower better).
inline bool unit_interval_metric(const std::string& metric) {
  return metric == "seg" || metric == "SEG" || metric == "nemhd" || metric == "iou";
}

struct RegressionStats {
  Index n = 0;
  std::optional<double> pearson;   // nullopt when either list is constant
  std::optional<double> spearman;  // likewise (after ranking)
  double mae = 0.0;
  double rmse = 0.0;
  double bias = 0.0;     // mean(predicted - truth)
  double hit_auc = 0.0;  // exact area under h(t) on [0, 1]
};

namespace detail {

inline void check_pairs(const std::vector<double>& predicted, const std::vector<double>& truth,
                        const char* what) {
  if (predicted.size() != truth.size())
    throw InvalidArgument(std::string(what) + ": " + std::to_string(predicted.size()) +
                          " predicted values but " + std::to_string(truth.size()) + " true values");
  if (predicted.empty()) throw InvalidArgument(std::string(what) + ": no samples");
  for (std::size_t i = 0; i < predicted.size(); ++i)
    if (!std::isfinite(predicted[i]) || !std::isfinite(truth[i]))
      throw InvalidArgument(std::string(what) + ": sample " + std::to_string(i) +
                            " is not finite");
}

// Centred sums in two passes (the one-pass formula cancels badly for values near 1).
inline std::optional<double> correlation(const std::vector<double>& x, const std::vector<double>& y) {
  const double n = static_cast<double>(x.size());
  const double mx = std::accumulate(x.begin(), x.end(), 0.0) / n;
  const double my = std::accumulate(y.begin(), y.end(), 0.0) / n;
  double sxy = 0.0, sxx = 0.0, syy = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double dx = x[i] - mx, dy = y[i] - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  if (!(sxx > 0.0) || !(syy > 0.0)) return std::nullopt;
  return std::clamp(sxy / std::sqrt(sxx * syy), -1.0, 1.0);
}

}  // namespace detail

// Least-squares line truth ~ intercept + slope * predicted: the linear recalibration of a
// regressor whose predictions shrink towards the mean (MSE training does that where it is
// unsure). Throws InvalidArgument for fewer than two distinct predictions.
struct LinearFit {
  double intercept = 0.0;
  double slope = 1.0;
  double operator()(double x) const { return intercept + slope * x; }
};

inline LinearFit least_squares_line(const std::vector<double>& predicted, const std::vector<double>& truth) {
  detail::check_pairs(predicted, truth, "least_squares_line");
  const double n = static_cast<double>(predicted.size());
  const double mx = std::accumulate(predicted.begin(), predicted.end(), 0.0) / n;
  const double my = std::accumulate(truth.begin(), truth.end(), 0.0) / n;
  double sxy = 0.0, sxx = 0.0;
  for (std::size_t i = 0; i < predicted.size(); ++i) {
    sxy += (predicted[i] - mx) * (truth[i] - my);
    sxx += (predicted[i] - mx) * (predicted[i] - mx);
  }
  if (!(sxx > 0.0)) throw InvalidArgument("least_squares_line: the predictions are all equal");
  LinearFit f;
  f.slope = sxy / sxx;
  f.intercept = my - f.slope * mx;
  return f;
}

// Ranks 1..n; tied values share the mean of their ranks (as scipy.stats.rankdata 'average').
inline std::vector<double> average_ranks(const std::vector<double>& x) {
  std::vector<std::size_t> order(x.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return x[a] < x[b]; });
  std::vector<double> r(x.size());
  for (std::size_t i = 0; i < order.size();) {
    std::size_t j = i + 1;
    while (j < order.size() && x[order[j]] == x[order[i]]) ++j;
    const double rank = 0.5 * static_cast<double>(i + 1 + j);  // mean of i+1 .. j
    for (std::size_t k = i; k < j; ++k) r[order[k]] = rank;
    i = j;
  }
  return r;
}

// Pearson correlation; nullopt when either list is constant. Throws InvalidArgument for lists
// of different lengths, empty lists or non-finite values.
inline std::optional<double> pearson(const std::vector<double>& predicted, const std::vector<double>& truth) {
  detail::check_pairs(predicted, truth, "pearson");
  return detail::correlation(predicted, truth);
}

inline std::optional<double> spearman(const std::vector<double>& predicted, const std::vector<double>& truth) {
  detail::check_pairs(predicted, truth, "spearman");
  return detail::correlation(average_ranks(predicted), average_ranks(truth));
}

// h(t): fraction of samples with |predicted - truth| < t (strict).
inline double hit_rate(const std::vector<double>& predicted, const std::vector<double>& truth, double t) {
  detail::check_pairs(predicted, truth, "hit_rate");
  Index hits = 0;
  for (std::size_t i = 0; i < predicted.size(); ++i) hits += std::abs(predicted[i] - truth[i]) < t;
  return static_cast<double>(hits) / static_cast<double>(predicted.size());
}

// Exact area under h on [0, 1]. Sample i adds [|e_i| < t] to h, whose integral over t in [0, 1]
// is 1 - min(|e_i|, 1); so the area is the mean of that, free of any grid. Trapezoids on a grid
// of step dt converge to it with an error of at most dt / 2.
inline double hit_rate_auc(const std::vector<double>& predicted, const std::vector<double>& truth) {
  detail::check_pairs(predicted, truth, "hit_rate_auc");
  double s = 0.0;
  for (std::size_t i = 0; i < predicted.size(); ++i)
    s += 1.0 - std::min(std::abs(predicted[i] - truth[i]), 1.0);
  return s / static_cast<double>(predicted.size());
}

// The trapezoidal area on the uniform grid t_k = k / (points - 1), k = 0..points-1, as a
// plotting tool would compute it; points >= 2.
inline double hit_rate_auc_trapezoid(const std::vector<double>& predicted, const std::vector<double>& truth,
                                     Index points) {
  if (points < 2) throw InvalidArgument("hit_rate_auc_trapezoid: need at least 2 grid points");
  detail::check_pairs(predicted, truth, "hit_rate_auc_trapezoid");
  std::vector<double> err(predicted.size());
  for (std::size_t i = 0; i < err.size(); ++i) err[i] = std::abs(predicted[i] - truth[i]);
  std::sort(err.begin(), err.end());
  const double n = static_cast<double>(err.size());
  auto h = [&](double t) {  // count of errors < t, by binary search
    return static_cast<double>(std::lower_bound(err.begin(), err.end(), t) - err.begin()) / n;
  };
  const double dt = 1.0 / static_cast<double>(points - 1);
  double area = 0.0, prev = h(0.0);
  for (Index k = 1; k < points; ++k) {
    const double cur = h(static_cast<double>(k) * dt);
    area += 0.5 * (prev + cur) * dt;
    prev = cur;
  }
  return area;
}

inline RegressionStats regression_stats(const std::vector<double>& predicted, const std::vector<double>& truth) {
  detail::check_pairs(predicted, truth, "regression_stats");
  RegressionStats s;
  s.n = static_cast<Index>(predicted.size());
  const double n = static_cast<double>(predicted.size());
  double abs_sum = 0.0, sq_sum = 0.0, sum = 0.0;
  for (std::size_t i = 0; i < predicted.size(); ++i) {
    const double e = predicted[i] - truth[i];
    sum += e;
    abs_sum += std::abs(e);
    sq_sum += e * e;
  }
  s.bias = sum / n;
  s.mae = abs_sum / n;
  s.rmse = std::sqrt(sq_sum / n);
  s.pearson = detail::correlation(predicted, truth);
  s.spearman = detail::correlation(average_ranks(predicted), average_ranks(truth));
  s.hit_auc = hit_rate_auc(predicted, truth);
  return s;
}

}  // namespace qanet
