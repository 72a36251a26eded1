#pragma once
// Whole-frame and whole-sequence evaluation (SPEC §7): SEG, matched/unmatched counts, per-object
// records, and the boundary metrics of every matched pair, aggregated the CTC way.

#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include <tbb/enumerable_thread_specific.h>

#include "qanet/core/error.hpp"
#include "qanet/core/image.hpp"
#include "qanet/core/parallel.hpp"
#include "qanet/metrics/boundary.hpp"
#include "qanet/metrics/match.hpp"

namespace qanet {

struct MetricOptions {
  double tau = 10.0;     // neMHD = exp(-MHD / tau), in the units of the spacing
  bool boundary = true;  // false: SEG and counts only (much cheaper)
  // Voxel spacing in numpy order (z, y, x): empty = the ground-truth view's spacing; one value =
  // isotropic; Dim values; for a 2D frame, 3 values are accepted and the last two used (a
  // single-plane annotation of a 3D sequence).
  std::vector<double> spacing;
};

// One ground-truth object: its CTC match and, when matched and requested, its boundary metrics.
struct ObjectRecord : ObjectMatch {
  std::optional<BoundaryMetrics> boundary;
};

// Counts and aggregates shared by a frame and a pooled sequence. Undefined values are nullopt:
// seg and nemhd when there is no ground-truth object; hd, mhd, mhd95, asd when no pair matched;
// all five distance values when boundary metrics were not requested.
struct MetricSummary {
  Index gt_objects = 0;
  Index pred_objects = 0;
  Index matched = 0;
  Index unmatched_gt = 0;
  Index unmatched_pred = 0;
  std::optional<double> seg;    // sum of Jaccard over all GT objects / number of GT objects
  std::optional<double> hd;     // means over matched pairs
  std::optional<double> mhd;
  std::optional<double> mhd95;
  std::optional<double> asd;
  std::optional<double> nemhd;  // sum of exp(-MHD_i / tau) over matched pairs / all GT objects
};

struct FrameMetrics : MetricSummary {
  std::vector<ObjectRecord> objects;  // one per GT object, by increasing label
  double tau = 10.0;
  bool boundary = true;
  std::vector<double> spacing;  // the spacing used, numpy order
};

struct SequenceMetrics : MetricSummary {
  Index frames = 0;
};

namespace detail {

template <int Dim>
Spacing<Dim> resolve_spacing(const std::vector<double>& given, const Spacing<Dim>& fallback) {
  Spacing<Dim> s = fallback;
  const std::size_t n = given.size();
  if (n == 1) {
    s.fill(given[0]);
  } else if (n == static_cast<std::size_t>(Dim)) {
    for (int a = 0; a < Dim; ++a) s[static_cast<std::size_t>(a)] = given[static_cast<std::size_t>(a)];
  } else if (Dim == 2 && n == 3) {
    s[0] = given[1];
    s[1] = given[2];
  } else if (n != 0) {
    throw InvalidArgument("metric options: " + std::to_string(n) + " spacing values do not fit a " +
                          std::to_string(Dim) + "D image (give 1 or " + std::to_string(Dim) +
                          " values, in z,y,x order)");
  }
  check_spacing<Dim>(s, "metric options");
  return s;
}

// Running sums over GT object records (of one frame or of many), turned into the aggregates.
struct SummarySums {
  double jac = 0.0, hd = 0.0, mhd = 0.0, mhd95 = 0.0, asd = 0.0, nemhd = 0.0;
  Index n = 0, m = 0;

  void add(const ObjectRecord& r, bool boundary) {
    ++n;
    jac += r.jaccard;
    if (!r.matched()) return;
    ++m;
    if (!boundary) return;
    QANET_ASSERT(r.boundary.has_value());
    hd += r.boundary->hd;
    mhd += r.boundary->mhd;
    mhd95 += r.boundary->mhd95;
    asd += r.boundary->asd;
    nemhd += r.boundary->nemhd;
  }

