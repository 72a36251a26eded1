#pragma once
// numpy's default ('linear') percentile, shared by the metrics (MHD95) and the intensity
// normalisation: pos = q/100 (n-1), interpolate between the values around pos in sorted order.
// And Otsu's threshold, the other statistic of an intensity distribution the library needs
// (segmenter-like errors, the image bound of the object scale).

#include <algorithm>
#include <cmath>
#include <vector>

#include "qanet/core/error.hpp"
#include "qanet/core/shape.hpp"

namespace qanet {

// Percentile q in [0, 100] of `x`, which is reordered (partial selection, linear time).
template <typename T>
double percentile_linear(std::vector<T>& x, double q) {
  if (x.empty()) throw InvalidArgument("percentile of an empty set");
  const Index n = static_cast<Index>(x.size());
  const double pos = (q / 100.0) * static_cast<double>(n - 1);
  const Index lo = static_cast<Index>(std::floor(pos));
  const Index hi = std::min(lo + 1, n - 1);
  std::nth_element(x.begin(), x.begin() + lo, x.end());
  const double xlo = static_cast<double>(x[static_cast<std::size_t>(lo)]);
  // After the selection every later element is >= x[lo]; the next order statistic is their minimum.
  const double xhi = hi == lo ? xlo : static_cast<double>(*std::min_element(x.begin() + lo + 1, x.end()));
  return xlo + (pos - static_cast<double>(lo)) * (xhi - xlo);
}

// Otsu's threshold of values in [0, 1] (256 bins).
inline double otsu_threshold(const std::vector<float>& v) {
  std::vector<double> hist(256, 0.0);
  for (float x : v) hist[static_cast<std::size_t>(std::clamp(x, 0.0f, 1.0f) * 255.0f)] += 1;
  double total = 0, sum = 0;
  for (int k = 0; k < 256; ++k) total += hist[k], sum += k * hist[k];
  double w0 = 0, s0 = 0, best = -1, t = 0.5;
  for (int k = 0; k < 255; ++k) {
    w0 += hist[k], s0 += k * hist[k];
    const double w1 = total - w0;
    if (w0 == 0 || w1 == 0) continue;
    const double m0 = s0 / w0, m1 = (sum - s0) / w1, between = w0 * w1 * (m0 - m1) * (m0 - m1);
    if (between > best) best = between, t = (k + 1) / 255.0;
  }
  return t;
}

}  // namespace qanet
