#pragma once
// One pass over a (ground truth, prediction) pair of label images that collects everything
// the metrics need: object sizes, bounding boxes and pairwise intersection counts.
// Internal header: include "qanet/metrics.hpp" instead.

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "qanet/core/error.hpp"
#include "qanet/core/image.hpp"
#include "qanet/core/parallel.hpp"

namespace qanet::detail {

// Axis-aligned box, lo inclusive and hi exclusive, in numpy axis order. Starts empty.
template <int Dim>
struct Box {
  std::array<Index, Dim> lo, hi;
  Box() {
    lo.fill(std::numeric_limits<Index>::max());
    hi.fill(std::numeric_limits<Index>::min());
  }
  bool empty() const { return lo[0] >= hi[0]; }
  Index extent(int a) const { return hi[a] - lo[a]; }
  Index volume() const {
    Index v = 1;
    for (int a = 0; a < Dim; ++a) v *= extent(a);
    return v;
  }
  // Adds the voxels x0..x1-1 of the row whose leading coordinates are `p` (p[Dim-1] unused).
  void add_run(const std::array<Index, Dim>& p, Index x0, Index x1) {
    for (int a = 0; a + 1 < Dim; ++a) {
      if (p[a] < lo[a]) lo[a] = p[a];
      if (p[a] + 1 > hi[a]) hi[a] = p[a] + 1;
    }
    if (x0 < lo[Dim - 1]) lo[Dim - 1] = x0;
    if (x1 > hi[Dim - 1]) hi[Dim - 1] = x1;
  }
  void merge(const Box& o) {
    for (int a = 0; a < Dim; ++a) {
      if (o.lo[a] < lo[a]) lo[a] = o.lo[a];
      if (o.hi[a] > hi[a]) hi[a] = o.hi[a];
    }
  }
};

template <int Dim>
struct ObjectStats {
  Index size = 0;
  Box<Dim> box;
};

inline std::uint64_t pair_key(Label g, Label p) { return (std::uint64_t{g} << 32) | p; }

template <int Dim>
struct OverlapTable {
  std::unordered_map<Label, ObjectStats<Dim>> gt, pred;
  std::unordered_map<std::uint64_t, Index> pairs;  // pair_key(g, p) -> |G ∩ P|

  void merge(const OverlapTable& o) {
    for (const auto& [l, s] : o.gt) {
      auto& t = gt[l];
      t.size += s.size;
      t.box.merge(s.box);
    }
    for (const auto& [l, s] : o.pred) {
      auto& t = pred[l];
      t.size += s.size;
      t.box.merge(s.box);
    }
    for (const auto& [k, n] : o.pairs) pairs[k] += n;
  }
};

// Label values of any integer type, checked: objects are positive labels that fit in 32 bits.
template <typename L>
Label checked_label(L v, const char* what) {
  static_assert(std::is_integral_v<L>, "label images must have an integer element type");
  if constexpr (std::is_signed_v<L>) {
    if (v < 0)
      throw InvalidArgument(std::string(what) + ": negative label " + std::to_string(v) +
                            " (labels are 0 for background, positive for objects)");
  }
  if constexpr (sizeof(L) > sizeof(Label)) {
    if (static_cast<std::uint64_t>(v) > std::numeric_limits<Label>::max())
      throw InvalidArgument(std::string(what) + ": label " + std::to_string(v) +
                            " does not fit in 32 bits");
  }
  return static_cast<Label>(v);
}

template <typename LG, typename LP, int Dim>
void check_same_shape(const ImageView<const LG, Dim>& gt, const ImageView<const LP, Dim>& pred) {
  if (gt.shape() != pred.shape())
    throw InvalidArgument("ground truth (" + gt.shape().str() + ") and prediction (" +
                          pred.shape().str() + ") have different shapes");
}

// Scans rows in parallel; within a row, maximal runs of one (gt, pred) label pair are
// recorded at once, so the hash maps are touched once per run rather than once per voxel.
template <typename LG, typename LP, int Dim>
OverlapTable<Dim> overlap_table(const ImageView<const LG, Dim>& gt,
                                const ImageView<const LP, Dim>& pred) {
  check_same_shape(gt, pred);
  const Shape<Dim> shape = gt.shape();
  OverlapTable<Dim> total;
  if (shape.empty()) return total;
  const Index nx = shape[Dim - 1];
  const Index rows = shape.size() / nx;
  const Index rows_per_chunk = std::max<Index>(1, (Index{1} << 16) / nx);
  const Index chunks = (rows + rows_per_chunk - 1) / rows_per_chunk;
  std::vector<OverlapTable<Dim>> parts(static_cast<std::size_t>(chunks));
  parallel_for_each_index(chunks, 1, [&](Index c) {
    OverlapTable<Dim>& t = parts[static_cast<std::size_t>(c)];
    // Neighbouring runs mostly repeat the previous labels: remember the last entries (element
    // references of unordered_map survive rehashing).
    Label last_g = 0, last_p = 0;
    std::uint64_t last_key = 0;
    ObjectStats<Dim>* gs = nullptr;
    ObjectStats<Dim>* ps = nullptr;
    Index* pair_count = nullptr;
    const Index r1 = std::min(rows, (c + 1) * rows_per_chunk);
    for (Index r = c * rows_per_chunk; r < r1; ++r) {
      const LG* g = gt.data() + r * nx;
      const LP* p = pred.data() + r * nx;
      std::array<Index, Dim> pos = shape.coords(r * nx);
      for (Index x = 0; x < nx;) {
        const LG gv = g[x];
        const LP pv = p[x];
        Index e = x + 1;
        while (e < nx && g[e] == gv && p[e] == pv) ++e;
        if (gv != 0) {
          const Label gl = checked_label(gv, "ground truth");
          if (!gs || gl != last_g) gs = &t.gt[gl], last_g = gl;
          gs->size += e - x;
          gs->box.add_run(pos, x, e);
        }
        if (pv != 0) {
          const Label pl = checked_label(pv, "prediction");
          if (!ps || pl != last_p) ps = &t.pred[pl], last_p = pl;
          ps->size += e - x;
          ps->box.add_run(pos, x, e);
          if (gv != 0) {
            const std::uint64_t key = pair_key(last_g, pl);
            if (!pair_count || key != last_key) pair_count = &t.pairs[key], last_key = key;
            *pair_count += e - x;
          }
        }
        x = e;
      }
    }
  });
  // Merge pairwise in a tree so the serial part stays small on big volumes.
  for (std::size_t step = 1; step < parts.size(); step *= 2) {
    const Index n = static_cast<Index>((parts.size() + 2 * step - 1) / (2 * step));
    parallel_for_each_index(n, 1, [&](Index i) {
      const std::size_t a = static_cast<std::size_t>(i) * 2 * step;
      if (a + step < parts.size()) {
        parts[a].merge(parts[a + step]);
        parts[a + step] = OverlapTable<Dim>{};
      }
    });
  }
  return std::move(parts[0]);
}

}  // namespace qanet::detail
