#pragma once
// A systematic boundary offset: every instance grown or shrunk by a Euclidean distance, the
// error of a segmenter whose threshold is set too low or too high (all cells a few pixels too
// large, with smooth outlines). The box-element morphology of SPEC §6 step 1 draws an
// independent square element per cell instead, so this mode is an addition (off by default,
// PerturbOptions::boundary_shift_probability) that training turns on.

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "qanet/core/error.hpp"
#include "qanet/core/image.hpp"
#include "qanet/core/parallel.hpp"
#include "qanet/metrics/distance_transform.hpp"
#include "qanet/perturb/detail/instances.hpp"

namespace qanet {

// Instance k of `instances` (as found by detail::find_instances) moves its boundary outwards by
// offsets[k] (negative: inwards), in units of the finest voxel spacing. Growing claims only
// background, each background voxel going to the nearest growing instance (ties: the lower
// label), so touching cells keep their common boundary; shrinking removes every voxel within
// |offset| of another label or of background inside the image (the image border is not an
// edge). Labels are kept; an instance may vanish.
template <int Dim>
LabelImage<Dim> shift_boundaries(const LabelView<Dim>& labels, const std::vector<detail::Instance<Dim>>& instances,
                                 const std::vector<double>& offsets) {
  if (offsets.size() != instances.size())
    throw InvalidArgument("shift_boundaries: one offset per instance expected");
  for (double d : offsets)
    if (!std::isfinite(d)) throw InvalidArgument("shift_boundaries: offsets must be finite");
  const Shape<Dim>& shape = labels.shape();
  Spacing<Dim> unit = labels.spacing();
  double finest = unit[0];
  for (double s : unit) finest = std::min(finest, s);
  for (double& s : unit) s /= finest;

  struct Local {
    detail::ImageBox<Dim> box;
    Image<double, Dim> dist2;  // squared distance to the instance (grow) or to its outside (shrink)
  };
  std::vector<Local> local(instances.size());
  parallel_for_each_index(static_cast<Index>(instances.size()), 1, [&](Index k) {
    const auto& in = instances[static_cast<std::size_t>(k)];
    const double d = offsets[static_cast<std::size_t>(k)];
    if (d == 0.0) return;
    Local& l = local[static_cast<std::size_t>(k)];
    std::array<Index, Dim> margin;
    for (int a = 0; a < Dim; ++a) margin[a] = d > 0.0 ? static_cast<Index>(std::ceil(d / unit[a])) + 1 : 1;
    l.box = detail::grown_box<Dim>(in, margin, shape);
    Image<std::uint8_t, Dim> features(l.box.shape, 0);
    for (Index i = 0; i < l.box.shape.size(); ++i) {
      const bool inside = labels[l.box.global(shape, i)] == in.label;
      features[i] = d > 0.0 ? inside : !inside;
    }
    l.dist2 = squared_distance_transform(features.cview(), unit);
  });

  LabelImage<Dim> out = LabelImage<Dim>::from_view(labels);
  // Shrink first (instances are disjoint, so order does not matter) ...
  for (std::size_t k = 0; k < instances.size(); ++k) {
    const double d = offsets[k];
    if (!(d < 0.0)) continue;
    const Local& l = local[k];
    for (Index i = 0; i < l.box.shape.size(); ++i)
      if (l.dist2[i] <= d * d) {
        const Index g = l.box.global(shape, i);
        if (labels[g] == instances[k].label) out[g] = 0;
      }
  }
  // ... then let growing instances claim the original background, nearest first.
  Image<double, Dim> best(shape, std::numeric_limits<double>::infinity());
  for (std::size_t k = 0; k < instances.size(); ++k) {
    const double d = offsets[k];
    if (!(d > 0.0)) continue;
    const Local& l = local[k];
    for (Index i = 0; i < l.box.shape.size(); ++i) {
      const double q = l.dist2[i];
      if (q > d * d || q == 0.0) continue;
      const Index g = l.box.global(shape, i);
      if (labels[g] != 0 || !(q < best[g])) continue;
      best[g] = q;
      out[g] = instances[k].label;
    }
  }
  out.set_spacing(labels.spacing());
  return out;
}

}  // namespace qanet
