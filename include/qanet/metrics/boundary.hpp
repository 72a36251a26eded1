#pragma once
// Boundary distances between two objects (SPEC §7, conventions B1-B9 of
// ../shared/tools/metrics_oracle.py): each object is a binary mask; its boundary is the set of
// its voxels with a face neighbour (4 in 2D, 6 in 3D) outside it, the image border counting as
// outside. d(X, X') lists, for every boundary voxel of X, the Euclidean distance between voxel
// centres (physical units) to the nearest boundary voxel of X'. Everything happens inside the
// bounding box of the two objects, so one pair costs time proportional to that box.

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "qanet/core/error.hpp"
#include "qanet/core/percentile.hpp"
#include "qanet/core/image.hpp"
#include "qanet/metrics/detail/overlap.hpp"
#include "qanet/metrics/distance_transform.hpp"

namespace qanet {

// Values for one (ground truth, prediction) pair; distances in the units of the spacing.
struct BoundaryMetrics {
  double hd = 0.0;     // max of the two directed maxima
  double mhd = 0.0;    // max of the two directed means (Dubuisson & Jain)
  double mhd95 = 0.0;  // max of the two directed 95th percentiles (numpy 'linear')
  double asd = 0.0;    // (sum d_gp + sum d_pg) / (|d_gp| + |d_pg|)
  double nemhd = 0.0;  // exp(-mhd / tau)
  Index n_boundary_gt = 0;
  Index n_boundary_pred = 0;
  double mean_gt_to_pred = 0.0;
  double mean_pred_to_gt = 0.0;
  // Other tools' variants, for comparison only: one 95th percentile of the pooled list
  // (MedPy hd95, seg-metrics) and the mean of the two directed means (MedPy <= 0.4 assd).
  double hd95_pooled = 0.0;
  double assd_mean_of_means = 0.0;
};

// The two directed lists: gt_to_pred[i] for the i-th boundary voxel of the first mask (in
// row-major order of the voxels), pred_to_gt likewise for the second.
struct DirectedDistances {
  std::vector<double> gt_to_pred;
  std::vector<double> pred_to_gt;
};

namespace detail {

inline double sum_of(const std::vector<double>& x) {
  double s = 0.0;
  for (double v : x) s += v;
  return s;
}

// Per-voxel bits of a pair's box: membership of the two objects and their boundaries.
enum PairBits : std::uint8_t { kInA = 1, kInB = 2, kEdgeA = 4, kEdgeB = 8 };

// Buffers of one pair, reused from pair to pair by the thread that owns them.
struct PairScratch {
  std::vector<std::uint8_t> flags;
  std::vector<double> to_a, to_b;
  EdtLineScratch line;
};

// Sets kEdgeA / kEdgeB on voxels of A / B with a face neighbour outside the object or outside
// the box (outside the box is outside both objects, since the box holds both).
template <int Dim>
void mark_boundaries(std::uint8_t* f, const Shape<Dim>& s) {
  std::array<Index, Dim> c{};
  std::array<Index, Dim> stride;
  for (int a = 0; a < Dim; ++a) stride[a] = s.stride(a);
  const Index n = s.size();
  for (Index i = 0; i < n; ++i) {
    const std::uint8_t v = f[i];
    if (v & (kInA | kInB)) {
      std::uint8_t all = kInA | kInB;  // bits present in every face neighbour
      for (int a = 0; a < Dim; ++a) {
        const std::uint8_t lo = c[a] > 0 ? f[i - stride[a]] : 0;
        const std::uint8_t hi = c[a] + 1 < s[a] ? f[i + stride[a]] : 0;
        all &= lo & hi;
      }
      const std::uint8_t missing = static_cast<std::uint8_t>(~all & v & (kInA | kInB));
      f[i] = static_cast<std::uint8_t>(v | (missing << 2));  // kInA -> kEdgeA, kInB -> kEdgeB
    }
    for (int a = Dim - 1; a >= 0; --a) {  // odometer: next voxel's coordinates
      if (++c[a] < s[a]) break;
      c[a] = 0;
    }
  }
}

// Both directed lists from a box whose flags hold kInA / kInB (both objects non-empty).
template <int Dim>
DirectedDistances directed_distances_in_box(PairScratch& w, const Shape<Dim>& s, const Spacing<Dim>& spacing) {
  mark_boundaries<Dim>(w.flags.data(), s);
  const std::size_t n = static_cast<std::size_t>(s.size());
  w.to_a.resize(n);
  w.to_b.resize(n);
  squared_edt_of_bit<Dim>(w.flags.data(), kEdgeA, kEdgeB, w.to_a.data(), s, spacing, w.line);
  squared_edt_of_bit<Dim>(w.flags.data(), kEdgeB, kEdgeA, w.to_b.data(), s, spacing, w.line);
  DirectedDistances out;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint8_t v = w.flags[i];
    if (v & kEdgeA) out.gt_to_pred.push_back(std::sqrt(w.to_b[i]));
    if (v & kEdgeB) out.pred_to_gt.push_back(std::sqrt(w.to_a[i]));
  }
  return out;
}

// Fills w.flags over `box` with kInA where gt == g and kInB where pred == p.
template <typename LG, typename LP, int Dim>
void extract_pair(const ImageView<const LG, Dim>& gt, Label g, const ImageView<const LP, Dim>& pred, Label p,
                  const Box<Dim>& box, PairScratch& w) {
  Shape<Dim> bs;
  for (int a = 0; a < Dim; ++a) bs[a] = box.extent(a);
  w.flags.resize(static_cast<std::size_t>(bs.size()));
  const Index nx = bs[Dim - 1];
  const Index rows = bs.size() / nx;
  const LG gv = static_cast<LG>(g);  // labels were validated, so they round-trip
  const LP pv = static_cast<LP>(p);
  for (Index r = 0; r < rows; ++r) {
    std::array<Index, Dim> q = bs.coords(r * nx);
    for (int a = 0; a < Dim; ++a) q[a] += box.lo[a];
    const Index off = gt.shape().offset(q);
    const LG* sg = gt.data() + off;
    const LP* sp = pred.data() + off;
    std::uint8_t* dst = w.flags.data() + r * nx;
    for (Index x = 0; x < nx; ++x)
      dst[x] = static_cast<std::uint8_t>((sg[x] == gv ? kInA : 0) | (sp[x] == pv ? kInB : 0));
  }
}

template <typename LG, typename LP, int Dim>
DirectedDistances pair_distances(const ImageView<const LG, Dim>& gt, Label g,
                                 const ImageView<const LP, Dim>& pred, Label p, const Box<Dim>& box,
                                 const SpacingArg<Dim>& spacing, PairScratch& w) {
  Shape<Dim> bs;
  for (int a = 0; a < Dim; ++a) bs[a] = box.extent(a);
  extract_pair(gt, g, pred, p, box, w);
  return directed_distances_in_box<Dim>(w, bs, spacing);
}

}  // namespace detail

