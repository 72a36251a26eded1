#pragma once
// Label-image utilities: validation of label values read from foreign types, object counting,
// consecutive relabelling, and the segmentation encodings fed to the network (SPEC §2).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "qanet/core/image.hpp"
#include "qanet/core/parallel.hpp"

namespace qanet {

// Converts any integer or float label image to uint32 labels. Throws InvalidArgument naming
// `what` for negative, non-integral, non-finite or too-large values.
template <typename T, int Dim>
LabelImage<Dim> to_labels(const ImageView<const T, Dim>& in, const std::string& what = "label image") {
  LabelImage<Dim> out(in.shape(), 0, in.spacing());
  for (Index i = 0; i < in.size(); ++i) {
    const T v = in[i];
    if constexpr (std::is_floating_point_v<T>) {
      if (!std::isfinite(v) || v != std::floor(v))
        throw InvalidArgument(what + ": label images must hold integer values (found " +
                              std::to_string(static_cast<double>(v)) + ")");
    }
    if constexpr (std::is_signed_v<T>) {
      if (v < 0)
        throw InvalidArgument(what + ": negative label " + std::to_string(static_cast<double>(v)) +
                              " (labels are 0 for background, positive for objects)");
    }
    if (static_cast<double>(v) > static_cast<double>(std::numeric_limits<Label>::max()))
      throw InvalidArgument(what + ": label " + std::to_string(static_cast<double>(v)) +
                            " does not fit in 32 bits");
    out[i] = static_cast<Label>(v);
  }
  return out;
}

// Sorted distinct non-zero labels.
template <typename L, int Dim>
std::vector<L> object_labels(const ImageView<const L, Dim>& labels) {
  std::vector<L> v;
  for (const L& x : labels)
    if (x != 0) v.push_back(x);
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

template <typename L, int Dim>
Index count_objects(const ImageView<const L, Dim>& labels) {
  return static_cast<Index>(object_labels(labels).size());
}

// Relabels objects to 1..n in increasing order of their old labels; background stays 0.
template <typename L, int Dim>
LabelImage<Dim> relabel_consecutive(const ImageView<const L, Dim>& labels) {
  const std::vector<L> ids = object_labels(labels);
  LabelImage<Dim> out(labels.shape(), 0, labels.spacing());
  for (Index i = 0; i < labels.size(); ++i) {
    const L x = labels[i];
    if (x != 0)
      out[i] = static_cast<Label>(std::lower_bound(ids.begin(), ids.end(), x) - ids.begin() + 1);
  }
  return out;
}

// Trinary classes of SPEC §2.
enum class Trinary : std::uint8_t { background = 0, interior = 1, boundary = 2 };

// 0 = background, 1 = interior, 2 = boundary. A voxel is boundary when it belongs to an object
// and a face neighbour (4 in 2D, 6 in 3D) carries another label; the image border does not
// count as another label, so an object cut by the border keeps its interior there. With
// boundary_width w > 1, interior voxels within w-1 face steps of a boundary voxel of the same
// object become boundary too (the band grows inwards, so touching cells stay separated).
template <typename L, int Dim>
Image<std::uint8_t, Dim> trinary_encode(const ImageView<const L, Dim>& labels, int boundary_width = 1) {
  if (boundary_width < 1) throw InvalidArgument("trinary_encode: boundary_width must be >= 1");
  const Shape<Dim> shape = labels.shape();
  Image<std::uint8_t, Dim> out(shape, 0, labels.spacing());
  const Index rows = shape.size() / (shape.empty() ? 1 : shape[Dim - 1]);
  parallel_chunks(shape.empty() ? 0 : rows, 16, [&](Index r0, Index r1) {
    const Index nx = shape[Dim - 1];
    for (Index r = r0; r < r1; ++r) {
      for (Index x = 0; x < nx; ++x) {
        const Index i = r * nx + x;
        const L v = labels[i];
        if (v == 0) continue;
        const auto p = shape.coords(i);
        bool edge = false;
        for (int a = 0; a < Dim && !edge; ++a) {
          const Index s = shape.stride(a);
          if (p[a] > 0 && labels[i - s] != v) edge = true;
          if (p[a] + 1 < shape[a] && labels[i + s] != v) edge = true;
        }
        out[i] = edge ? 2 : 1;
      }
    }
  });
  // Widen the band inwards, one face step per pass, within the same object.
  for (int pass = 1; pass < boundary_width; ++pass) {
    std::vector<Index> grow;
    for (Index i = 0; i < shape.size(); ++i) {
      if (out[i] != 1) continue;
      const auto p = shape.coords(i);
      for (int a = 0; a < Dim; ++a) {
        const Index s = shape.stride(a);
        if ((p[a] > 0 && out[i - s] == 2 && labels[i - s] == labels[i]) ||
            (p[a] + 1 < shape[a] && out[i + s] == 2 && labels[i + s] == labels[i])) {
          grow.push_back(i);
          break;
        }
      }
    }
    for (Index i : grow) out[i] = 2;
  }
  return out;
}

// Network input channel: trinary / 2, i.e. {0, 0.5, 1}.
template <typename F = float, typename L, int Dim>
Image<F, Dim> trinary_channel(const ImageView<const L, Dim>& labels, int boundary_width = 1) {
  const auto t = trinary_encode(labels, boundary_width);
  Image<F, Dim> out(labels.shape(), F(0), labels.spacing());
  for (Index i = 0; i < out.size(); ++i) out[i] = static_cast<F>(t[i]) / F(2);
  return out;
}

// Binary ablation channel: 1 inside any object, 0 outside.
template <typename F = float, typename L, int Dim>
Image<F, Dim> binary_channel(const ImageView<const L, Dim>& labels) {
  Image<F, Dim> out(labels.shape(), F(0), labels.spacing());
  for (Index i = 0; i < out.size(); ++i) out[i] = labels[i] != 0 ? F(1) : F(0);
  return out;
}

}  // namespace qanet
