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
//
// One error still moves a mask-only measure: objects that are all too thin (only the bright
// cores of cells with a dim rim, rims, texture fragments of a local threshold). The image gives
// a floor for that: the same thickness of the image's own bright foreground (Otsu's threshold
// of the smoothed plane). Where annotations are drawn (at the dim rim, at the Otsu edge) is a
// convention of each lab, so the image measure is only a bound, at 0.8 of its value: on the
// ground truth of the shared data it binds on 11 of 541 DSB2018 images (nuclei annotated near
// the Otsu edge; 9 of them by at most 13%) and never on SIM+ or MSC, whose annotations reach
// further out.

#include <algorithm>
#include <cmath>
#include <vector>

#include <tbb/parallel_invoke.h>

#include "qanet/core/components.hpp"
#include "qanet/core/percentile.hpp"
#include "qanet/core/image.hpp"
#include "qanet/metrics/distance_transform.hpp"
#include "qanet/perturb/morphology.hpp"
#include "qanet/qa/normalize.hpp"
#include "qanet/simulate/optics.hpp"

namespace qanet {

struct ScaleEstimate {
  double diameter = 0;  // px (in-plane); 0 when the mask has no foreground
  Index regions = 0;    // foreground regions that entered the median
  double image_floor = 0;  // px; the image's bound (0 when not measured or no image foreground)
};

namespace detail {

// The z plane of `labels` with the most foreground (0 in 2D).
template <typename L, int Dim>
Index densest_plane(const ImageView<const L, Dim>& labels) {
  const Index h = labels.shape()[Dim - 2], w = labels.shape()[Dim - 1], plane = h * w;
  Index best = 0, best_count = -1;
  for (Index z = 0; z * plane < labels.size(); ++z) {
    Index c = 0;
    for (Index i = z * plane; i < (z + 1) * plane; ++i) c += labels[i] != 0;
    if (c > best_count) best = z, best_count = c;
  }
  return best;
}

// Plane z of `img`, where `keep` says which values are foreground, as 0/1 bytes.
template <typename T, int Dim, typename Keep>
Image<std::uint8_t, 2> plane_foreground(const ImageView<const T, Dim>& img, Index z, Keep&& keep) {
  const Index h = img.shape()[Dim - 2], w = img.shape()[Dim - 1], plane = h * w;
  Image<std::uint8_t, 2> fg(Shape<2>(h, w), 0);
  for (Index i = 0; i < plane; ++i) fg[i] = keep(img[z * plane + i]) ? 1 : 0;
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

// The area-weighted median thickness of a 0/1 plane (the steps above), modified in place.
inline ScaleEstimate foreground_thickness(Image<std::uint8_t, 2>& fg) {
  ScaleEstimate est;
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
  std::vector<Region> r(static_cast<std::size_t>(n), Region{0.0, 0});
  if (!any_background) {
    r[0] = {static_cast<double>(std::min(closed.shape()[0], closed.shape()[1])), closed.size()};
  } else {
    const auto d2 = squared_distance_transform(background.cview());
    for (Index i = 0; i < closed.size(); ++i) {  // the largest squared distance first, one root per region
      if (!regions[i]) continue;
      auto& x = r[static_cast<std::size_t>(regions[i] - 1)];
      x.thickness = std::max(x.thickness, static_cast<double>(d2[i]));
      ++x.area;
    }
    for (auto& x : r) x.thickness = 2.0 * std::sqrt(x.thickness);
  }
  const double first = area_weighted_median(r);
  std::vector<Region> thick;
  for (const auto& x : r)
    if (x.thickness >= 0.25 * first) thick.push_back(x);
  est.diameter = area_weighted_median(thick);
  est.regions = static_cast<Index>(thick.size());
  return est;
}

}  // namespace detail

// Typical in-plane object diameter (px) of a mask, unmoved by specks, cuts and merges.
template <typename L, int Dim>
ScaleEstimate estimate_object_diameter(const ImageView<const L, Dim>& labels) {
  if (labels.empty()) return {};
  auto fg = detail::plane_foreground(labels, detail::densest_plane(labels), [](L v) { return v != 0; });
  return detail::foreground_thickness(fg);
}

// Thickness of the image's bright foreground on plane z: percentiles 1-99.8 to [0, 1], a
// Gaussian of sigma 1.5 px against noise, Otsu's threshold (0 when the plane is flat).
template <typename T, int Dim>
double image_foreground_diameter(const ImageView<const T, Dim>& image, Index z = 0) {
  const Index h = image.shape()[Dim - 2], w = image.shape()[Dim - 1];
  Image<float, 2> plane(Shape<2>(h, w));
  std::transform(image.begin() + z * h * w, image.begin() + (z + 1) * h * w, plane.begin(),
                 [](T v) { return static_cast<float>(v); });
  plane = normalize_percentile(plane.cview());
  gaussian_blur<2>(plane, {1.5, 1.5});
  std::vector<float> values(plane.begin(), plane.end());
  const auto [lo, hi] = std::minmax_element(values.begin(), values.end());
  if (!(*hi > *lo)) return 0.0;
  const float t = static_cast<float>(otsu_threshold(values));
  auto fg = detail::plane_foreground(plane.cview(), 0, [t](float v) { return v > t; });
  return detail::foreground_thickness(fg).diameter;
}

// Share of the image's foreground thickness below which a mask's own measure is not believed.
inline constexpr double image_floor_share = 0.8;
// The floor is believed up to this multiple of the mask's measure.
inline constexpr double image_floor_reach = 2.5;

// The mask's measure, floored by the image's: objects the mask draws much thinner than the
// bright blobs of the image are cores, rims or fragments of cells, not cells.
template <typename T, typename L, int Dim>
ScaleEstimate estimate_object_diameter(const ImageView<const T, Dim>& image, const ImageView<const L, Dim>& labels) {
  if (image.shape() != labels.shape())
    throw InvalidArgument("estimate_object_diameter: image " + image.shape().str() + " and mask " +
                          labels.shape().str() + " differ in shape");
  const Index z = detail::densest_plane(labels);
  ScaleEstimate est;
  double image_diameter = 0;
  // The two measures are independent and mostly serial (connected components, sorting): run
  // them side by side.
  tbb::parallel_invoke(
      [&] {
        auto fg = detail::plane_foreground(labels, z, [](L v) { return v != 0; });
        est = detail::foreground_thickness(fg);
      },
      [&] { image_diameter = image_foreground_diameter(image, z); });
  if (est.diameter <= 0) return est;
  est.image_floor = image_floor_share * image_diameter;
  // A floor far above the mask's measure is a bright clump or tissue (an embryo of packed
  // nuclei, a bright sheet beside the cells: DSB2018 has such images), not a cell: ignored.
  if (est.image_floor <= image_floor_reach * est.diameter) est.diameter = std::max(est.diameter, est.image_floor);
  return est;
}

}  // namespace qanet
