#pragma once
// --spacing of the qanet program: voxel sizes in z,y,x order (numpy), or one value for all axes.

#include <cmath>
#include <exception>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "qanet/core/error.hpp"

namespace qanet::cli {

inline std::vector<double> parse_spacing(const std::string& text) {
  std::vector<double> v;
  if (text.empty()) return v;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      std::size_t used = 0;
      v.push_back(std::stod(item, &used));
      if (used != item.size()) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      throw InvalidArgument("--spacing: '" + text + "' is not a list of numbers like 2,1,1");
    }
  }
  return v;
}

// The in-plane pixel size of --spacing for a model's distances (1 when not given). A network
// predicts one distance, so the in-plane axes must share their size; a 3D z size may differ.
inline double in_plane_pixel_size(const std::string& text, int dim) {
  const std::vector<double> v = parse_spacing(text);
  if (v.empty()) return 1.0;
  for (const double s : v)
    if (!(s > 0) || !std::isfinite(s)) throw InvalidArgument("--spacing: '" + text + "' holds a size that is not positive");
  if (v.size() == 1) return v[0];
  if (static_cast<int>(v.size()) != dim)
    throw InvalidArgument("--spacing: '" + text + "' gives " + std::to_string(v.size()) + " sizes for " +
                          std::to_string(dim) + "D images (give one, or one per axis in z,y,x order)");
  const double y = v[v.size() - 2], x = v.back();
  if (y != x)
    throw InvalidArgument("--spacing: '" + text + "': y and x sizes differ; a model's distances need square pixels");
  return x;
}

}  // namespace qanet::cli
