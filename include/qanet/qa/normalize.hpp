#pragma once
// Per-image intensity normalisation (SPEC §3): (I - p_low) / (p_high - p_low) with percentiles
// 1 and 99.8 (the CSBDeep/StarDist convention), computed in float, constant images map to 0.

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "qanet/core/error.hpp"
#include "qanet/core/percentile.hpp"
#include "qanet/core/image.hpp"

namespace qanet {

struct NormalizeOptions {
  double p_low = 1.0;
  double p_high = 99.8;
};

// Any integer or float image -> float image normalised by its own percentiles. NaN or infinite
// pixels are rejected (they would poison every percentile).
template <typename T, int Dim>
Image<float, Dim> normalize_percentile(const ImageView<const T, Dim>& img, const NormalizeOptions& opt = {}) {
  if (!(opt.p_low >= 0 && opt.p_low < opt.p_high && opt.p_high <= 100))
    throw InvalidArgument("normalize_percentile: need 0 <= p_low < p_high <= 100");
  if (img.empty()) throw InvalidArgument("normalize_percentile: empty image");
  std::vector<float> values(static_cast<std::size_t>(img.size()));
  for (Index i = 0; i < img.size(); ++i) {
    const double v = static_cast<double>(img[i]);
    if (!std::isfinite(v))
      throw InvalidArgument("normalize_percentile: the image holds NaN or infinite values");
    values[static_cast<std::size_t>(i)] = static_cast<float>(v);
  }
  const double lo = percentile_linear(values, opt.p_low);
  const double hi = percentile_linear(values, opt.p_high);
  Image<float, Dim> out(img.shape(), 0.0f, img.spacing());
  const double range = hi - lo;
  if (!(range > 0)) return out;  // constant (or nearly): all zeros
  const float scale = static_cast<float>(1.0 / range), offset = static_cast<float>(lo);
  for (Index i = 0; i < img.size(); ++i) out[i] = (static_cast<float>(img[i]) - offset) * scale;
  return out;
}

}  // namespace qanet
