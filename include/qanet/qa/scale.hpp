#pragma once
// The object scale of a mask, measured so that the mask's own errors cannot move it.
//
// A model sees objects at the diameter it was trained at, so scoring first resamples the image.
// A median of per-object sizes lets the judged mask pick its own scale: 2,000 specks drive it to
// 1 px, and cells cut in pieces are enlarged until the pieces look like whole cells. Here the
// labels do not enter at all, only the foreground (which voxels belong to any object):
//  - connected pieces of foreground of at most 4 pixels are dropped: no cell is that small at
//    any scale a model works at, and specks, however many, then leave nothing behind;
//  - the foreground is closed by a 3 x 3 square, so cut lines of one or two pixels between
//    fragments vanish; cutting, splitting and merging cells then leave it unchanged;
//  - each connected foreground region has a thickness, twice its largest distance to the
//    background (the diameter of its largest inscribed disc: a round cell's diameter, the width
//    of an elongated one, and still one cell's diameter for a clump of touching cells);
//  - the estimate is the area-weighted median thickness, taken again over the regions at least a
//    quarter as thick as the first median: specks and debris weigh nothing.
// Volumes are measured on their z plane with the most foreground (in-plane diameters, as the
// scale factor is applied in-plane and the z sampling of a volume is rarely known).

#include <algorithm>
#include <cmath>
#include <vector>

#include "qanet/core/components.hpp"
#include "qanet/core/image.hpp"
#include "qanet/metrics/distance_transform.hpp"
#include "qanet/perturb/morphology.hpp"

namespace qanet {

struct ScaleEstimate {
  double diameter = 0;  // px (in-plane); 0 when the mask has no foreground
  Index regions = 0;    // foreground regions that entered the median
};

namespace detail {

// The foreground of the z plane of `labels` with the most of it, as 0/1 bytes.
template <typename L, int Dim>
Image<std::uint8_t, 2> foreground_plane(const ImageView<const L, Dim>& labels) {
  const Index h = labels.shape()[Dim - 2], w = labels.shape()[Dim - 1], plane = h * w;
  Index best = 0, best_count = -1;
  for (Index z = 0; z * plane < labels.size(); ++z) {
    Index c = 0;
    for (Index i = z * plane; i < (z + 1) * plane; ++i) c += labels[i] != 0;
    if (c > best_count) best = z, best_count = c;
  }
  Image<std::uint8_t, 2> fg(Shape<2>(h, w), 0);
  for (Index i = 0; i < plane; ++i) fg[i] = labels[best * plane + i] != 0;
  return fg;
}

struct Region {
  double thickness;
  Index area;
};

inline double area_weighted_median(std::vector<Region> r) {
  std::sort(r.begin(), r.end(), [](const Region& a, const Region& b) {
    return a.thickness < b.thickness || (a.thickness == b.thickness && a.area < b.area);
  });
  double total = 0, acc = 0;
  for (const auto& x : r) total += static_cast<double>(x.area);
  for (const auto& x : r) {
    acc += static_cast<double>(x.area);
    if (acc >= 0.5 * total) return x.thickness;
  }
  return r.empty() ? 0.0 : r.back().thickness;
}

}  // namespace detail

// Typical in-plane object diameter (px) of a mask, unmoved by specks, cuts and merges.
template <typename L, int Dim>
ScaleEstimate estimate_object_diameter(const ImageView<const L, Dim>& labels) {
  ScaleEstimate est;
  if (labels.empty()) return est;
  auto fg = detail::foreground_plane(labels);
  Index pieces = 0;
  const auto raw = connected_components<2>(fg.shape(), [&](Index i) { return fg[i] != 0; }, &pieces);
  std::vector<Index> piece_area(static_cast<std::size_t>(pieces) + 1, 0);
  for (Label v : raw) ++piece_area[v];
  for (Index i = 0; i < fg.size(); ++i)
    if (piece_area[raw[i]] <= 4) fg[i] = 0;
  // Closing by the 3 x 3 square; outside the plane counts as background for the dilation and as
  // foreground for the erosion, so the border neither grows nor eats regions.
  dilate_box<2>(fg.view(), 3);
  erode_box<2>(fg.view(), 3, 1);
  const auto& closed = fg;
  Index n = 0;
  const auto regions = connected_components<2>(closed.shape(), [&](Index i) { return closed[i] != 0; }, &n);
  if (n == 0) return est;
  // Distance of every foreground pixel to the nearest background pixel; the image border is not
  // background (a cell cut by the border keeps its full width). No background at all: the
  // whole plane is one region as thick as the plane's shorter side.
  Image<std::uint8_t, 2> background(closed.shape(), 0);
  bool any_background = false;
  for (Index i = 0; i < closed.size(); ++i) any_background |= (background[i] = closed[i] == 0) != 0;
  std::vector<detail::Region> r(static_cast<std::size_t>(n), detail::Region{0.0, 0});
  if (!any_background) {
    r[0] = {static_cast<double>(std::min(closed.shape()[0], closed.shape()[1])), closed.size()};
  } else {
    const auto d2 = squared_distance_transform(background.cview());
    for (Index i = 0; i < closed.size(); ++i) {
      if (!regions[i]) continue;
      auto& x = r[static_cast<std::size_t>(regions[i] - 1)];
      x.thickness = std::max(x.thickness, 2.0 * std::sqrt(d2[i]));
      ++x.area;
    }
  }
  const double first = detail::area_weighted_median(r);
  std::vector<detail::Region> thick;
  for (const auto& x : r)
    if (x.thickness >= 0.25 * first) thick.push_back(x);
  est.diameter = detail::area_weighted_median(thick);
  est.regions = static_cast<Index>(thick.size());
  return est;
}

}  // namespace qanet
