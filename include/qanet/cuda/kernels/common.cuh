#pragma once
// Launch helpers shared by the kernels. nvcc only.
// QANET_CUDA_KERNEL_EMULATION: tests/cuda/kernel_emulation.hpp runs the kernels on the host,
// one thread per block, to check their indexing without a GPU.
#if !defined(__CUDACC__) && !defined(QANET_CUDA_KERNEL_EMULATION)
#error "qanet/cuda/kernels/*.cuh are CUDA sources: include them from .cu files compiled by nvcc"
#endif

#include <math.h>  // sqrt, sqrtf, fmax: the CUDA math functions on the device

#include <algorithm>
#include <cstdint>

#if !defined(QANET_CUDA_KERNEL_EMULATION)
#include <cuda_runtime.h>
#endif

namespace qanet::cuda::detail {

using i64 = long long;
constexpr int threads_per_block = 256;

// Blocks for a grid-stride loop over n elements (capped: each thread then does several).
inline unsigned grid_for(i64 n) {
  const i64 b = (n + threads_per_block - 1) / threads_per_block;
  return static_cast<unsigned>(std::max<i64>(1, std::min<i64>(b, i64{1} << 20)));
}

#define QANET_GRID_STRIDE(i, n) \
  for (::qanet::cuda::detail::i64 i = blockIdx.x * static_cast<::qanet::cuda::detail::i64>(blockDim.x) + threadIdx.x; i < (n); i += static_cast<::qanet::cuda::detail::i64>(blockDim.x) * gridDim.x)

// a / b and a % b for a, b >= 0: 32-bit when both fit (64-bit division is a long emulated
// sequence on the GPU and would dominate the index arithmetic of every element-wise kernel).
__device__ __forceinline__ i64 idiv(i64 a, i64 b) {
  return ((a | b) >> 32) ? a / b : static_cast<i64>(static_cast<unsigned>(a) / static_cast<unsigned>(b));
}
__device__ __forceinline__ i64 imod(i64 a, i64 b) {
  return ((a | b) >> 32) ? a % b : static_cast<i64>(static_cast<unsigned>(a) % static_cast<unsigned>(b));
}

// Sum of `v` over the block (blockDim.x a multiple of 32, at most 1024); valid in thread 0.
template <typename V>
__device__ V block_sum(V v) {
  __shared__ V warp_sums[32];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();  // warp_sums may still be read by a previous call
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  const int warps = (blockDim.x + 31) >> 5;
  v = static_cast<int>(threadIdx.x) < warps ? warp_sums[threadIdx.x] : V(0);
  if (warp == 0)
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  return v;
}

}  // namespace qanet::cuda::detail
