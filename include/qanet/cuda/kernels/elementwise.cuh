#pragma once
// Element-wise kernels: LeakyReLU / ReLU forward and backward, channel bias, per-channel affine
// (BatchNorm's normalisation once its statistics are known), sums. nvcc only.

#include "qanet/cuda/kernels/common.cuh"

namespace qanet::cuda::detail {

__global__ void leaky_relu_forward_kernel(const float* __restrict__ x, float* __restrict__ y, i64 n, float slope) {
  QANET_GRID_STRIDE(i, n) {
    const float v = x[i];
    y[i] = v > 0.f ? v : slope * v;
  }
}

// dx = dy where x > 0, slope * dy elsewhere (the CPU's rule, also at x == 0).
__global__ void leaky_relu_backward_kernel(const float* __restrict__ x, const float* __restrict__ dy,
                                           float* __restrict__ dx, i64 n, float slope) {
  QANET_GRID_STRIDE(i, n) { dx[i] = x[i] > 0.f ? dy[i] : slope * dy[i]; }
}

// y[n, c, s] += b[c] for a [N, C, S] tensor.
__global__ void add_channel_bias_kernel(float* __restrict__ y, const float* __restrict__ b, i64 n, i64 c, i64 s) {
  QANET_GRID_STRIDE(i, n) { y[i] += b[imod(idiv(i, s), c)]; }
}

// y[n, j] += b[j] for a [N, F] matrix.
__global__ void add_row_bias_kernel(float* __restrict__ y, const float* __restrict__ b, i64 n, i64 f) {
  QANET_GRID_STRIDE(i, n) { y[i] += b[imod(i, f)]; }
}

// y = a[c] * x + b[c].
__global__ void channel_affine_kernel(const float* __restrict__ x, float* __restrict__ y, const float* __restrict__ a,
                                      const float* __restrict__ b, i64 n, i64 c, i64 s) {
  QANET_GRID_STRIDE(i, n) {
    const i64 ch = imod(idiv(i, s), c);
    y[i] = a[ch] * x[i] + b[ch];
  }
}

// dx = ka[c] * dy + kc[c] * x + kb[c] (BatchNorm backward, coefficients from the reductions).
__global__ void bn_backward_apply_kernel(const float* __restrict__ x, const float* __restrict__ dy,
                                         float* __restrict__ dx, const float* __restrict__ ka,
                                         const float* __restrict__ kb, const float* __restrict__ kc, i64 n, i64 c,
                                         i64 s) {
  QANET_GRID_STRIDE(i, n) {
    const i64 ch = imod(idiv(i, s), c);
    dx[i] = ka[ch] * dy[i] + kc[ch] * x[i] + kb[ch];
  }
}

__global__ void add_kernel(const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ out, i64 n) {
  QANET_GRID_STRIDE(i, n) { out[i] = a[i] + b[i]; }
}

}  // namespace qanet::cuda::detail
