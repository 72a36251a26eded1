#pragma once
// numpy's default ('linear') percentile, shared by the metrics (MHD95) and the intensity
// normalisation: pos = q/100 (n-1), interpolate between the values around pos in sorted order.

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

}  // namespace qanet
