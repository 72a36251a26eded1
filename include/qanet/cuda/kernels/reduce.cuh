#pragma once
// Per-channel reductions of [N, C, S] tensors in two deterministic stages: grid (splits, C)
// writes partial double sums, then one thread per channel adds its splits in a fixed order.
// Mode stats: (sum d, sum d^2) with d = x - x[0, c, 0] (shifting by one sample of the channel
// keeps the one-pass variance free of cancellation when |mean| >> std); mode bn_backward: (sum dy, sum dy * (x - mean[c]));
// mode sum: (sum dy, 0). Also the global-average-pool and linear-bias reductions. nvcc only.

#include "qanet/cuda/kernels/common.cuh"

namespace qanet::cuda::detail {

enum class ChannelSum { stats, bn_backward, sum };

// Splits per channel: enough blocks to fill the device (an H100 holds ~1000 blocks of 256), each
// thread still summing >= 4 values of every plane.
inline int channel_splits(i64 n, i64 c, i64 s) {
  const i64 per_split = threads_per_block * 4;
  return static_cast<int>(std::max<i64>(1, std::min<i64>(256, s / per_split)));
}

template <ChannelSum M>
__global__ void channel_partial_sums_kernel(const float* __restrict__ x, const float* __restrict__ dy,
                                            const double* __restrict__ mean, i64 n, i64 c, i64 s,
                                            double2* __restrict__ partial) {
  const int split = blockIdx.x, splits = gridDim.x;
  const i64 ch = blockIdx.y;
  const double mu = M == ChannelSum::bn_backward ? mean[ch] : 0.0;
  const float shift = M == ChannelSum::stats ? x[ch * s] : 0.f;
  double a = 0, b = 0;
  for (i64 item = 0; item < n; ++item) {
    const i64 base = (item * c + ch) * s;
    // Float partials per plane keep the double work small; planes are at most a few 1e6.
    float fa = 0.f, fb = 0.f;
    for (i64 j = static_cast<i64>(split) * blockDim.x + threadIdx.x; j < s; j += static_cast<i64>(splits) * blockDim.x) {
      if constexpr (M == ChannelSum::stats) {
        const float v = x[base + j] - shift;
        fa += v;
        fb += v * v;
      } else if constexpr (M == ChannelSum::bn_backward) {
        const float g = dy[base + j];
        fa += g;
        fb += g * static_cast<float>(static_cast<double>(x[base + j]) - mu);
      } else {
        fa += dy[base + j];
      }
    }
    a += fa;
    b += fb;
  }
  a = block_sum(a);
  b = block_sum(b);
  if (threadIdx.x == 0) partial[ch * splits + split] = make_double2(a, b);
}

// out[c] = the sums of channel c over its splits.
__global__ void channel_sums_finish_kernel(const double2* __restrict__ partial, int splits, i64 c,
                                           double2* __restrict__ out) {
  const i64 ch = blockIdx.x * static_cast<i64>(blockDim.x) + threadIdx.x;
  if (ch >= c) return;
  double a = 0, b = 0;
  for (int k = 0; k < splits; ++k) {
    a += partial[ch * splits + k].x;
    b += partial[ch * splits + k].y;
  }
  out[ch] = make_double2(a, b);
}

// y[plane] = mean of the plane; one block per plane.
__global__ void global_avg_pool_forward_kernel(const float* __restrict__ x, float* __restrict__ y, i64 s) {
  const i64 pl = blockIdx.x;
  const float* p = x + pl * s;
  double acc = 0;  // the pooled maps are small: double throughout, like the CPU
  for (i64 j = threadIdx.x; j < s; j += blockDim.x) acc += p[j];
  acc = block_sum(acc);
  if (threadIdx.x == 0) y[pl] = static_cast<float>(acc / static_cast<double>(s));
}

// dx[plane, j] = dy[plane] / s.
__global__ void global_avg_pool_backward_kernel(const float* __restrict__ dy, float* __restrict__ dx, i64 n, i64 s) {
  QANET_GRID_STRIDE(i, n) { dx[i] = dy[idiv(i, s)] / static_cast<float>(s); }
}

// db[j] += sum_n dy[n, j] for a [N, F] matrix (N is a batch: small).
__global__ void row_bias_grad_kernel(const float* __restrict__ dy, float* __restrict__ db, i64 n, i64 f) {
  const i64 j = blockIdx.x * static_cast<i64>(blockDim.x) + threadIdx.x;
  if (j >= f) return;
  double acc = 0;
  for (i64 r = 0; r < n; ++r) acc += dy[r * f + j];
  db[j] += static_cast<float>(acc);
}

}  // namespace qanet::cuda::detail
