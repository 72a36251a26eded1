#pragma once
// Topology errors of the perturbation pipeline (SPEC §6 step 3): merges of adjacent instances,
// splits by a random line or plane, dropped instances (misses) and spurious blobs (false
// positives). Every random decision is drawn from a stream derived from (seed, label), so
// the result does not depend on the order in which instances are visited.

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <unordered_map>
#include <utility>
#include <vector>

#include "qanet/core/image.hpp"
#include "qanet/core/random.hpp"
#include "qanet/perturb/detail/instances.hpp"

namespace qanet {

namespace detail {

inline Label uf_find(std::unordered_map<Label, Label>& parent, Label x) {
  auto it = parent.find(x);
  if (it == parent.end()) return x;
  Label root = x;
  while (true) {
    auto jt = parent.find(root);
    if (jt == parent.end() || jt->second == root) break;
    root = jt->second;
  }
  while (x != root) {  // path compression
    Label& p = parent[x];
    const Label next = p;
    p = root;
    x = next;
  }
  return root;
}

// Poisson sample by inversion (the means used here are small).
inline Index poisson_small(Rng& rng, double mean) {
  if (!(mean > 0.0)) return 0;
  const double l = std::exp(-std::min(mean, 500.0));
  double p = rng.uniform();
  Index k = 0;
  while (p > l && k < 100000) {
    p *= rng.uniform();
    ++k;
  }
  return k;
}

}  // namespace detail

// Distinct pairs (a < b) of different objects that touch through a face (4 in 2D, 6 in 3D).
template <int Dim>
std::vector<std::pair<Label, Label>> adjacent_pairs(const LabelView<Dim>& labels) {
  std::vector<std::pair<Label, Label>> pairs;
  const Shape<Dim>& s = labels.shape();
  for (Index i = 0; i < labels.size(); ++i) {
    const Label v = labels[i];
    if (v == 0) continue;
    const auto p = s.coords(i);
    for (int a = 0; a < Dim; ++a) {
      if (p[a] + 1 >= s[a]) continue;
      const Label w = labels[i + s.stride(a)];
      if (w != 0 && w != v) pairs.emplace_back(std::min(v, w), std::max(v, w));
    }
  }
  std::sort(pairs.begin(), pairs.end());
  pairs.erase(std::unique(pairs.begin(), pairs.end()), pairs.end());
  return pairs;
}

// Merges each adjacent pair with probability p (chains merge transitively); a merged group
// takes its smallest label. Returns the number of merged pairs.
template <int Dim>
Index merge_adjacent(LabelImage<Dim>& labels, double p, std::uint64_t seed) {
  if (!(p > 0.0)) return 0;
  const auto pairs = adjacent_pairs(labels.cview());
  std::unordered_map<Label, Label> parent;
  Index merged = 0;
  for (const auto& [a, b] : pairs) {
    Rng rng = Rng::derive(seed, {a, b});
    if (!rng.bernoulli(p)) continue;
    const Label ra = detail::uf_find(parent, a), rb = detail::uf_find(parent, b);
    if (ra == rb) continue;
    const Label lo = std::min(ra, rb), hi = std::max(ra, rb);
    parent[hi] = lo;
    parent.emplace(lo, lo);
    ++merged;
  }
  if (merged == 0) return 0;
  std::unordered_map<Label, Label> root;
  for (auto& [x, unused] : parent) root[x] = detail::uf_find(parent, x);
  Label last = 0, last_root = 0;
  for (Label& v : labels) {
    if (v == 0) continue;
    if (v != last) {
      last = v;
      auto it = root.find(v);
      last_root = it == root.end() ? v : it->second;
    }
    v = last_root;
  }
  return merged;
}

// Splits each instance with probability p by a random line (2D) or plane (3D) through a point
// near its centroid; the far side gets a fresh label above `next_label`, which is advanced.
// Returns the number of split instances.
template <int Dim>
Index split_instances(LabelImage<Dim>& labels, const std::vector<detail::Instance<Dim>>& instances,
                      double p, std::uint64_t seed, Label& next_label) {
  if (!(p > 0.0)) return 0;
  Index count = 0;
  const Shape<Dim>& s = labels.shape();
  for (const auto& in : instances) {
    Rng rng = Rng::derive(seed, {in.label});
    if (!rng.bernoulli(p) || in.area < 2) continue;
    const std::array<double, Dim> n = random_unit_vector<Dim>(rng);
    // The cut passes within a quarter of the half-extent from the centroid, so both parts
    // usually survive and the smaller is anything from a sliver to a half.
    std::array<double, Dim> q = in.centroid;
    for (int a = 0; a < Dim; ++a) {
      q[a] += rng.uniform(-0.25, 0.25) * 0.5 * static_cast<double>(in.hi[a] - in.lo[a] + 1);
    }
    const Label fresh = next_label++;
    Index moved = 0;
    std::array<Index, Dim> pos = in.lo;
    // Walk the bounding box.
    while (true) {
      const Index i = s.offset(pos);
      if (labels[i] == in.label) {
        double d = 0.0;
        for (int a = 0; a < Dim; ++a) d += (static_cast<double>(pos[a]) - q[a]) * n[a];
        if (d > 0.0) {
          labels[i] = fresh;
          ++moved;
        }
      }
      int a = Dim - 1;
      while (a >= 0 && ++pos[a] > in.hi[a]) {
        pos[a] = in.lo[a];
        --a;
      }
      if (a < 0) break;
    }
    if (moved > 0) ++count;
  }
  return count;
}

// Removes each instance with probability p. Returns the number removed.
template <int Dim>
Index drop_instances(LabelImage<Dim>& labels, const std::vector<detail::Instance<Dim>>& instances,
                     double p, std::uint64_t seed) {
  if (!(p > 0.0)) return 0;
  std::vector<Label> gone;
  for (const auto& in : instances) {
    Rng rng = Rng::derive(seed, {in.label});
    if (rng.bernoulli(p)) gone.push_back(in.label);
  }
  if (gone.empty()) return 0;
  std::sort(gone.begin(), gone.end());
  for (Label& v : labels)
    if (v != 0 && std::binary_search(gone.begin(), gone.end(), v)) v = 0;
  return static_cast<Index>(gone.size());
}

// Adds `count` ellipse (ellipsoid) blobs of radius about `radius` voxels at random places, on
// background voxels only, with fresh labels. Returns the number of blobs that got any voxel.
template <int Dim>
Index add_spurious_blobs(LabelImage<Dim>& labels, Index count, double radius, std::uint64_t seed,
                         Label& next_label) {
  const Shape<Dim>& s = labels.shape();
  if (count <= 0 || labels.empty() || !(radius > 0.0)) return 0;
  Index added = 0;
  for (Index b = 0; b < count; ++b) {
    Rng rng = Rng::derive(seed, {static_cast<std::uint64_t>(b)});
    std::array<double, Dim> c{}, r{};
    std::array<Index, Dim> lo{}, hi{};
    for (int a = 0; a < Dim; ++a) {
      c[a] = rng.uniform(0.0, static_cast<double>(s[a]));
      r[a] = std::max(0.75, radius * rng.uniform(0.6, 1.4));
    }
    const double angle = rng.uniform(0.0, 6.283185307179586);  // in-plane rotation
    const double ca = std::cos(angle), sa = std::sin(angle);
    const double reach = *std::max_element(r.begin(), r.end());
    // The centre lies inside the image, so every box is non-empty.
    for (int a = 0; a < Dim; ++a) {
      lo[a] = std::max<Index>(0, static_cast<Index>(std::floor(c[a] - reach)));
      hi[a] = std::min<Index>(s[a] - 1, static_cast<Index>(std::ceil(c[a] + reach)));
    }
    const Label fresh = next_label++;
    Index painted = 0;
    std::array<Index, Dim> pos = lo;
    while (true) {
      std::array<double, Dim> d{};
      for (int a = 0; a < Dim; ++a) d[a] = static_cast<double>(pos[a]) + 0.5 - c[a];
      const double u = ca * d[Dim - 1] + sa * d[Dim - 2];
      const double v = -sa * d[Dim - 1] + ca * d[Dim - 2];
      double q = (u / r[Dim - 1]) * (u / r[Dim - 1]) + (v / r[Dim - 2]) * (v / r[Dim - 2]);
      if (Dim == 3) q += (d[0] / r[0]) * (d[0] / r[0]);
      const Index i = s.offset(pos);
      if (q <= 1.0 && labels[i] == 0) {
        labels[i] = fresh;
        ++painted;
      }
      int a = Dim - 1;
      while (a >= 0 && ++pos[a] > hi[a]) {
        pos[a] = lo[a];
        --a;
      }
      if (a < 0) break;
    }
    if (painted > 0) ++added;
  }
  return added;
}

}  // namespace qanet