  void finish(bool boundary, MetricSummary& out) const {
    out.seg.reset();
    out.hd.reset();
    out.mhd.reset();
    out.mhd95.reset();
    out.asd.reset();
    out.nemhd.reset();
    if (n > 0) out.seg = jac / static_cast<double>(n);
    if (!boundary) return;
    if (n > 0) out.nemhd = nemhd / static_cast<double>(n);
    if (m > 0) {
      const double dm = static_cast<double>(m);
      out.hd = hd / dm;
      out.mhd = mhd / dm;
      out.mhd95 = mhd95 / dm;
      out.asd = asd / dm;
    }
  }
};

template <typename LG, typename LP, int Dim>
FrameMetrics evaluate_impl(const ImageView<const LG, Dim>& gt, const ImageView<const LP, Dim>& pred,
                           const MetricOptions& opt) {
  if (!(opt.tau > 0.0) || !std::isfinite(opt.tau))
    throw InvalidArgument("metric options: tau must be positive and finite");
  const Spacing<Dim> spacing = resolve_spacing<Dim>(opt.spacing, gt.spacing());
  MatchWithBoxes<Dim> mb = match_impl(gt, pred);
  FrameMetrics f;
  f.tau = opt.tau;
  f.boundary = opt.boundary;
  f.spacing.assign(spacing.begin(), spacing.end());
  const MatchResult& r = mb.result;
  f.gt_objects = r.gt_objects;
  f.pred_objects = r.pred_objects;
  f.matched = r.matched;
  f.unmatched_gt = r.unmatched_gt;
  f.unmatched_pred = r.unmatched_pred;
  f.objects.resize(r.objects.size());
  for (std::size_t i = 0; i < r.objects.size(); ++i)
    static_cast<ObjectMatch&>(f.objects[i]) = r.objects[i];
  if (opt.boundary) {
    // Pairs are independent; each costs time proportional to its own bounding box.
    std::vector<std::size_t> todo;
    for (std::size_t i = 0; i < f.objects.size(); ++i)
      if (f.objects[i].matched()) todo.push_back(i);
    tbb::enumerable_thread_specific<PairScratch> scratch;
    parallel_for_each_index(static_cast<Index>(todo.size()), 1, [&](Index k) {
      ObjectRecord& rec = f.objects[todo[static_cast<std::size_t>(k)]];
      Box<Dim> box = mb.boxes[todo[static_cast<std::size_t>(k)]].first;
      box.merge(mb.boxes[todo[static_cast<std::size_t>(k)]].second);
      rec.boundary = boundary_metrics_from_distances(
          pair_distances(gt, rec.gt_label, pred, rec.pred_label, box, spacing, scratch.local()),
          opt.tau);
    });
  }
  SummarySums sums;
  for (const ObjectRecord& r : f.objects) sums.add(r, opt.boundary);
  sums.finish(opt.boundary, f);
  return f;
}

}  // namespace detail

// Evaluates one frame. gt, pred: ImageView<T, Dim> or Image<T, Dim> of any integer types (they
// may differ), same shape. Throws InvalidArgument for different shapes, negative labels, bad
// options. No GT object is not an error: seg and nemhd are then nullopt.
template <typename G, typename P>
FrameMetrics evaluate_frame(const G& gt, const P& pred, const MetricOptions& options = {}) {
  detail::static_check_pair<G, P>();
  return detail::evaluate_impl(detail::const_label_view(gt), detail::const_label_view(pred), options);
}

// Plane z of a 3D view as a 2D view (no copy); the spacing keeps the (y, x) part.
template <typename T>
ImageView<T, 2> z_plane(const ImageView<T, 3>& volume, Index z) {
  if (z < 0 || z >= volume.shape()[0])
    throw InvalidArgument("z_plane: plane " + std::to_string(z) + " outside a volume of shape " +
                          volume.shape().str());
  const auto& s = volume.spacing();
  return ImageView<T, 2>(volume.data() + z * volume.shape().stride(0),
                         Shape<2>(volume.shape()[1], volume.shape()[2]), Spacing<2>{s[1], s[2]});
}

// A single-plane annotation of a 3D sequence (CTC man_seg_TTT_ZZZ.tif): the 2D ground truth
// is compared with plane z of the 3D prediction, as its own 2D frame (SPEC §7).
template <typename G, typename P>
FrameMetrics evaluate_plane(const G& gt_plane, const P& pred_volume, Index z,
                            const MetricOptions& options = {}) {
  const auto g = detail::const_label_view(gt_plane);
  const auto p = detail::const_label_view(pred_volume);
  static_assert(decltype(g)::dim == 2 && decltype(p)::dim == 3,
                "evaluate_plane takes a 2D ground-truth plane and a 3D prediction");
  return detail::evaluate_impl(g, z_plane(p, z), options);
}

// Pools frames the CTC way: every aggregate is taken over all GT objects (or all matched pairs)
// of all frames together, not as a mean of frame means. Distances are pooled only when every
// frame has them; frames must share tau.
inline SequenceMetrics pool_frames(const std::vector<FrameMetrics>& frames) {
  SequenceMetrics s;
  s.frames = static_cast<Index>(frames.size());
  bool boundary = !frames.empty();
  for (const FrameMetrics& f : frames) {
    if (f.tau != frames.front().tau)
      throw InvalidArgument("pool_frames: frames were evaluated with different tau values");
    boundary = boundary && f.boundary;
    s.gt_objects += f.gt_objects;
    s.pred_objects += f.pred_objects;
    s.matched += f.matched;
    s.unmatched_gt += f.unmatched_gt;
    s.unmatched_pred += f.unmatched_pred;
  }
  detail::SummarySums sums;
  for (const FrameMetrics& f : frames)
    for (const ObjectRecord& r : f.objects) sums.add(r, boundary);
  sums.finish(boundary, s);
  return s;
}

}  // namespace qanet
