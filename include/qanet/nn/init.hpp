#pragma once
// PyTorch's default initialisation, drawn from qanet::Rng: conv and linear weights
// kaiming_uniform(a = sqrt(5)), i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)), biases
// U(-1/sqrt(fan_in), 1/sqrt(fan_in)); BatchNorm weight 1, bias 0 (set by BatchNorm itself).

#include <cmath>

#include "qanet/core/random.hpp"
#include "qanet/nn/tensor.hpp"

namespace qanet::nn {

// fan_in = numel / out (the product of all but the first axis).
template <typename T>
void init_fan_in_uniform(Tensor<T>& weight, Tensor<T>& bias, Rng& rng) {
  const Index fan_in = weight.numel() / weight.dim(0);
  const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
  for (T& v : weight) v = static_cast<T>(rng.uniform(-bound, bound));
  for (T& v : bias) v = static_cast<T>(rng.uniform(-bound, bound));
}

}  // namespace qanet::nn
