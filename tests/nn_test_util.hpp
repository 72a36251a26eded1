#pragma once
// Shared helpers of the test_nn_* executables: random tensors and gradient-check assertions.

#include <cmath>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "qanet/core/random.hpp"
#include "qanet/nn.hpp"

namespace qanet::testing {

template <typename T>
nn::Tensor<T> random_tensor(const nn::TensorShape& s, std::uint64_t seed, double lo = -1, double hi = 1) {
  nn::Tensor<T> t(s);
  Rng rng(seed);
  for (T& v : t) v = static_cast<T>(rng.uniform(lo, hi));
  return t;
}

template <typename T>
double dot(const nn::Tensor<T>& a, const nn::Tensor<T>& b) {
  double s = 0;
  for (Index i = 0; i < a.numel(); ++i) s += static_cast<double>(a[i]) * static_cast<double>(b[i]);
  return s;
}

// Every checked tensor must agree to 1e-6 relative. The only exception: the bias of a
// convolution followed by BatchNorm in training mode has an exactly zero gradient (the batch
// mean removes it); there both the analytic and the numeric norm must vanish (< 1e-7).
inline double require_gradients_match(const std::vector<nn::GradCheckResult>& results, const std::string& what) {
  double worst = 0;
  for (const auto& r : results) {
    INFO(what << ": " << r.name << " rel " << r.rel_error() << " |a| " << r.analytic_norm << " |n| "
              << r.numeric_norm << " (" << r.checked << " elements)");
    const bool zero_bias = r.name.size() >= 9 && r.name.compare(r.name.size() - 9, 9, "conv.bias") == 0 &&
                           r.analytic_norm < 1e-7 && r.numeric_norm < 1e-7;
    if (zero_bias) continue;
    CHECK(r.checked > 0);
    CHECK(r.analytic_norm > 0);
    CHECK(r.rel_error() < 1e-6);
    worst = std::max(worst, r.rel_error());
  }
  MESSAGE(what << ": worst relative gradient error " << worst);
  return worst;
}

// Gradient check of a one-input layer with loss = sum(y * r) for a fixed random r.
template <typename Layer>
double check_layer(Layer& layer, nn::Tensor<double>& x, nn::Mode mode, const std::string& what) {
  const nn::Tensor<double> r = random_tensor<double>(layer.forward(x, mode).shape(), 99);
  std::vector<nn::ParamRef<double>> ps;
  layer.params("", ps);
  for (auto& p : ps) p.grad->zero();
  layer.forward(x, mode);
  nn::Tensor<double> dx;
  dx.assign(layer.backward(r));
  ps.push_back({"input", &x, &dx});
  auto loss = [&] { return dot(layer.forward(x, mode), r); };
  return require_gradients_match(nn::gradient_check(loss, ps, 1e-6), what);
}

}  // namespace qanet::testing
