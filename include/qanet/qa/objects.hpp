#pragma once
// Pieces of per-object scoring (Assessor::assess_objects): the result record, and the window of
// an image centred on one object, mirrored where it passes the image's edges.

#include <array>
#include <type_traits>

#include "qanet/core/image.hpp"
#include "qanet/core/labels.hpp"

namespace qanet {

// One object of the judged mask and its predicted quality.
template <int Dim>
struct ObjectScore {
  Label label = 0;                   // in the caller's mask
  Index voxels = 0;                  // its size in the caller's mask
  std::array<double, Dim> centroid{};  // in the caller's image, numpy order
  double score = 0;                  // predicted IoU with the true cell under it
};

// The window of `size` at `origin` (which may lie partly outside the image) of `src`, mirrored
// past the edges (reflect_index) as the frame scores pad their images.
template <typename V, int Dim>
Image<V, Dim> reflected_window(const Image<V, Dim>& src, const std::common_type_t<std::array<Index, Dim>>& origin,
                               const Shape<Dim>& size) {
  Image<V, Dim> out(size);
  const Shape<Dim>& s = src.shape();
  const Index nx = size[Dim - 1], rows = size.size() / nx;
  for (Index r = 0; r < rows; ++r) {
    auto p = size.coords(r * nx);
    for (int a = 0; a + 1 < Dim; ++a) p[a] = reflect_index(p[a] + origin[a], s[a]);
    p[Dim - 1] = 0;
    const V* row = src.data() + s.offset(p);
    V* dst = out.data() + r * nx;
    for (Index x = 0; x < nx; ++x) dst[x] = row[reflect_index(x + origin[Dim - 1], s[Dim - 1])];
  }
  return out;
}

}  // namespace qanet
