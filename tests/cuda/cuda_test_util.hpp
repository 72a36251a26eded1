#pragma once
// Helpers of the GPU tests: the run-time skip when no device works, random tensors, and the
// GPU-vs-CPU comparison (max |gpu - cpu| / max |cpu|).

#include <algorithm>
#include <cmath>
#include <string>

#include <doctest/doctest.h>

#include "qanet/core/random.hpp"
#include "qanet/cuda.hpp"
#include "qanet/nn.hpp"

// GPU tests run everywhere and report, not fail, when no device works (ggml's rule: missing
// backends are skipped at run time).
#define QANET_REQUIRE_GPU()                                                                      \
  do {                                                                                           \
    if (!::qanet::cuda::available()) {                                                           \
      MESSAGE("skipped: no usable CUDA device (" << ::qanet::cuda::unavailable_reason() << ")"); \
      return;                                                                                    \
    }                                                                                            \
  } while (0)

namespace qanet::testing {

inline nn::Tensor<float> random_host(const nn::TensorShape& s, std::uint64_t seed, double lo = -1, double hi = 1) {
  nn::Tensor<float> t(s);
  Rng rng(seed);
  for (float& v : t) v = static_cast<float>(rng.uniform(lo, hi));
  return t;
}

inline cuda::DTensor to_device(cuda::Context& ctx, const nn::Tensor<float>& h) {
  cuda::DTensor d;
  d.upload(h, ctx.stream());
  return d;
}

// max |a - b| / max(|b|, scale_floor); shapes must agree.
inline double rel_error(const nn::Tensor<float>& a, const nn::Tensor<float>& b, double scale_floor = 1e-30) {
  REQUIRE(a.shape() == b.shape());
  double diff = 0, scale = 0;
  for (Index i = 0; i < a.numel(); ++i) {
    if (!std::isfinite(a[i])) return INFINITY;
    diff = std::max(diff, std::abs(static_cast<double>(a[i]) - b[i]));
    scale = std::max(scale, std::abs(static_cast<double>(b[i])));
  }
  return diff / std::max(scale, scale_floor);
}

// Checks a device tensor against the CPU's.
inline double check_close(cuda::Context& ctx, const cuda::DTensor& gpu, const nn::Tensor<float>& cpu, double tol,
                          const std::string& what, double scale_floor = 1e-30) {
  const nn::Tensor<float> g = gpu.to_host(ctx.stream());
  const double e = rel_error(g, cpu, scale_floor);
  INFO(what << ": GPU vs CPU relative error " << e << " (tolerance " << tol << ", shape " << cpu.shape().str() << ")");
  CHECK(e < tol);
  return e;
}

}  // namespace qanet::testing
