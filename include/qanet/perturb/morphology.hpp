#pragma once
// Binary morphology with box structuring elements (squares in 2D, cubes in 3D), separable and
// linear in the number of pixels whatever the element size (van Herk / Gil-Werman running
// min/max), and the per-instance morphology step of the perturbation pipeline (SPEC §6 step 1).

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "qanet/core/error.hpp"
#include "qanet/core/image.hpp"
#include "qanet/core/parallel.hpp"
#include "qanet/perturb/detail/instances.hpp"

namespace qanet {

enum class MorphOp : std::uint8_t { identity = 0, erosion = 1, dilation = 2, opening = 3, closing = 4 };

inline const char* morph_op_name(MorphOp op) {
  switch (op) {
    case MorphOp::identity: return "identity";
    case MorphOp::erosion: return "erosion";
    case MorphOp::dilation: return "dilation";
    case MorphOp::opening: return "opening";
    case MorphOp::closing: return "closing";
  }
  return "?";
}

namespace detail {

// out[i] = min (or max) of line[i - left .. i + right], values beyond the line read as `pad`.
// van Herk / Gil-Werman: prefix and suffix extremes inside blocks of the window length give
// every window with one comparison, so the cost does not depend on the window.
template <typename T>
void running_extreme(T* line, Index stride, Index n, Index left, Index right, bool take_min, T pad,
                     std::vector<T>& g, std::vector<T>& pre, std::vector<T>& suf) {
  const Index k = left + right + 1;
  if (k <= 1 || n <= 0) return;
  const Index m = n + left + right;
  const Index mb = (m + k - 1) / k * k;  // whole blocks
  g.assign(static_cast<std::size_t>(mb), pad);
  pre.resize(static_cast<std::size_t>(mb));
  suf.resize(static_cast<std::size_t>(mb));
  for (Index i = 0; i < n; ++i) g[left + i] = line[i * stride];
  auto op = [take_min](T a, T b) { return take_min ? (a < b ? a : b) : (a < b ? b : a); };
  for (Index b = 0; b < mb; b += k) {
    pre[b] = g[b];
    for (Index j = b + 1; j < b + k; ++j) pre[j] = op(pre[j - 1], g[j]);
    suf[b + k - 1] = g[b + k - 1];
    for (Index j = b + k - 2; j >= b; --j) suf[j] = op(suf[j + 1], g[j]);
  }
  for (Index i = 0; i < n; ++i) line[i * stride] = op(suf[i], pre[i + k - 1]);
}

// The 3-voxel box (the common case: closing thin cuts, one-voxel shells) without the general
// algorithm's line buffers: along each axis every voxel takes the extreme of itself and its two
// neighbours, whole rows at a time (contiguous and vectorised even across the slow axes, where
// the general path walks strided lines). Values beyond the image read as `pad`; same result.
template <int Dim>
void box3_binary(const ImageView<std::uint8_t, Dim>& mask, bool erode, std::uint8_t pad) {
  const Shape<Dim>& shape = mask.shape();
  auto op = [erode](std::uint8_t a, std::uint8_t b) -> std::uint8_t { return erode ? std::min(a, b) : std::max(a, b); };
  std::uint8_t* data = mask.data();
  for (int a = 0; a < Dim; ++a) {
    const Index n = shape[a], inner = shape.stride(a), outer = shape.size() / (n * inner);
    if (n < 1) continue;
    if (inner == 1) {  // the fastest axis: each line on its own
      std::vector<std::uint8_t> line(static_cast<std::size_t>(n + 2), pad);
      for (Index o = 0; o < outer; ++o) {
        std::uint8_t* row = data + o * n;
        std::copy(row, row + n, line.begin() + 1);
        for (Index i = 0; i < n; ++i) row[i] = op(op(line[i], line[i + 1]), line[i + 2]);
      }
      continue;
    }
    std::vector<std::uint8_t> prev(static_cast<std::size_t>(inner)), cur(static_cast<std::size_t>(inner)),
        padrow(static_cast<std::size_t>(inner), pad);
    for (Index o = 0; o < outer; ++o) {
      std::uint8_t* base = data + o * n * inner;
      std::fill(prev.begin(), prev.end(), pad);
      for (Index i = 0; i < n; ++i) {
        std::uint8_t* row = base + i * inner;
        std::copy(row, row + inner, cur.begin());
        const std::uint8_t* next = i + 1 < n ? row + inner : padrow.data();
        for (Index j = 0; j < inner; ++j) row[j] = op(op(prev[j], cur[j]), next[j]);
        std::swap(prev, cur);
      }
    }
  }
}

template <int Dim>
void box_filter_binary(const ImageView<std::uint8_t, Dim>& mask, Index side, bool erode,
                       std::uint8_t border) {
  if (side <= 1 || mask.empty()) return;
  if (side == 3) return box3_binary(mask, erode, erode ? border : std::uint8_t{0});
  const Index c = side / 2;
  // Erosion uses the element as given, dilation its reflection, as in scipy.ndimage, so that
  // opening and closing of even sizes do not shift the object.
  const Index left = erode ? c : side - 1 - c;
  const Index right = side - 1 - left;
  std::vector<std::uint8_t> g, pre, suf;
  for (int a = 0; a < Dim; ++a)
    for_each_line(mask.shape(), a, [&](Index start, Index stride, Index n) {
      running_extreme<std::uint8_t>(mask.data() + start, stride, n, left, right, erode,
                                    erode ? border : std::uint8_t{0}, g, pre, suf);
    });
}

}  // namespace detail

// In-place binary erosion of a 0/1 mask by a box of `side` voxels per axis. Voxels outside the
// image count as `border` (1: objects cut by the image border are not eroded from it).
template <int Dim>
void erode_box(const ImageView<std::uint8_t, Dim>& mask, Index side, std::uint8_t border = 1) {
  if (side < 1) throw InvalidArgument("erode_box: side must be >= 1 (got " + std::to_string(side) + ")");
  detail::box_filter_binary(mask, side, true, border);
}

// In-place binary dilation of a 0/1 mask by a box of `side` voxels per axis.
template <int Dim>
void dilate_box(const ImageView<std::uint8_t, Dim>& mask, Index side) {
  if (side < 1) throw InvalidArgument("dilate_box: side must be >= 1 (got " + std::to_string(side) + ")");
  detail::box_filter_binary(mask, side, false, std::uint8_t{0});
}

template <int Dim>
void binary_morphology(const ImageView<std::uint8_t, Dim>& mask, MorphOp op, Index side,
                       std::uint8_t border = 1) {
  switch (op) {
    case MorphOp::identity: return;
    case MorphOp::erosion: erode_box(mask, side, border); return;
    case MorphOp::dilation: dilate_box(mask, side); return;
    case MorphOp::opening:
      erode_box(mask, side, border);
      dilate_box(mask, side);
      return;
    case MorphOp::closing:
      dilate_box(mask, side);
      erode_box(mask, side, border);
      return;
  }
}

// What step 1 does to one instance.
struct InstanceMorphology {
  MorphOp op = MorphOp::identity;
  Index side = 1;
};

// Applies ops[k] to instance k of `instances` (as found by detail::find_instances), each
// inside its own bounding box grown by the element size, and paints the results in label
// order (a later label overwrites an earlier one where dilated objects collide, as in the
// reference). Labels are kept. Instances may vanish (erosion) or touch (dilation).
template <int Dim>
LabelImage<Dim> morph_instances(const LabelView<Dim>& labels,
                                const std::vector<detail::Instance<Dim>>& instances,
                                const std::vector<InstanceMorphology>& ops) {
  if (ops.size() != instances.size())
    throw InvalidArgument("morph_instances: one operation per instance expected");
  const Shape<Dim>& shape = labels.shape();
  LabelImage<Dim> out(shape, 0, labels.spacing());
  struct Local {
    detail::ImageBox<Dim> box;
    std::vector<std::uint8_t> mask;
  };
  std::vector<Local> local(instances.size());
  auto global_row = [&](const Local& l, Index r) { return l.box.global(shape, r * l.box.shape[Dim - 1]); };
  // Instances are independent: process them in parallel, each in its own buffer...
  parallel_for_each_index(static_cast<Index>(instances.size()), 1, [&](Index k) {
    const auto& in = instances[k];
    const InstanceMorphology m = ops[k];
    Local& l = local[k];
    const bool grows = m.op == MorphOp::dilation || m.op == MorphOp::closing;
    // A margin of at least one background voxel on every side inside the image keeps erosion
    // exact; growing operations need room for the whole element.
    std::array<Index, Dim> margin;
    margin.fill(grows ? m.side + 1 : 1);
    l.box = detail::grown_box<Dim>(in, margin, shape);
    l.mask.assign(static_cast<std::size_t>(l.box.shape.size()), 0);
    const Index nx = l.box.shape[Dim - 1];
    const Index rows = l.box.shape.size() / nx;
    for (Index r = 0; r < rows; ++r) {
      const Index g = global_row(l, r);
      for (Index x = 0; x < nx; ++x) l.mask[r * nx + x] = labels[g + x] == in.label;
    }
    // Inside the image, beyond the grown box, lies background: the border value of the
    // erosion matters only where the box meets the image border.
    binary_morphology(ImageView<std::uint8_t, Dim>(l.mask.data(), l.box.shape), m.op, m.side, std::uint8_t{1});
  });
  // ... and paint them in label order, so the result does not depend on the scheduling.
  for (std::size_t k = 0; k < instances.size(); ++k) {
    const Local& l = local[k];
    const Index nx = l.box.shape[Dim - 1];
    const Index rows = l.box.shape.size() / nx;
    for (Index r = 0; r < rows; ++r) {
      const Index g = global_row(l, r);
      for (Index x = 0; x < nx; ++x)
        if (l.mask[r * nx + x]) out[g + x] = instances[k].label;
    }
  }
  return out;
}

}  // namespace qanet
