#pragma once
// Internal: the objects of a label image (bounding box, area, centroid) found in one pass, and
// small index helpers shared by the perturbation steps.

#include <algorithm>
#include <array>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "qanet/core/image.hpp"

namespace qanet::detail {

template <int Dim>
struct Instance {
  Label label = 0;
  std::array<Index, Dim> lo{};  // inclusive bounding box
  std::array<Index, Dim> hi{};  // inclusive
  Index area = 0;
  std::array<double, Dim> centroid{};
};

// All objects sorted by label. One pass; a one-entry cache makes runs of equal labels cheap,
// so labels may be any uint32 values (gaps, > 65535) without a lookup table of max-label size.
template <int Dim>
std::vector<Instance<Dim>> find_instances(const LabelView<Dim>& labels) {
  std::unordered_map<Label, std::size_t> index;
  std::vector<Instance<Dim>> out;
  std::vector<std::array<double, Dim>> sums;
  const Shape<Dim>& s = labels.shape();
  const Index nx = s[Dim - 1];
  if (labels.empty()) return out;
  const Index rows = labels.size() / nx;
  Label last = 0;
  std::size_t last_k = 0;
  for (Index r = 0; r < rows; ++r) {
    std::array<Index, Dim> p = s.coords(r * nx);
    for (Index x = 0; x < nx; ++x) {
      const Label v = labels[r * nx + x];
      if (v == 0) continue;
      if (v != last || out.empty()) {
        auto it = index.find(v);
        if (it == index.end()) {
          it = index.emplace(v, out.size()).first;
          Instance<Dim> in;
          in.label = v;
          p[Dim - 1] = x;
          in.lo = p;
          in.hi = p;
          out.push_back(in);
          sums.push_back({});
        }
        last = v;
        last_k = it->second;
      }
      Instance<Dim>& in = out[last_k];
      p[Dim - 1] = x;
      for (int a = 0; a < Dim; ++a) {
        in.lo[a] = std::min(in.lo[a], p[a]);
        in.hi[a] = std::max(in.hi[a], p[a]);
        sums[last_k][a] += static_cast<double>(p[a]);
      }
      ++in.area;
    }
  }
  for (std::size_t k = 0; k < out.size(); ++k)
    for (int a = 0; a < Dim; ++a) out[k].centroid[a] = sums[k][a] / static_cast<double>(out[k].area);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.label < b.label; });
  return out;
}


// Calls f(start_offset, stride, length) for every 1D line of `shape` along `axis`.
template <int Dim, typename F>
void for_each_line(const Shape<Dim>& shape, int axis, F&& f) {
  const Index n = shape[axis];
  if (n == 0 || shape.size() == 0) return;
  const Index stride = shape.stride(axis);
  const Index outer = shape.size() / (n * stride);
  for (Index o = 0; o < outer; ++o)
    for (Index inner = 0; inner < stride; ++inner) f(o * n * stride + inner, stride, n);
}

// A box inside an image: where per-instance work happens in a buffer of its own.
template <int Dim>
struct ImageBox {
  std::array<Index, Dim> origin{};
  Shape<Dim> shape;
  // The image offset of the box's flat index i.
  Index global(const Shape<Dim>& image, Index i) const {
    std::array<Index, Dim> p = shape.coords(i);
    for (int a = 0; a < Dim; ++a) p[a] += origin[a];
    return image.offset(p);
  }
};

// The bounding box of `in` grown by margin[a] voxels along each axis, clipped to the image.
template <int Dim>
ImageBox<Dim> grown_box(const Instance<Dim>& in, const std::array<Index, Dim>& margin, const Shape<Dim>& image) {
  ImageBox<Dim> b;
  for (int a = 0; a < Dim; ++a) {
    b.origin[a] = std::max<Index>(0, in.lo[a] - margin[a]);
    b.shape[a] = std::min<Index>(image[a] - 1, in.hi[a] + margin[a]) - b.origin[a] + 1;
  }
  return b;
}

}  // namespace qanet::detail
