#pragma once
// Inference-only fused 2D block: 3x3 convolution + bias -> BatchNorm (running statistics) ->
// LeakyReLU -> 2x2 max-pool (floor), a pair of convolution output rows at a time, so that the
// convolution output never exists at full size: it is the largest tensor of a scoring band,
// and writing and reading it back is memory traffic the pooled result does not need. On the
// im2col path the arithmetic is, element by element, that of conv_forward followed by
// bn_act_pool_predict; the Winograd path (winograd.hpp) equals it to float rounding.

#include <algorithm>
#include <cmath>
#include <vector>

#include "qanet/core/parallel.hpp"
#include "qanet/nn/detail/bn_act_pool.hpp"
#include "qanet/nn/detail/conv_ops.hpp"
#include "qanet/nn/detail/winograd.hpp"

namespace qanet::detail {

// One pooled output: the maximum of the four convolution outputs z0..z3 (without their bias)
// after bias, BatchNorm (z -> a z + b) and LeakyReLU. z -> a (z + bias) + b is monotone
// (rounding included): rising for a >= 0, falling for a < 0. So the window's maximum after it is
// the map of the window's maximum (or minimum) of z, the same value as mapping all four and
// taking the largest, at a quarter of the cost.
template <typename T>
inline T pool_bn_act(T z0, T z1, T z2, T z3, T a, T b, T bias, T slope) {
  const T hi = std::max(std::max(z0, z1), std::max(z2, z3));
  const T lo = std::min(std::min(z0, z1), std::min(z2, z3));
  const T m = a * ((a >= T(0) ? hi : lo) + bias) + b;
  return m > T(0) ? m : slope * m;
}

// y[n, co, py, px] for the 2D convolution g (depth 1) of x (its g.c channels in one tensor or
// several: a concatenation that is never copied) with wmat [cout, rows] and bias,
// then BatchNorm bn, LeakyReLU(slope) and 2 x 2 max-pooling. y is [batch, cout, oh/2, ow/2].
// 3 x 3 kernels with enough channels go through Winograd F(2x2, 3x3) (winograd.hpp; `u` holds
// its transformed kernel), the others through im2col + GEMM, a pair of conv rows at a time.
template <typename T>
void conv_bn_act_pool_predict_2d(const ChannelSources<T>& x, Index batch, const ConvGeom& g, const T* wmat, const T* bias,
                                 Index cout, const nn::BatchNorm<T>& bn, T slope, T* y, ColScratch<T>& scratch,
                                 std::vector<T>& u, bool allow_winograd = true) {
  const Index rows = g.rows(), ow = g.ow(), ph = g.oh() / 2, pw = g.ow() / 2;
  std::vector<T> a(static_cast<std::size_t>(cout)), b(static_cast<std::size_t>(cout)), bias_v(static_cast<std::size_t>(cout));
  for (Index c = 0; c < cout; ++c) {
    inference_affine(bn, c, a[c], b[c]);
    bias_v[c] = bias ? bias[c] : T(0);
  }
  if (allow_winograd && winograd_pays(g, cout, winograd_min_channels_predict)) {
    // The pooling windows are the Winograd tiles: a grid of ph x pw tiles, one per pooled output.
    winograd_conv_tiles_2d<T>(x, batch, g, wmat, cout, ph, pw, u, scratch, [&](Index n, Index q0, Index count, const T* z) {
      for (Index co = 0; co < cout; ++co) {
        const T* zc = z + co * 4 * count;
        T* dst = y + (n * cout + co) * ph * pw + q0;
        const T ac = a[co], bc = b[co], bias_c = bias_v[co];
        for (Index j = 0; j < count; ++j)
          dst[j] = pool_bn_act(zc[j], zc[count + j], zc[2 * count + j], zc[3 * count + j], ac, bc, bias_c, slope);
      }
    });
    return;
  }
  // Pooled columns per task: about 512 KB of im2col (two conv rows of 2 * seg columns), at
  // least 64 (128 GEMM columns) so that the GEMM keeps its speed.
  const Index seg = std::min(pw, std::max<Index>(64, (Index{1} << 15) / std::max<Index>(rows, 1)));
  const Index segments = (pw + seg - 1) / seg, cols = 4 * seg;  // GEMM columns at most
  Eigen::Map<const RowMat<T>> W(wmat, cout, rows);
  scratch.reserve(rows * cols + cout * cols);
  tbb::parallel_for(Index{0}, batch * ph * segments, [&](Index task) {
    const Index n = task / (ph * segments), py = (task / segments) % ph, s = task % segments;
    const Index px0 = s * seg, px1 = std::min(pw, px0 + seg), tw = 2 * (px1 - px0);  // conv columns per row
    T* col = scratch.local();
    T* out = col + rows * cols;
    const Index p0 = 2 * py * ow + 2 * px0;  // conv rows 2 py and 2 py + 1, side by side
    im2col_tile(x, n, g, p0, p0 + tw, col, 2 * tw);
    im2col_tile(x, n, g, p0 + ow, p0 + ow + tw, col + tw, 2 * tw);
    Eigen::Map<const RowMat<T>> C(col, rows, 2 * tw);
    Eigen::Map<RowMat<T>> Z(out, cout, 2 * tw);
    Z.noalias() = W * C;  // the convolution without its bias, which the pooling adds
    for (Index co = 0; co < cout; ++co) {
      const T* r0 = out + co * 2 * tw;
      const T* r1 = r0 + tw;
      T* dst = y + ((n * cout + co) * ph + py) * pw + px0;
      const T ac = a[co], bc = b[co], bias_c = bias_v[co];
      for (Index j = 0; j < tw / 2; ++j)
        dst[j] = pool_bn_act(r0[2 * j], r0[2 * j + 1], r1[2 * j], r1[2 * j + 1], ac, bc, bias_c, slope);
    }
  });
}

}  // namespace qanet::detail
