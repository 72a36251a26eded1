#pragma once
// Connected components of a binary image with face connectivity (4 in 2D, 6 in 3D), labelled
// 1..n in raster order of their first voxel. Used by the scale estimate and by the simple
// segmenters of the training errors (threshold + components).

#include <cstdint>
#include <vector>

#include "qanet/core/image.hpp"

namespace qanet {

// `inside(i)` says whether voxel i (row-major index) belongs to the foreground.
template <int Dim, typename Inside>
LabelImage<Dim> connected_components(const Shape<Dim>& shape, Inside&& inside, Index* count = nullptr) {
  LabelImage<Dim> out(shape, 0);
  std::vector<Index> stack;
  Label next = 0;
  std::array<Index, Dim> stride{};
  stride[Dim - 1] = 1;
  for (int a = Dim - 2; a >= 0; --a) stride[a] = stride[a + 1] * shape[a + 1];
  for (Index i = 0; i < shape.size(); ++i) {
    if (out[i] || !inside(i)) continue;
    out[i] = ++next;
    stack.push_back(i);
    while (!stack.empty()) {
      const Index j = stack.back();
      stack.pop_back();
      const auto p = shape.coords(j);
      for (int a = 0; a < Dim; ++a)
        for (int s = -1; s <= 1; s += 2) {
          const Index q = p[a] + s;
          if (q < 0 || q >= shape[a]) continue;
          const Index k = j + s * stride[a];
          if (!out[k] && inside(k)) {
            out[k] = next;
            stack.push_back(k);
          }
        }
    }
  }
  if (count) *count = static_cast<Index>(next);
  return out;
}

}  // namespace qanet
