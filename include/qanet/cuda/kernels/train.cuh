#pragma once
// Training kernels: BatchNorm statistics finalisation, MSE loss, fused AdamW. nvcc only.

#include "qanet/cuda/kernels/common.cuh"

namespace qanet::cuda::detail {

// From (sum d, sum d^2), d = x - x[0, c, 0], per channel over m values: batch mean and biased variance for the
// normalisation, running statistics updated with `momentum` (running_var takes the unbiased
// variance), saved mean / inverse std for backward, and the affine coefficients y = a x + b.
__global__ void bn_train_finish_kernel(const double2* __restrict__ sums, const float* __restrict__ x, i64 c, i64 s,
                                       double m, double momentum, double eps,
                                       const float* __restrict__ gamma, const float* __restrict__ beta,
                                       float* __restrict__ running_mean, float* __restrict__ running_var,
                                       double* __restrict__ saved_mean, double* __restrict__ saved_invstd,
                                       float* __restrict__ a, float* __restrict__ b) {
  const i64 ch = blockIdx.x * static_cast<i64>(blockDim.x) + threadIdx.x;
  if (ch >= c) return;
  const double dmean = sums[ch].x / m;
  const double var = fmax(sums[ch].y / m - dmean * dmean, 0.0);
  const double mean = static_cast<double>(x[ch * s]) + dmean;
  running_mean[ch] = static_cast<float>((1 - momentum) * running_mean[ch] + momentum * mean);
  running_var[ch] = static_cast<float>((1 - momentum) * running_var[ch] + momentum * var * m / (m - 1));
  const double inv = 1.0 / sqrt(var + eps);
  saved_mean[ch] = mean;
  saved_invstd[ch] = inv;
  a[ch] = static_cast<float>(gamma[ch] * inv);
  b[ch] = static_cast<float>(beta[ch] - gamma[ch] * mean * inv);
}

// Inference: the running statistics are the statistics.
__global__ void bn_infer_finish_kernel(i64 c, double eps, const float* __restrict__ gamma,
                                       const float* __restrict__ beta, const float* __restrict__ running_mean,
                                       const float* __restrict__ running_var, double* __restrict__ saved_mean,
                                       double* __restrict__ saved_invstd, float* __restrict__ a,
                                       float* __restrict__ b) {
  const i64 ch = blockIdx.x * static_cast<i64>(blockDim.x) + threadIdx.x;
  if (ch >= c) return;
  const double mean = running_mean[ch];
  const double inv = 1.0 / sqrt(static_cast<double>(running_var[ch]) + eps);
  saved_mean[ch] = mean;
  saved_invstd[ch] = inv;
  a[ch] = static_cast<float>(gamma[ch] * inv);
  b[ch] = static_cast<float>(beta[ch] - gamma[ch] * mean * inv);
}

// From (sum dy, sum dy (x - mean)) per channel: parameter gradients (added) and the
// coefficients of dx = ka dy + kc x + kb, as nn::BatchNorm::backward.
__global__ void bn_backward_finish_kernel(const double2* __restrict__ sums, i64 c, double m, int training,
                                          const float* __restrict__ gamma, const double* __restrict__ saved_mean,
                                          const double* __restrict__ saved_invstd, float* __restrict__ dgamma,
                                          float* __restrict__ dbeta, float* __restrict__ ka, float* __restrict__ kb,
                                          float* __restrict__ kc) {
  const i64 ch = blockIdx.x * static_cast<i64>(blockDim.x) + threadIdx.x;
  if (ch >= c) return;
  const double inv = saved_invstd[ch], mean = saved_mean[ch];
  const double sdy = sums[ch].x, sdyx = sums[ch].y * inv;
  dgamma[ch] += static_cast<float>(sdyx);
  dbeta[ch] += static_cast<float>(sdy);
  const double k = gamma[ch] * inv;
  const double mdy = training ? sdy / m : 0.0, mdyx = training ? sdyx / m : 0.0;
  ka[ch] = static_cast<float>(k);
  kb[ch] = static_cast<float>(-k * (mdy - mdyx * inv * mean));
  kc[ch] = static_cast<float>(-k * mdyx * inv);
}

// db[c] += sums[c].x (convolution bias gradient).
__global__ void add_channel_sums_kernel(const double2* __restrict__ sums, i64 c, float* __restrict__ db) {
  const i64 ch = blockIdx.x * static_cast<i64>(blockDim.x) + threadIdx.x;
  if (ch < c) db[ch] += static_cast<float>(sums[ch].x);
}

// loss = mean((p - t)^2), grad = 2 (p - t) / n; one block.
__global__ void mse_kernel(const float* __restrict__ p, const float* __restrict__ t, float* __restrict__ grad, i64 n,
                           double* __restrict__ loss) {
  double acc = 0;
  for (i64 i = threadIdx.x; i < n; i += blockDim.x) {
    const double d = static_cast<double>(p[i]) - static_cast<double>(t[i]);
    acc += d * d;
    grad[i] = static_cast<float>(2.0 * d / static_cast<double>(n));
  }
  acc = block_sum(acc);
  if (threadIdx.x == 0) *loss = acc / static_cast<double>(n);
}

// AdamW (nn/optim.hpp) over one flat parameter buffer, same float arithmetic as the CPU.
__global__ void adamw_kernel(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ m,
                             float* __restrict__ v, i64 n, float decay, float b1, float b2, float step, float sbc2,
                             float eps) {
  QANET_GRID_STRIDE(i, n) {
    const float gi = g[i];
    float pi = p[i] * decay;
    const float mi = b1 * m[i] + (1 - b1) * gi;
    const float vi = b2 * v[i] + (1 - b2) * gi * gi;
    pi -= step * mi / (sqrtf(vi) / sbc2 + eps);
    p[i] = pi;
    m[i] = mi;
    v[i] = vi;
  }
}

}  // namespace qanet::cuda::detail
