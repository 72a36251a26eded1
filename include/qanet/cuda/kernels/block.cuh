#pragma once
// Fused BatchNorm -> LeakyReLU -> max-pool 2 of a Block (as nn::Block does on the CPU): forward
// reads the convolution output z once and writes only the pooled output and argmax; backward
// recomputes the gradient at the BatchNorm output, du, on the fly from z, the argmax and the
// pooled gradient, so neither the normalised nor the activated tensor is stored. Arithmetic is
// that of the unfused kernels (u = a z + b, then the activation, then the first maximum), so
// results match the layer-by-layer chain. nvcc only.

#include "qanet/cuda/kernels/common.cuh"

namespace qanet::cuda::detail {

// Planes of d x h x w pooled by kd x 2 x 2 (kd = 1, d = 1 in 2D) into od x oh x ow.
struct PoolGeom {
  i64 d, h, w, od, oh, ow;
  int kd;
  __device__ i64 in_plane() const { return d * h * w; }
  __device__ i64 out_plane() const { return od * oh * ow; }
};

__device__ inline float leaky(float u, float slope) { return u > 0.f ? u : slope * u; }

__global__ void bn_act_pool_forward_kernel(const float* __restrict__ z, const float* __restrict__ a,
                                           const float* __restrict__ b, float slope, float* __restrict__ y,
                                           int* __restrict__ arg, i64 planes, i64 c, PoolGeom g) {
  const i64 out_plane = g.out_plane(), in_plane = g.in_plane(), n = planes * out_plane;
  QANET_GRID_STRIDE(i, n) {
    const i64 pl = idiv(i, out_plane), o = imod(i, out_plane), ch = imod(pl, c);
    const float A = a[ch], B = b[ch];
    const i64 oz = idiv(o, g.oh * g.ow), oy = imod(idiv(o, g.ow), g.oh), ox = imod(o, g.ow);
    const float* src = z + pl * in_plane;
    i64 best = ((oz * g.kd) * g.h + 2 * oy) * g.w + 2 * ox;
    float bv = leaky(A * src[best] + B, slope);
    for (int p = 0; p < g.kd; ++p)
      for (int q = 0; q < 2; ++q)
        for (int r = 0; r < 2; ++r) {
          const i64 k = ((oz * g.kd + p) * g.h + 2 * oy + q) * g.w + 2 * ox + r;
          const float v = leaky(A * src[k] + B, slope);
          if (v > bv) {
            bv = v;
            best = k;
          }
        }
    y[i] = bv;
    arg[i] = static_cast<int>(best);
  }
}

// Gradient at the BatchNorm output of element k of plane pl: the pooled gradient if k was its
// window's maximum (times the activation's slope), else 0.
__device__ inline float block_du(const float* __restrict__ dy, const int* __restrict__ arg, i64 pl, i64 k, float zk,
                                 float A, float B, float slope, const PoolGeom& g) {
  const i64 zz = idiv(k, g.h * g.w), yy = imod(idiv(k, g.w), g.h), xx = imod(k, g.w);
  const i64 oz = g.kd == 2 ? zz >> 1 : zz, oy = yy >> 1, ox = xx >> 1;
  if (oz >= g.od || oy >= g.oh || ox >= g.ow) return 0.f;
  const i64 o = pl * g.out_plane() + (oz * g.oh + oy) * g.ow + ox;
  if (arg[o] != static_cast<int>(k)) return 0.f;
  return A * zk + B > 0.f ? dy[o] : slope * dy[o];
}

// Per-channel (sum du, sum du (z - mean[c])), partial per split (see reduce.cuh).
__global__ void block_backward_sums_kernel(const float* __restrict__ z, const float* __restrict__ dy,
                                           const int* __restrict__ arg, const float* __restrict__ a,
                                           const float* __restrict__ b, const double* __restrict__ mean, float slope,
                                           i64 n, i64 c, PoolGeom g, double2* __restrict__ partial) {
  const int split = blockIdx.x, splits = gridDim.x;
  const i64 ch = blockIdx.y, s = g.in_plane();
  const float A = a[ch], B = b[ch];
  const double mu = mean[ch];
  double sa = 0, sb = 0;
  for (i64 item = 0; item < n; ++item) {
    const i64 pl = item * c + ch;
    const float* zp = z + pl * s;
    float fa = 0.f, fb = 0.f;
    for (i64 j = static_cast<i64>(split) * blockDim.x + threadIdx.x; j < s; j += static_cast<i64>(splits) * blockDim.x) {
      const float zk = zp[j];
      const float du = block_du(dy, arg, pl, j, zk, A, B, slope, g);
      fa += du;
      fb += du * static_cast<float>(static_cast<double>(zk) - mu);
    }
    sa += fa;
    sb += fb;
  }
  sa = block_sum(sa);
  sb = block_sum(sb);
  if (threadIdx.x == 0) partial[ch * splits + split] = make_double2(sa, sb);
}

// dz = ka du + kc z + kb.
__global__ void block_backward_apply_kernel(const float* __restrict__ z, const float* __restrict__ dy,
                                            const int* __restrict__ arg, const float* __restrict__ a,
                                            const float* __restrict__ b, const float* __restrict__ ka,
                                            const float* __restrict__ kb, const float* __restrict__ kc, float slope,
                                            i64 planes, i64 c, PoolGeom g, float* __restrict__ dz) {
  const i64 s = g.in_plane(), n = planes * s;
  QANET_GRID_STRIDE(i, n) {
    const i64 pl = idiv(i, s), k = imod(i, s), ch = imod(pl, c);
    const float zk = z[i];
    const float du = block_du(dy, arg, pl, k, zk, a[ch], b[ch], slope, g);
    dz[i] = ka[ch] * du + kc[ch] * zk + kb[ch];
  }
}

}  // namespace qanet::cuda::detail
