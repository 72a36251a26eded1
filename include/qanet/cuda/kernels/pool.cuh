#pragma once
// Max pooling 2 (x2 (x2)), stride 2, floor, argmax kept as the CPU does (index inside the
// input plane, the first maximum winning ties in z, y, x order). nvcc only.

#include "qanet/cuda/kernels/common.cuh"

namespace qanet::cuda::detail {

// kd = 2 in 3D, 1 in 2D (then d = od = 1).
__global__ void maxpool_forward_kernel(const float* __restrict__ x, float* __restrict__ y, int* __restrict__ arg,
                                       i64 planes, i64 d, i64 h, i64 w, i64 od, i64 oh, i64 ow, int kd) {
  const i64 out_plane = od * oh * ow, n = planes * out_plane, in_plane = d * h * w;
  QANET_GRID_STRIDE(i, n) {
    const i64 pl = idiv(i, out_plane), o = imod(i, out_plane);
    const i64 z = idiv(o, oh * ow), yy = imod(idiv(o, ow), oh), xx = imod(o, ow);
    const float* src = x + pl * in_plane;
    i64 best = ((z * kd) * h + 2 * yy) * w + 2 * xx;
    float bv = src[best];
    for (int a = 0; a < kd; ++a)
      for (int b = 0; b < 2; ++b)
        for (int c = 0; c < 2; ++c) {
          const i64 k = ((z * kd + a) * h + 2 * yy + b) * w + 2 * xx + c;
          const float v = src[k];
          if (v > bv) {
            bv = v;
            best = k;
          }
        }
    y[i] = bv;
    arg[i] = static_cast<int>(best);
  }
}

// Windows do not overlap, so every input element receives the gradient of at most one output:
// each thread writes its own dx element (no atomics, no memset; dropped floor rows get 0).
__global__ void maxpool_backward_kernel(const float* __restrict__ dy, const int* __restrict__ arg,
                                        float* __restrict__ dx, i64 planes, i64 d, i64 h, i64 w, i64 od, i64 oh,
                                        i64 ow, int kd) {
  const i64 in_plane = d * h * w, n = planes * in_plane, out_plane = od * oh * ow;
  QANET_GRID_STRIDE(i, n) {
    const i64 pl = idiv(i, in_plane), k = imod(i, in_plane);
    const i64 z = idiv(k, h * w), yy = imod(idiv(k, w), h), xx = imod(k, w);
    const i64 oz = kd == 2 ? z >> 1 : z, oy = yy >> 1, ox = xx >> 1;
    float g = 0.f;
    if (oz < od && oy < oh && ox < ow) {
      const i64 o = pl * out_plane + (oz * oh + oy) * ow + ox;
      if (arg[o] == static_cast<int>(k)) g = dy[o];
    }
    dx[i] = g;
  }
}

}  // namespace qanet::cuda::detail
