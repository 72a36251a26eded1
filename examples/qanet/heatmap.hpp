#pragma once
// Quality heat maps for people: the image in grey, each pixel tinted by the object-weighted
// mean score of the patches covering it, or (per-object scores) by its object's own score (red =
// poor, green = good), mask outlines in white. 3D volumes show their middle plane.

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <unordered_map>
#include <vector>

#include "qanet/core/labels.hpp"
#include "qanet/io/png.hpp"
#include "qanet/qa/assessor.hpp"
#include "qanet/qa/normalize.hpp"

namespace qanet::cli {

// Good = 1, poor = 0: SEG-like scores as they are, distances d (px) as exp(-d / 5).
inline double goodness(double score, bool higher_is_better) {
  return higher_is_better ? std::clamp(score, 0.0, 1.0) : std::exp(-std::max(score, 0.0) / 5.0);
}

// An 8-bit RGB picture, rows top to bottom.
struct RgbPicture {
  std::vector<std::uint8_t> pixels;
  int width = 0, height = 0;
};

namespace detail {

// The middle plane (2D: the image) in grey, each pixel tinted by quality(i, label) in [0, 1]
// (0 red, 0.5 yellow, 1 green; NaN: untinted), the mask's outlines in white.
template <int Dim, typename Quality>
RgbPicture tinted(const Image<float, Dim>& image, const LabelImage<Dim>& mask, Quality quality) {
  const Index h = image.shape()[Dim - 2], w = image.shape()[Dim - 1];
  const Index z = Dim == 3 ? image.shape()[0] / 2 : 0;
  const Index plane = h * w;
  ImageView<const float, 2> img(image.data() + z * plane, Shape<2>(h, w));
  ImageView<const Label, 2> lab(mask.data() + z * plane, Shape<2>(h, w));
  const auto grey = normalize_percentile(img);
  const auto outline = trinary_encode(lab);
  RgbPicture pic{std::vector<std::uint8_t>(static_cast<std::size_t>(plane) * 3), static_cast<int>(w),
                 static_cast<int>(h)};
  for (Index i = 0; i < plane; ++i) {
    const double v = std::clamp(static_cast<double>(grey[i]), 0.0, 1.0) * 255.0;
    double r = v, g = v, b = v;
    if (const double q = quality(i, lab[i]); !std::isnan(q)) {
      const double cr = q < 0.5 ? 255 : 255 * (1 - q) * 2, cg = q < 0.5 ? 255 * q * 2 : 255;
      r = 0.55 * v + 0.45 * cr, g = 0.55 * v + 0.45 * cg, b = 0.55 * v;
    }
    if (outline[i] == 2) r = g = b = 255;
    pic.pixels[3 * i] = static_cast<std::uint8_t>(r), pic.pixels[3 * i + 1] = static_cast<std::uint8_t>(g),
                   pic.pixels[3 * i + 2] = static_cast<std::uint8_t>(b);
  }
  return pic;
}

}  // namespace detail

// Each pixel tinted by the object-weighted mean score of the patches covering it.
template <int Dim>
RgbPicture patch_overlay(const Image<float, Dim>& image, const LabelImage<Dim>& mask, const Assessment<Dim>& a,
                         bool higher_is_better) {
  const Index h = image.shape()[Dim - 2], w = image.shape()[Dim - 1];
  const Index z = Dim == 3 ? image.shape()[0] / 2 : 0;
  std::vector<double> sum(static_cast<std::size_t>(h * w), 0.0), weight(static_cast<std::size_t>(h * w), 0.0);
  for (const auto& p : a.patches) {
    if (Dim == 3 && (z < p.origin[0] || z >= p.origin[0] + p.size[0])) continue;
    const double g = goodness(p.score, higher_is_better), wt = static_cast<double>(p.objects);
    for (Index y = p.origin[Dim - 2]; y < std::min(h, p.origin[Dim - 2] + p.size[Dim - 2]); ++y)
      for (Index x = p.origin[Dim - 1]; x < std::min(w, p.origin[Dim - 1] + p.size[Dim - 1]); ++x)
        sum[y * w + x] += g * wt, weight[y * w + x] += wt;
  }
  return detail::tinted(image, mask, [&](Index i, Label) { return weight[i] > 0 ? sum[i] / weight[i] : NAN; });
}

// Every object tinted by its own predicted IoU (Assessor::assess_objects).
template <int Dim>
RgbPicture object_overlay(const Image<float, Dim>& image, const LabelImage<Dim>& mask,
                          const std::vector<ObjectScore<Dim>>& objects) {
  std::unordered_map<Label, double> score;
  for (const auto& o : objects) score[o.label] = o.score;
  return detail::tinted(image, mask, [&](Index, Label l) {
    const auto it = l ? score.find(l) : score.end();
    return it != score.end() ? it->second : NAN;
  });
}

inline void write_picture(const std::filesystem::path& path, const RgbPicture& p) {
  write_png(path, p.pixels, p.width, p.height, 3);
}

}  // namespace qanet::cli
