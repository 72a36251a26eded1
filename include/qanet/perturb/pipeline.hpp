#pragma once
// The perturbation pipeline (SPEC §6): ground truth -> a realistically wrong segmentation.
// Order: per-instance morphology, non-rigid deformation, topology errors (merge, split, drop,
// spurious blobs), consecutive relabelling. Same seed -> same bytes, whatever the thread count.

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "qanet/core/image.hpp"
#include "qanet/core/random.hpp"
#include "qanet/perturb/boundary_shift.hpp"
#include "qanet/perturb/deformation.hpp"
#include "qanet/perturb/detail/instances.hpp"
#include "qanet/perturb/morphology.hpp"
#include "qanet/perturb/options.hpp"
#include "qanet/perturb/topology.hpp"

namespace qanet {

// What the pipeline did to one mask (for logs and for studying the score distribution).
struct PerturbRecord {
  double severity = 0.5;
  std::array<Index, 5> morphology{};  // instances per MorphOp
  double boundary_shift = 0.0;        // step 1b's offset in voxels (0: box morphology ran)
  bool deformed = false;
  Index merged = 0, split = 0, dropped = 0, spurious = 0;
  int segmenter_error = -1;  // the SegmenterError mode that made the mask instead (-1: none)
};

template <int Dim>
struct PerturbResult {
  LabelImage<Dim> labels;  // consecutive labels 1..n, uint32
  PerturbRecord record;
};

namespace detail {

// Maps the sorted labels of `instances` to 1..n in place (runs of equal labels are cheap).
template <int Dim>
void relabel_in_place(LabelImage<Dim>& labels, const std::vector<Instance<Dim>>& instances) {
  std::unordered_map<Label, Label> lut;
  lut.reserve(instances.size() * 2);
  for (std::size_t k = 0; k < instances.size(); ++k) lut.emplace(instances[k].label, static_cast<Label>(k + 1));
  Label last = 0, last_new = 0;
  for (Label& v : labels) {
    if (v == 0) continue;
    if (v != last) {
      last = v;
      last_new = lut.at(v);
    }
    v = last_new;
  }
}

inline std::uint64_t substream(std::uint64_t seed, std::uint64_t step) {
  return Rng::derive(seed, {0x9e7u, step})();
}

inline Index draw_side(Rng& rng, Index lo, Index hi, double factor) {
  const Index side = rng.uniform_int(lo, hi);
  return std::max<Index>(1, static_cast<Index>(std::lround(static_cast<double>(side) * factor)));
}

}  // namespace detail

// Draws the severity of sample `seed` as the pipeline does (exposed so callers can log it).
inline double draw_severity(const PerturbOptions& opt, std::uint64_t seed) {
  if (!opt.use_severity) return 0.5;
  Rng rng(detail::substream(seed, 0));
  return std::pow(rng.uniform(opt.severity_min, opt.severity_max), opt.severity_exponent);
}

// Perturbs `gt` at a given severity s in [0, 1] (0: unchanged, 0.5: the SPEC pipeline).
template <int Dim>
PerturbResult<Dim> perturb_labels_at(const LabelView<Dim>& gt, const PerturbOptions& opt,
                                     double severity, std::uint64_t seed) {
  opt.validate();
  if (!(severity >= 0.0 && severity <= 1.0))
    throw InvalidArgument("perturb_labels: severity must lie in [0, 1]");
  const double f = 2.0 * severity;
  auto scaled = [f](double p) { return std::min(1.0, p * f); };
  PerturbResult<Dim> res;
  res.record.severity = severity;

  // Work on consecutive labels so fresh labels for splits and blobs can never collide.
  LabelImage<Dim> cur = LabelImage<Dim>::from_view(gt);
  auto instances = detail::find_instances(cur.cview());
  detail::relabel_in_place(cur, instances);
  for (std::size_t k = 0; k < instances.size(); ++k) instances[k].label = static_cast<Label>(k + 1);
  const Index n_gt = static_cast<Index>(instances.size());

  // 1. Morphology per instance, or (1b) one systematic boundary offset for all of them. The
  // offset draws come from a stream of their own, drawn only when the mode is on, so masks of
  // the SPEC pipeline stay byte for byte what they were.
  bool shifted = false;
  if (opt.boundary_shift_probability > 0.0 && !instances.empty()) {
    const std::uint64_t s7 = detail::substream(seed, 7);
    Rng rng(s7);
    if (rng.bernoulli(opt.boundary_shift_probability)) {
      const double d = f * rng.uniform(-opt.boundary_shift_max, opt.boundary_shift_max);
      std::vector<double> offsets(instances.size());
      for (std::size_t k = 0; k < instances.size(); ++k) {
        Rng cell = Rng::derive(s7, {instances[k].label});
        offsets[k] = d * (1.0 + cell.uniform(-opt.boundary_shift_jitter, opt.boundary_shift_jitter));
      }
      cur = shift_boundaries(cur.cview(), instances, offsets);
      res.record.boundary_shift = d;
      shifted = true;
    }
  }
  if (!shifted) {
    std::vector<InstanceMorphology> ops(instances.size());
    double wsum = 0.0;
    for (double w : opt.morphology_weights) wsum += w;
    const std::uint64_t s1 = detail::substream(seed, 1);
    for (std::size_t k = 0; k < instances.size(); ++k) {
      Rng rng = Rng::derive(s1, {instances[k].label});
      double u = rng.uniform() * wsum;
      int op = 0;
      while (op < 4 && u >= opt.morphology_weights[op]) u -= opt.morphology_weights[op++];
      const bool large = instances[k].area >= opt.large_cell_area;
      ops[k].op = static_cast<MorphOp>(op);
      ops[k].side = large ? detail::draw_side(rng, opt.large_side_min, opt.large_side_max, f)
                          : detail::draw_side(rng, opt.small_side_min, opt.small_side_max, f);
      if (ops[k].side <= 1) ops[k].op = MorphOp::identity;
      ++res.record.morphology[static_cast<int>(ops[k].op)];
    }
    cur = morph_instances(cur.cview(), instances, ops);
  }

  // 2. Non-rigid deformation.
  {
    Rng rng(detail::substream(seed, 2));
    if (rng.bernoulli(opt.deform_probability) && f > 0.0 && !cur.empty()) {
      const DeformModel model = opt.deform_model == DeformModel::automatic
                                    ? (Dim == 2 ? DeformModel::smoothed_noise : DeformModel::bspline)
                                    : opt.deform_model;
      DisplacementField<Dim> field;
      if (model == DeformModel::smoothed_noise) {
        field = smoothed_noise_field(cur.shape(), opt.noise_amplitude * f, opt.noise_sigma, rng());
      } else {
        Shape<Dim> pts;
        std::array<double, Dim> amp{};
        for (int a = 0; a < Dim; ++a) {
          pts[a] = rng.uniform_int(opt.bspline_points_min, opt.bspline_points_max);
          amp[a] = f * ((Dim == 3 && a == 0) ? opt.bspline_z : opt.bspline_inplane);
        }
        field = bspline_field<Dim>(cur.shape(), pts, amp, rng());
      }
      cur = warp_labels(cur.cview(), field);
      res.record.deformed = true;
    }
  }

  // 3. Topology errors.
  Label next_label = static_cast<Label>(n_gt + 1);
  res.record.merged = merge_adjacent(cur, scaled(opt.merge_probability), detail::substream(seed, 3));
  {
    const auto now = detail::find_instances(cur.cview());
    res.record.split = split_instances(cur, now, scaled(opt.split_probability), detail::substream(seed, 4), next_label);
    res.record.dropped = drop_instances(cur, now, scaled(opt.drop_probability), detail::substream(seed, 5));
  }
  {
    Rng rng(detail::substream(seed, 6));
    double radius = opt.spurious_radius_fallback;
    if (n_gt > 0) {
      std::vector<Index> areas;
      for (const auto& in : instances) areas.push_back(in.area);
      std::nth_element(areas.begin(), areas.begin() + areas.size() / 2, areas.end());
      const double a = static_cast<double>(areas[areas.size() / 2]);
      const double eq = Dim == 2 ? std::sqrt(a / 3.141592653589793) : std::cbrt(a * 3.0 / (4.0 * 3.141592653589793));
      radius = opt.spurious_radius * eq;
    }
    const Index count = detail::poisson_small(rng, opt.spurious_per_cell * f * static_cast<double>(std::max<Index>(n_gt, 1)));
    res.record.spurious = add_spurious_blobs(cur, count, radius, rng(), next_label);
  }

  // 4. Consecutive labels.
  detail::relabel_in_place(cur, detail::find_instances(cur.cview()));
  cur.set_spacing(gt.spacing());
  res.labels = std::move(cur);
  return res;
}

// Perturbs `gt` with a severity drawn from the options (see PerturbOptions). The ground truth
// is only read.
template <int Dim>
PerturbResult<Dim> perturb_labels(const LabelView<Dim>& gt, const PerturbOptions& opt, std::uint64_t seed) {
  opt.validate();
  return perturb_labels_at(gt, opt, draw_severity(opt, seed), seed);
}

}  // namespace qanet
