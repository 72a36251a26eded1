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
#include "qanet/qa/rescale.hpp"

namespace qanet {

// Writes sample b of [N, 1, spatial...] tensors `image` and `seg` from a patch of the same
// spatial shape.
template <typename T, typename L, int Dim>
void fill_network_inputs(nn::Tensor<float>& image, nn::Tensor<float>& seg, Index b,
                         const ImageView<const T, Dim>& patch, const ImageView<const L, Dim>& mask,
                         nn::InputEncoding encoding) {
  const Index n = patch.size();
  if (mask.shape() != patch.shape() || image.numel() < (b + 1) * n || seg.numel() < (b + 1) * n)
    throw InvalidArgument("fill_network_inputs: patch " + patch.shape().str() + ", mask " + mask.shape().str() +
                          " and the input tensors do not fit");
  const auto norm = normalize_percentile(patch);
  const auto enc = nn::encode_segmentation<float>(mask, encoding);
  std::copy(norm.begin(), norm.end(), image.data() + b * n);
  std::copy(enc.begin(), enc.end(), seg.data() + b * n);
}

// Factor that brings the median object diameter of `labels` to `target` voxels (1 when there
// is no object or no target), limited to [1/8, 8].
template <typename L, int Dim>
double scale_factor_for(const ImageView<const L, Dim>& labels, double target_diameter) {
  if (!(target_diameter > 0)) return 1.0;
  const double d = median_object_diameter(labels);
  if (!(d > 0)) return 1.0;
  return std::clamp(target_diameter / d, 0.125, 8.0);
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
