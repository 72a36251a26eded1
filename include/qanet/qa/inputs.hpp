#pragma once
// Turning (image, mask) patches into network inputs, identically in training and scoring:
// the image normalised by its own percentiles (SPEC §3), the mask encoded (SPEC §2), and the
// scale normalisation that brings objects to the diameter the model was trained at.

#include <algorithm>
#include <cmath>
#include <string>

#include "qanet/core/error.hpp"
#include "qanet/core/image.hpp"
#include "qanet/nn/config.hpp"
#include "qanet/nn/tensor.hpp"
#include "qanet/qa/normalize.hpp"
#include "qanet/nn/model_file.hpp"
#include "qanet/qa/rescale.hpp"
#include "qanet/qa/scale.hpp"

namespace qanet {

// How the object scale of an image is measured before resampling it to the model's diameter.
enum class ScaleMeasure {
  object_median,        // median equivalent diameter of the mask's objects (models before 0.2)
  foreground_thickness, // estimate_object_diameter (scale.hpp): specks, cuts and merges cannot move it
  image_floored_thickness,  // the same, floored by the image's bright foreground (scale.hpp)
};

inline const char* scale_measure_name(ScaleMeasure m) {
  switch (m) {
    case ScaleMeasure::object_median: return "object median";
    case ScaleMeasure::foreground_thickness: return "foreground thickness";
    case ScaleMeasure::image_floored_thickness: return "foreground thickness, image floor";
  }
  return "object median";
}
// Where the intensity percentiles of SPEC §3 are taken.
enum class Normalisation {
  per_patch,  // each patch by its own percentiles (models before 0.2)
  per_image,  // the whole (rescaled) image at once: a score does not depend on the tiling
};

// The input preparation a model was trained with, stored in its file: the metadata field
// `normalisation` and training.scale_measure. Files without them are older models.
struct InputConvention {
  ScaleMeasure scale = ScaleMeasure::image_floored_thickness;
  Normalisation normalisation = Normalisation::per_image;

  static InputConvention of(const nn::ModelInfo& info) {
    InputConvention c;
    c.normalisation = info.normalisation.find("per image") != std::string::npos ? Normalisation::per_image
                                                                                 : Normalisation::per_patch;
    const auto& t = info.training;
    const std::string name = t.is_object() && t.contains("scale_measure") && t["scale_measure"].is_string()
                                 ? t["scale_measure"].template get<std::string>()
                                 : "";
    c.scale = ScaleMeasure::object_median;
    for (auto m : {ScaleMeasure::foreground_thickness, ScaleMeasure::image_floored_thickness})
      if (name == scale_measure_name(m)) c.scale = m;
    return c;
  }
  // Writes the convention into a model's metadata (the inverse of of()).
  void store(nn::ModelInfo& info) const {
    info.normalisation = normalisation == Normalisation::per_image ? "percentile 1 99.8 per image"
                                                                    : "percentile 1 99.8 per patch";
    if (!info.training.is_object()) info.training = nlohmann::json::object();
    info.training["scale_measure"] = scale_measure_name(scale);
  }
};

// Writes sample b of [N, 1, spatial...] tensors `image` and `seg` from a patch of the same
// spatial shape. With Normalisation::per_image the patch is already normalised (it is a crop of
// an image normalised as a whole) and is copied as it is.
template <typename T, typename L, int Dim>
void fill_network_inputs(nn::Tensor<float>& image, nn::Tensor<float>& seg, Index b,
                         const ImageView<const T, Dim>& patch, const ImageView<const L, Dim>& mask,
                         nn::InputEncoding encoding, Normalisation normalisation) {
  const Index n = patch.size();
  if (mask.shape() != patch.shape() || image.numel() < (b + 1) * n || seg.numel() < (b + 1) * n)
    throw InvalidArgument("fill_network_inputs: patch " + patch.shape().str() + ", mask " + mask.shape().str() +
                          " and the input tensors do not fit");
  if (normalisation == Normalisation::per_patch) {
    const auto norm = normalize_percentile(patch);
    std::copy(norm.begin(), norm.end(), image.data() + b * n);
  } else {
    std::transform(patch.begin(), patch.end(), image.data() + b * n, [](T v) { return static_cast<float>(v); });
  }
  const auto enc = nn::encode_segmentation<float>(mask, encoding);
  std::copy(enc.begin(), enc.end(), seg.data() + b * n);
}

// The object diameter of (`image`, `labels`) as `measure` defines it (0 when there is no object).
template <typename T, typename L, int Dim>
double measured_diameter(const ImageView<const T, Dim>& image, const ImageView<const L, Dim>& labels,
                         ScaleMeasure measure) {
  switch (measure) {
    case ScaleMeasure::object_median: return median_object_diameter(labels);
    case ScaleMeasure::foreground_thickness: return estimate_object_diameter(labels).diameter;
    case ScaleMeasure::image_floored_thickness: return estimate_object_diameter(image, labels).diameter;
  }
  return 0.0;
}

// Factor that brings objects of `diameter` voxels to `target` voxels (1 when either is not
// positive), limited to [1/8, 8].
inline double scale_factor(double diameter, double target_diameter) {
  if (!(target_diameter > 0) || !(diameter > 0)) return 1.0;
  return std::clamp(target_diameter / diameter, 0.125, 8.0);
}

template <typename T, typename L, int Dim>
double scale_factor_for(const ImageView<const T, Dim>& image, const ImageView<const L, Dim>& labels,
                        double target_diameter, ScaleMeasure measure) {
  if (!(target_diameter > 0)) return 1.0;
  return scale_factor(measured_diameter(image, labels, measure), target_diameter);
}

// The same factor on every axis: a volume keeps its z / in-plane sampling ratio, as the
// simulated volumes of training do.
template <int Dim>
std::array<double, Dim> scale_factors(double f) {
  std::array<double, Dim> a;
  a.fill(f);
  return a;
}

}  // namespace qanet