// HD, MHD, MHD95, ASD and neMHD from the two directed lists (both non-empty).
inline BoundaryMetrics boundary_metrics_from_distances(DirectedDistances d, double tau = 10.0) {
  if (d.gt_to_pred.empty() || d.pred_to_gt.empty())
    throw InvalidArgument("boundary metrics: both directed distance lists must be non-empty");
  if (!(tau > 0.0) || !std::isfinite(tau))
    throw InvalidArgument("boundary metrics: tau must be positive and finite");
  BoundaryMetrics m;
  auto& x = d.gt_to_pred;
  auto& y = d.pred_to_gt;
  m.n_boundary_gt = static_cast<Index>(x.size());
  m.n_boundary_pred = static_cast<Index>(y.size());
  const double sx = detail::sum_of(x), sy = detail::sum_of(y);
  m.mean_gt_to_pred = sx / static_cast<double>(x.size());
  m.mean_pred_to_gt = sy / static_cast<double>(y.size());
  m.hd = std::max(*std::max_element(x.begin(), x.end()), *std::max_element(y.begin(), y.end()));
  m.mhd = std::max(m.mean_gt_to_pred, m.mean_pred_to_gt);
  m.asd = (sx + sy) / static_cast<double>(x.size() + y.size());
  m.nemhd = std::exp(-m.mhd / tau);
  m.assd_mean_of_means = 0.5 * (m.mean_gt_to_pred + m.mean_pred_to_gt);
  std::vector<double> pooled(x);
  pooled.insert(pooled.end(), y.begin(), y.end());
  m.hd95_pooled = percentile_linear(pooled, 95.0);
  m.mhd95 = std::max(percentile_linear(x, 95.0), percentile_linear(y, 95.0));
  return m;
}

// Directed boundary distances between two binary masks of one shape (non-zero = inside).
template <typename A, typename B, int Dim>
DirectedDistances directed_boundary_distances(const ImageView<const A, Dim>& mask_gt,
                                              const ImageView<const B, Dim>& mask_pred,
                                              const detail::SpacingArg<Dim>& spacing) {
  if (mask_gt.shape() != mask_pred.shape())
    throw InvalidArgument("boundary distances: masks of different shapes (" +
                          mask_gt.shape().str() + " and " + mask_pred.shape().str() + ")");
  detail::check_spacing<Dim>(spacing, "boundary distances");
  // Reduce to the bounding box of the union, as the evaluation does.
  detail::Box<Dim> box;
  const Shape<Dim> s = mask_gt.shape();
  bool any_a = false, any_b = false;
  for (Index i = 0; i < s.size(); ++i) {
    const bool in_a = mask_gt[i] != A{}, in_b = mask_pred[i] != B{};
    any_a |= in_a;
    any_b |= in_b;
    if (in_a || in_b) {
      const auto p = s.coords(i);
      box.add_run(p, p[Dim - 1], p[Dim - 1] + 1);
    }
  }
  if (!any_a || !any_b)
    throw InvalidArgument(std::string("boundary distances: the ") +
                          (any_a ? "prediction" : "ground-truth") + " mask is empty");
  Shape<Dim> bs;
  for (int a = 0; a < Dim; ++a) bs[a] = box.extent(a);
  detail::PairScratch w;
  w.flags.resize(static_cast<std::size_t>(bs.size()));
  for (Index j = 0; j < bs.size(); ++j) {
    auto p = bs.coords(j);
    for (int k = 0; k < Dim; ++k) p[k] += box.lo[k];
    const Index i = s.offset(p);
    w.flags[static_cast<std::size_t>(j)] = static_cast<std::uint8_t>(
        (mask_gt[i] != A{} ? detail::kInA : 0) | (mask_pred[i] != B{} ? detail::kInB : 0));
  }
  return detail::directed_distances_in_box<Dim>(w, bs, spacing);
}

template <typename A, typename B, int Dim>
BoundaryMetrics boundary_metrics(const ImageView<const A, Dim>& mask_gt,
                                 const ImageView<const B, Dim>& mask_pred,
                                 const detail::SpacingArg<Dim>& spacing, double tau = 10.0) {
  return boundary_metrics_from_distances(directed_boundary_distances(mask_gt, mask_pred, spacing), tau);
}

}  // namespace qanet
