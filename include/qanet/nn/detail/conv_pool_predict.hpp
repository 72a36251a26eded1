#pragma once
// Inference-only fused 2D block: 3x3 convolution + bias -> BatchNorm (running statistics) ->
// LeakyReLU -> 2x2 max-pool (floor), a pair of convolution output rows at a time, so that the
// convolution output never exists at full size: it is the largest tensor of a scoring band,
// and writing and reading it back is memory traffic the pooled result does not need. Element by
// element the arithmetic is that of conv_forward followed by bn_act_pool_predict.

#include <algorithm>
#include <cmath>
#include <vector>

#include "qanet/core/parallel.hpp"
#include "qanet/nn/detail/bn_act_pool.hpp"
#include "qanet/nn/detail/conv_ops.hpp"

namespace qanet::detail {

// y[n, co, py, px] for the 2D convolution g (depth 1) of x (its g.c channels in one tensor or
// several: a concatenation that is never copied) with wmat [cout, rows] and bias,
// then BatchNorm bn, LeakyReLU(slope) and 2 x 2 max-pooling. y is [batch, cout, oh/2, ow/2].
template <typename T>
void conv_bn_act_pool_predict_2d(const ChannelSources<T>& x, Index batch, const ConvGeom& g, const T* wmat, const T* bias,
                                 Index cout, const nn::BatchNorm<T>& bn, T slope, T* y, ColScratch<T>& scratch) {
  const Index rows = g.rows(), ow = g.ow(), ph = g.oh() / 2, pw = g.ow() / 2;
  // Pooled columns per task: about 512 KB of im2col (two conv rows of 2 * seg columns), at
  // least 64 (128 GEMM columns) so that the GEMM keeps its speed.
  const Index seg = std::min(pw, std::max<Index>(64, (Index{1} << 15) / std::max<Index>(rows, 1)));
  const Index segments = (pw + seg - 1) / seg, cols = 4 * seg;  // GEMM columns at most
  std::vector<T> a(static_cast<std::size_t>(cout)), b(static_cast<std::size_t>(cout));
  for (Index c = 0; c < cout; ++c) inference_affine(bn, c, a[c], b[c]);
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
    Z.noalias() = W * C;  // the convolution without its bias, which the pooling below adds
    // z -> a (z + bias) + b is monotone (rounding included): rising for a >= 0, falling for
    // a < 0. So the window's maximum after it is the map of the window's maximum (or minimum)
    // of z, the same value as mapping all four and taking the largest, at a quarter of the cost.
    for (Index co = 0; co < cout; ++co) {
      const T* r0 = out + co * 2 * tw;
      const T* r1 = r0 + tw;
      T* dst = y + ((n * cout + co) * ph + py) * pw + px0;
      const T ac = a[co], bc = b[co], bias_c = bias ? bias[co] : T(0);
      const bool rising = ac >= T(0);
      for (Index j = 0; j < tw / 2; ++j) {
        const T hi = std::max(std::max(r0[2 * j], r0[2 * j + 1]), std::max(r1[2 * j], r1[2 * j + 1]));
        const T lo = std::min(std::min(r0[2 * j], r0[2 * j + 1]), std::min(r1[2 * j], r1[2 * j + 1]));
        const T z = (rising ? hi : lo) + bias_c;
        const T m = ac * z + bc;
        dst[j] = m > T(0) ? m : slope * m;
      }
    }
  });
}

}  // namespace qanet::detail
