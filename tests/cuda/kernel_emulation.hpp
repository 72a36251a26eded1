#pragma once
// Runs qanet's CUDA kernels on the host (plain g++), one thread per block, blocks in order:
// checks their index arithmetic against the CPU layers on a machine without a GPU. Warp
// shuffles see no other lane (they return 0), which is exact for one thread per block.
// Not a substitute for the GPU tests (no concurrency, no real launches): a first line only.

#include <cuda_runtime.h>  // vector types (double2, dim3) for the host compiler

#undef __global__
#undef __device__
#undef __forceinline__
#undef __shared__
#undef __restrict__
#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static
#define __restrict__

namespace qanet::cuda::emu {
inline dim3 blockIdx, threadIdx, blockDim, gridDim;
}  // namespace qanet::cuda::emu

// The kernels name blockIdx etc. unqualified inside qanet::cuda::detail.
namespace qanet::cuda::detail {
using emu::blockDim;
using emu::blockIdx;
using emu::gridDim;
using emu::threadIdx;
template <typename V>
V __shfl_down_sync(unsigned, V, int) {
  return V(0);
}
inline void __syncthreads() {}
}  // namespace qanet::cuda::detail

#define QANET_CUDA_KERNEL_EMULATION 1
#include "qanet/cuda/kernels/elementwise.cuh"
#include "qanet/cuda/kernels/pool.cuh"
#include "qanet/cuda/kernels/reduce.cuh"
#include "qanet/cuda/kernels/train.cuh"

namespace qanet::cuda::emu {

// kernel<<<grid, *>>>(args...) with one thread per block.
template <typename F, typename... A>
void launch(dim3 grid, F kernel, A... args) {
  gridDim = grid;
  blockDim = dim3(1, 1, 1);
  threadIdx = dim3(0, 0, 0);
  for (unsigned z = 0; z < grid.z; ++z)
    for (unsigned y = 0; y < grid.y; ++y)
      for (unsigned x = 0; x < grid.x; ++x) {
        blockIdx = dim3(x, y, z);
        kernel(args...);
      }
}

}  // namespace qanet::cuda::emu
