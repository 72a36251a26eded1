#pragma once
// Resampling to the scale a model was trained on: images linearly, label images by nearest
// neighbour, and the typical object size measured on a mask (to pick the factor).

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "qanet/core/error.hpp"
#include "qanet/core/image.hpp"
#include "qanet/core/parallel.hpp"

namespace qanet {

namespace detail {

// Source coordinate of output index o along an axis (pixel centres aligned, like
// align_corners=False).
inline double source_coord(Index o, double factor) { return (static_cast<double>(o) + 0.5) / factor - 0.5; }

template <int Dim>
Shape<Dim> scaled_shape(const Shape<Dim>& in, const std::array<double, Dim>& factor) {
  Shape<Dim> out;
  for (int a = 0; a < Dim; ++a) {
    if (!(factor[a] > 0) || !std::isfinite(factor[a]))
      throw InvalidArgument("rescale: factors must be positive and finite");
    out[a] = std::max<Index>(1, static_cast<Index>(std::llround(static_cast<double>(in[a]) * factor[a])));
  }
  return out;
}

}  // namespace detail

// Linear (bi-/tri-linear) resampling by per-axis factors (> 1 enlarges), edges clamped.
template <typename T, int Dim>
Image<float, Dim> rescale_linear(const ImageView<const T, Dim>& in, const std::common_type_t<std::array<double, Dim>>& factor) {
  const Shape<Dim> os = detail::scaled_shape<Dim>(in.shape(), factor);
  Spacing<Dim> sp = in.spacing();
  for (int a = 0; a < Dim; ++a) sp[a] *= static_cast<double>(in.shape()[a]) / static_cast<double>(os[a]);
  Image<float, Dim> out(os, 0.0f, sp);
  // Per axis: the two source indices and the weight of the upper one.
  std::array<std::vector<Index>, Dim> i0, i1;
  std::array<std::vector<float>, Dim> w;
  for (int a = 0; a < Dim; ++a) {
    const double f = static_cast<double>(os[a]) / static_cast<double>(in.shape()[a]);
    for (Index o = 0; o < os[a]; ++o) {
      double s = std::clamp(detail::source_coord(o, f), 0.0, static_cast<double>(in.shape()[a] - 1));
      const Index lo = static_cast<Index>(std::floor(s));
      i0[a].push_back(lo);
      i1[a].push_back(std::min(lo + 1, in.shape()[a] - 1));
      w[a].push_back(static_cast<float>(s - static_cast<double>(lo)));
    }
  }
  parallel_for_each_index(os.size(), 4096, [&](Index o) {
    const auto p = os.coords(o);
    float acc = 0.0f;
    for (int corner = 0; corner < (1 << Dim); ++corner) {
      std::array<Index, Dim> q;
      float weight = 1.0f;
      for (int a = 0; a < Dim; ++a) {
        const bool up = (corner >> a) & 1;
        q[a] = up ? i1[a][p[a]] : i0[a][p[a]];
        weight *= up ? w[a][p[a]] : 1.0f - w[a][p[a]];
      }
      if (weight != 0.0f) acc += weight * static_cast<float>(in.at(q));
    }
    out[o] = acc;
  });
  return out;
}

// Nearest-neighbour resampling of a label image to the shape rescale_linear gives.
template <typename L, int Dim>
Image<std::remove_const_t<L>, Dim> rescale_nearest(const ImageView<L, Dim>& in, const std::common_type_t<std::array<double, Dim>>& factor) {
  const Shape<Dim> os = detail::scaled_shape<Dim>(in.shape(), factor);
  Spacing<Dim> sp = in.spacing();
  for (int a = 0; a < Dim; ++a) sp[a] *= static_cast<double>(in.shape()[a]) / static_cast<double>(os[a]);
  Image<std::remove_const_t<L>, Dim> out(os, 0, sp);
  std::array<std::vector<Index>, Dim> src;
  for (int a = 0; a < Dim; ++a) {
    const double f = static_cast<double>(os[a]) / static_cast<double>(in.shape()[a]);
    for (Index o = 0; o < os[a]; ++o)
      src[a].push_back(std::clamp<Index>(static_cast<Index>(std::floor(detail::source_coord(o, f) + 0.5)), 0,
                                         in.shape()[a] - 1));
  }
  parallel_for_each_index(os.size(), 4096, [&](Index o) {
    const auto p = os.coords(o);
    std::array<Index, Dim> q;
    for (int a = 0; a < Dim; ++a) q[a] = src[a][p[a]];
    out[o] = in.at(q);
  });
  return out;
}

// Median in-plane equivalent diameter of the objects, in pixels: the diameter of the disc with
// the object's area (2D), or with the area of its largest z plane (3D), so that the z sampling
// of a volume (often coarser, and rarely known from the file) does not enter; 0 when there is
// no object.
template <typename L, int Dim>
double median_object_diameter(const ImageView<const L, Dim>& labels) {
  const Index plane = labels.shape()[Dim - 2] * labels.shape()[Dim - 1];
  const Index planes = plane > 0 ? labels.size() / plane : 0;
  std::unordered_map<L, Index> largest;  // label -> largest per-plane area
  std::unordered_map<L, Index> area;
  for (Index z = 0; z < planes; ++z) {
    area.clear();
    for (Index i = z * plane; i < (z + 1) * plane; ++i)
      if (labels[i] != 0) ++area[labels[i]];
    for (const auto& kv : area) largest[kv.first] = std::max(largest[kv.first], kv.second);
  }
  if (largest.empty()) return 0.0;
  std::vector<double> d;
  d.reserve(largest.size());
  for (const auto& kv : largest) d.push_back(2.0 * std::sqrt(static_cast<double>(kv.second) / M_PI));
  std::nth_element(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(d.size() / 2), d.end());
  double med = d[d.size() / 2];
  if (d.size() % 2 == 0) med = 0.5 * (med + *std::max_element(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(d.size() / 2)));
  return med;
}

}  // namespace qanet
