#pragma once
// Shared by `qanet simulate` and `qanet perturb`: writing a label image as uint16 when its
// labels fit (what CTC tools expect), else uint32; metric values as CSV fields.
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>

#include "qanet/core/image.hpp"
#include "qanet/io/tiff.hpp"

namespace qanet::cli {

template <int Dim>
void write_label_tiff(const std::filesystem::path& file, const LabelImage<Dim>& labels) {
  Label top = 0;
  for (Label v : labels) top = v > top ? v : top;
  if (top <= 0xFFFF) {
    Image<std::uint16_t, Dim> small(labels.shape(), 0, labels.spacing());
    for (Index i = 0; i < labels.size(); ++i) small[i] = static_cast<std::uint16_t>(labels[i]);
    write_tiff(file, small);
  } else {
    write_tiff(file, labels);
  }
}

// An undefined metric is an empty field (never 0 or NaN).
inline std::string csv_value(const std::optional<double>& v) {
  if (!v) return "";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.10g", *v);
  return buf;
}

}  // namespace qanet::cli
