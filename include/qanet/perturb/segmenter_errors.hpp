#pragma once
// Segmenter-like errors (training data for real segmenters' masks): what real segmentation
// methods get wrong, made from the image and its ground truth. Unlike SPEC §6, which alters
// each outline blindly, every mode here looks at the image: the dim cells are the ones missed,
// cuts follow intensity valleys, outlines follow an intensity level, holes sit at dark inner
// structures, and four simple segmenters (global and local thresholds with connected
// components, distance-transform and intensity watersheds) are run on the image itself with
// random parameters. The target of a sample stays the exact metric against the ground truth.
// Each mode takes a strength in [0, 1] (0: mildest) and a seed; same inputs, same mask.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <queue>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "qanet/core/components.hpp"
#include "qanet/core/image.hpp"
#include "qanet/core/percentile.hpp"
#include "qanet/core/random.hpp"
#include "qanet/metrics/distance_transform.hpp"
#include "qanet/perturb/detail/instances.hpp"
#include "qanet/perturb/topology.hpp"
#include "qanet/qa/normalize.hpp"
#include "qanet/simulate/optics.hpp"

namespace qanet {

enum class SegmenterError : int {
  missed_dim = 0,      // the dimmest cells missing (up to most of them)
  fragments,           // cells cut into 2-4 pieces along intensity valleys or straight lines
  merged_touching,     // touching cells merged (some or all pairs)
  specks,              // single-pixel specks and small false blobs in the background
  isolevel,            // each outline at an intensity level of its own cell
  holes,               // dark inner structures (nucleoli) left out of the cells
  global_threshold,    // Otsu x factor, connected components
  local_threshold,     // above the local mean + offset, connected components
  distance_watershed,  // threshold, then a watershed of the distance transform
  intensity_watershed, // threshold, then a watershed of the smoothed intensity
};
inline constexpr int segmenter_error_count = 10;

inline const char* segmenter_error_name(SegmenterError e) {
  static const char* names[segmenter_error_count] = {
      "missed_dim", "fragments", "merged_touching", "specks", "isolevel",
      "holes", "global_threshold", "local_threshold", "distance_watershed", "intensity_watershed"};
  return names[static_cast<int>(e)];
}

namespace detail {

template <int Dim, typename F>
void for_each_face_neighbour(const Shape<Dim>& s, Index i, F&& f) {
  const auto p = s.coords(i);
  for (int a = 0; a < Dim; ++a) {
    if (p[a] > 0) f(i - s.stride(a));
    if (p[a] + 1 < s[a]) f(i + s.stride(a));
  }
}

// Seeded watershed (priority flood): every voxel allowed by `inside` joins the marker region
// that reaches it first in increasing `cost`; ties go to the earlier push, so it is
// deterministic. Voxels no marker reaches stay 0.
template <int Dim, typename Inside>
void watershed(const Shape<Dim>& s, const std::vector<float>& cost, LabelImage<Dim>& markers, Inside&& inside) {
  using Item = std::tuple<float, std::uint64_t, Index>;
  std::priority_queue<Item, std::vector<Item>, std::greater<Item>> q;
  std::uint64_t order = 0;
  for (Index i = 0; i < s.size(); ++i)
    if (markers[i]) q.emplace(cost[static_cast<std::size_t>(i)], order++, i);
  while (!q.empty()) {
    const Index i = std::get<2>(q.top());
    q.pop();
    for_each_face_neighbour<Dim>(s, i, [&](Index j) {
      if (markers[j] || !inside(j)) return;
      markers[j] = markers[i];
      q.emplace(std::max(cost[static_cast<std::size_t>(j)], cost[static_cast<std::size_t>(i)]), order++, j);
    });
  }
}

// Grey dilation by a box of half-size r (separable running maximum, naive: r is small).
template <int Dim>
std::vector<float> box_max(const Shape<Dim>& s, std::vector<float> v, Index r) {
  std::vector<float> line;
  for (int a = 0; a < Dim; ++a)
    for_each_line(s, a, [&](Index start, Index stride, Index n) {
      line.resize(static_cast<std::size_t>(n));
      for (Index k = 0; k < n; ++k) line[static_cast<std::size_t>(k)] = v[static_cast<std::size_t>(start + k * stride)];
      for (Index k = 0; k < n; ++k) {
        float m = line[static_cast<std::size_t>(k)];
        for (Index j = std::max<Index>(0, k - r); j <= std::min(n - 1, k + r); ++j) m = std::max(m, line[static_cast<std::size_t>(j)]);
        v[static_cast<std::size_t>(start + k * stride)] = m;
      }
    });
  return v;
}

template <int Dim>
std::vector<float> blurred(const std::vector<float>& v, const Shape<Dim>& s, double sigma) {
  Image<float, Dim> img(s);
  std::copy(v.begin(), v.end(), img.begin());
  std::array<double, Dim> sg;
  sg.fill(sigma);
  if (sigma > 0) gaussian_blur<Dim>(img, sg);
  return std::vector<float>(img.begin(), img.end());
}

}  // namespace detail

// The mask a segmenter with error `mode` at `strength` might give for `image` (any intensity
// scale: it is normalised here) whose truth is `gt`.
template <int Dim>
LabelImage<Dim> segmenter_error(const ImageView<const float, Dim>& image, const LabelView<Dim>& gt, SegmenterError mode,
                                double strength, std::uint64_t seed) {
  if (image.shape() != gt.shape()) throw InvalidArgument("segmenter_error: image and ground truth differ in shape");
  const Shape<Dim>& s = gt.shape();
  const Index n = s.size();
  Rng rng = Rng::derive(seed, {0x5e6e, static_cast<std::uint64_t>(mode)});
  strength = std::clamp(strength, 0.0, 1.0);
  const auto norm = normalize_percentile(image);
  const std::vector<float> raw(norm.begin(), norm.end());
  const auto cells = detail::find_instances(gt);
  // The typical cell diameter sets the sizes of smoothing, windows and specks.
  double diameter = 10;
  if (!cells.empty()) {
    std::vector<double> areas;
    for (const auto& c : cells) areas.push_back(static_cast<double>(c.area));
    std::nth_element(areas.begin(), areas.begin() + static_cast<std::ptrdiff_t>(areas.size() / 2), areas.end());
    diameter = std::max(4.0, 2.0 * std::sqrt(areas[areas.size() / 2] / M_PI));
  }
  const std::vector<float> smooth = detail::blurred<Dim>(raw, s, std::max(0.7, 0.04 * diameter));
  LabelImage<Dim> out(s, 0, gt.spacing());
  std::copy(gt.begin(), gt.end(), out.begin());
  Label next = 1;
  for (Label v : gt) next = std::max(next, v + 1);
  std::unordered_map<Label, std::size_t> index;
  for (std::size_t k = 0; k < cells.size(); ++k) index[cells[k].label] = k;
  auto mean_in = [&](std::vector<double>& m) {
    m.assign(cells.size(), 0.0);
    for (Index i = 0; i < n; ++i)
      if (gt[i]) m[index[gt[i]]] += smooth[static_cast<std::size_t>(i)];
    for (std::size_t k = 0; k < cells.size(); ++k) m[k] /= static_cast<double>(std::max<Index>(1, cells[k].area));
  };
  // Foreground of a thresholding segmenter: Otsu's level times a random factor.
  auto threshold_foreground = [&](double spread) {
    const double t = otsu_threshold(smooth) * std::exp(rng.uniform(-spread, spread));
    std::vector<std::uint8_t> fg(static_cast<std::size_t>(n));
    for (Index i = 0; i < n; ++i) fg[static_cast<std::size_t>(i)] = smooth[static_cast<std::size_t>(i)] > t;
    return fg;
  };

  switch (mode) {
    case SegmenterError::missed_dim: {
      // Drop the share f of the cells with the lowest (noisy) mean intensity.
      std::vector<double> m;
      mean_in(m);
      const double f = 0.1 + 0.75 * strength * rng.uniform(0.5, 1.0);
      std::vector<std::pair<double, std::size_t>> order;
      for (std::size_t k = 0; k < cells.size(); ++k) order.push_back({m[k] + rng.normal(0.0, 0.05), k});
      std::sort(order.begin(), order.end());
      const std::size_t drop = static_cast<std::size_t>(std::lround(f * static_cast<double>(cells.size())));
      std::vector<bool> gone(cells.size(), false);
      for (std::size_t k = 0; k < std::min(drop, order.size()); ++k) gone[order[k].second] = true;
      for (Index i = 0; i < n; ++i)
        if (out[i] && gone[index[out[i]]]) out[i] = 0;
      break;
    }
    case SegmenterError::fragments: {
      // Each cell cut with probability p into k pieces grown from k random seeds: by intensity
      // (the cut runs along valleys) or by distance (straight cuts).
      const double p = 0.3 + 0.7 * strength;
      const bool valleys = rng.bernoulli(0.5);
      LabelImage<Dim> seeds(s, 0);
      std::vector<float> cost(static_cast<std::size_t>(n), 0.0f);
      for (Index i = 0; i < n; ++i) cost[static_cast<std::size_t>(i)] = valleys ? -smooth[static_cast<std::size_t>(i)] : 0.0f;
      std::vector<std::vector<Index>> voxels(cells.size());
      for (Index i = 0; i < n; ++i)
        if (gt[i]) voxels[index[gt[i]]].push_back(i);
      for (std::size_t k = 0; k < cells.size(); ++k) {
        Rng r = Rng::derive(seed, {0xf4a9, cells[k].label});
        if (!r.bernoulli(p) || voxels[k].size() < 8) {
          for (Index i : voxels[k]) seeds[i] = cells[k].label;  // unchanged
          continue;
        }
        const Index pieces = 2 + static_cast<Index>(std::min(2.0, std::floor(r.uniform() * (1.0 + 2.0 * strength))));
        for (Index j = 0; j < pieces; ++j) {
          const Index at = voxels[k][static_cast<std::size_t>(r.uniform_int(0, static_cast<Index>(voxels[k].size()) - 1))];
          if (!seeds[at]) seeds[at] = next++;
        }
      }
      // With a flat cost the flood is breadth-first from all seeds at once: straight cuts.
      detail::watershed<Dim>(s, cost, seeds, [&](Index j) { return gt[j] != 0; });
      out = std::move(seeds);
      break;
    }
    case SegmenterError::merged_touching: {
      merge_adjacent(out, 0.3 + 0.7 * strength, rng());
      break;
    }
    case SegmenterError::specks: {
      // Single voxels (up to 3% of the image) and a few small blobs, on background only.
      const Index single = static_cast<Index>(std::lround(rng.uniform(0.001, 0.001 + 0.03 * strength) * static_cast<double>(n)));
      for (Index b = 0; b < single; ++b) {
        const Index i = rng.uniform_int(0, n - 1);
        if (!out[i]) out[i] = next++;
      }
      const Index blobs = rng.uniform_int(0, static_cast<Index>(2 + 10 * strength));
      add_spurious_blobs(out, blobs, rng.uniform(1.0, std::max(1.5, 0.2 * diameter)), rng(), next);
      break;
    }
    case SegmenterError::isolevel: {
      // Per cell: the pixels of its neighbourhood above bg + t (peak - bg), the component that
      // holds the cell's brightest pixel. t spreads wider with the strength.
      std::fill(out.begin(), out.end(), 0u);
      std::vector<float> bgv;
      for (Index i = 0; i < n; ++i)
        if (!gt[i]) bgv.push_back(smooth[static_cast<std::size_t>(i)]);
      const double bg = bgv.empty() ? 0.0 : percentile_linear(bgv, 50.0);
      const double t_mid = rng.uniform(0.5 - 0.4 * strength, 0.5 + 0.35 * strength);
      const Index grow = static_cast<Index>(std::ceil(0.35 * diameter));
      for (std::size_t k = 0; k < cells.size(); ++k) {
        const auto& c = cells[k];
        std::vector<float> inside;
        Index brightest = -1;
        std::array<Index, Dim> lo, hi;
        for (int a = 0; a < Dim; ++a) lo[a] = std::max<Index>(0, c.lo[a] - grow), hi[a] = std::min(s[a] - 1, c.hi[a] + grow);
        auto in_box = [&](Index i) {
          const auto p = s.coords(i);
          for (int a = 0; a < Dim; ++a)
            if (p[a] < lo[a] || p[a] > hi[a]) return false;
          return true;
        };
        for (Index i = 0; i < n; ++i)
          if (gt[i] == c.label) {
            inside.push_back(smooth[static_cast<std::size_t>(i)]);
            if (brightest < 0 || smooth[static_cast<std::size_t>(i)] > smooth[static_cast<std::size_t>(brightest)]) brightest = i;
          }
        const double peak = percentile_linear(inside, 95.0);
        const double t = std::clamp(t_mid + rng.normal(0.0, 0.08), 0.05, 0.95);
        const float level = static_cast<float>(bg + t * (peak - bg));
        if (smooth[static_cast<std::size_t>(brightest)] <= level) continue;  // the cell is lost
        // Flood from the brightest pixel over the box, above the level, onto free pixels and
        // pixels of this cell or the background of the truth (not into other cells' cores).
        std::vector<Index> stack{brightest};
        out[brightest] = c.label;
        while (!stack.empty()) {
          const Index i = stack.back();
          stack.pop_back();
          detail::for_each_face_neighbour<Dim>(s, i, [&](Index j) {
            if (out[j] || !in_box(j) || smooth[static_cast<std::size_t>(j)] <= level) return;
            if (gt[j] && gt[j] != c.label) return;
            out[j] = c.label;
            stack.push_back(j);
          });
        }
      }
      break;
    }
    case SegmenterError::holes: {
      // Pixels darker than the cell's q-quantile, at least 2 px inside the cell, left out.
      Image<std::uint8_t, Dim> outside(s, 0);
      const double q = 5.0 + 30.0 * strength * rng.uniform(0.3, 1.0);
      std::vector<std::vector<float>> values(cells.size());
      for (Index i = 0; i < n; ++i)
        if (gt[i]) values[index[gt[i]]].push_back(smooth[static_cast<std::size_t>(i)]);
      std::vector<float> level(cells.size());
      for (std::size_t k = 0; k < cells.size(); ++k) level[k] = static_cast<float>(percentile_linear(values[k], q));
      // Depth inside the own cell: distance to the nearest voxel of another label.
      for (Index i = 0; i < n; ++i) {
        bool edge = gt[i] == 0;
        detail::for_each_face_neighbour<Dim>(s, i, [&](Index j) { edge = edge || gt[j] != gt[i]; });
        outside[i] = edge;
      }
      const auto d2 = squared_distance_transform(outside.cview());
      const double min_depth = 2.0 + 0.08 * diameter;
      for (Index i = 0; i < n; ++i)
        if (gt[i] && d2[i] >= min_depth * min_depth && smooth[static_cast<std::size_t>(i)] < level[index[gt[i]]]) out[i] = 0;
      break;
    }
    case SegmenterError::global_threshold: {
      const auto fg = threshold_foreground(0.2 + 0.8 * strength);
      out = connected_components<Dim>(s, [&](Index i) { return fg[static_cast<std::size_t>(i)] != 0; });
      break;
    }
    case SegmenterError::local_threshold: {
      const auto local = detail::blurred<Dim>(smooth, s, diameter * rng.uniform(0.5, 2.5));
      const float offset = static_cast<float>(rng.uniform(-0.05, 0.05 + 0.1 * strength));
      out = connected_components<Dim>(s, [&](Index i) {
        return smooth[static_cast<std::size_t>(i)] > local[static_cast<std::size_t>(i)] + offset &&
               smooth[static_cast<std::size_t>(i)] > 0.05f;
      });
      break;
    }
    case SegmenterError::distance_watershed:
    case SegmenterError::intensity_watershed: {
      const auto fg = threshold_foreground(0.1 + 0.5 * strength);
      std::vector<float> height(static_cast<std::size_t>(n));
      if (mode == SegmenterError::distance_watershed) {
        Image<std::uint8_t, Dim> bg(s, 0);
        for (Index i = 0; i < n; ++i) bg[i] = !fg[static_cast<std::size_t>(i)];
        const auto d2 = squared_distance_transform(bg.cview());
        for (Index i = 0; i < n; ++i) height[static_cast<std::size_t>(i)] = static_cast<float>(std::sqrt(d2[i]));
        height = detail::blurred<Dim>(height, s, 1.0);
      } else {
        height = detail::blurred<Dim>(raw, s, diameter * rng.uniform(0.05, 0.25));
      }
      // Markers: maxima of the height over a window of random size (small windows
      // over-segment, large ones merge).
      const Index r = std::max<Index>(1, static_cast<Index>(std::lround(diameter * rng.uniform(0.15, 0.35 + 0.5 * strength))));
      const auto peak = detail::box_max<Dim>(s, height, r);
      // A plateau of maxima is one marker.
      LabelImage<Dim> markers = connected_components<Dim>(s, [&](Index i) {
        const auto k = static_cast<std::size_t>(i);
        return fg[k] && height[k] >= peak[k] && height[k] > 0;
      });
      std::vector<float> cost(height.size());
      for (std::size_t i = 0; i < cost.size(); ++i) cost[i] = -height[i];
      detail::watershed<Dim>(s, cost, markers, [&](Index j) { return fg[static_cast<std::size_t>(j)] != 0; });
      out = std::move(markers);
      break;
    }
  }
  return out;
}

}  // namespace qanet
