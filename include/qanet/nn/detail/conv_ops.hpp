#pragma once
// Convolution kernels shared by the 2D and 3D Conv layers: stride 1, cubic kernels, zero
// padding. 2D is handled as 3D with depth 1 and kernel depth 1, so there is one code path.
// Every op is "tiled im2col + one Eigen GEMM per tile"; the GEMM runs single-threaded inside
// TBB tasks, the tasks being (batch item, tile of output positions).
//
//   conv_forward:         y[co, p]  = sum_{ci,k} W[co, ci, k] x[ci, p + k - pad] + b[co]
//   conv_backward_data:   dx = the same convolution of dy with the kernel flipped and in/out
//                         swapped, padding k-1-pad (so it tiles over dx without write races)
//   conv_backward_filter: dW[co, (ci,k)] += sum_p dy[co, p] x[ci, p + k - pad], db += sum dy

#include <algorithm>
#include <cstring>
#include <vector>

#include "qanet/nn/detail/eigen.hpp"
#include <tbb/task_arena.h>
#include <tbb/parallel_for.h>

#include "qanet/core/shape.hpp"
#include "qanet/nn/detail/reduce.hpp"

namespace qanet::detail {

struct ConvGeom {
  Index c = 0;                   // input channels
  Index d = 1, h = 1, w = 1;     // input extents (d = 1 in 2D)
  Index kd = 1, kh = 3, kw = 3;  // kernel extents
  Index pd = 0, ph = 0, pw = 0;  // zero padding
  Index od() const { return d + 2 * pd - kd + 1; }
  Index oh() const { return h + 2 * ph - kh + 1; }
  Index ow() const { return w + 2 * pw - kw + 1; }
  Index in_size() const { return d * h * w; }
  Index out_size() const { return od() * oh() * ow(); }
  Index rows() const { return c * kd * kh * kw; }  // rows of the im2col matrix
};

// Where the channels of one input item lie: in one tensor, or (a channel concatenation that is
// never copied) in up to three, each [N, C_k, spatial...] of the same spatial shape.
template <typename T>
struct ChannelSources {
  const T* data[3] = {nullptr, nullptr, nullptr};
  Index channels[3] = {0, 0, 0};
  int count = 0;
  Index plane = 0;  // voxels per channel

  void add(const T* d, Index c) {
    data[count] = d, channels[count] = c, ++count;
  }
  Index total_channels() const { return channels[0] + channels[1] + channels[2]; }
  // Channel c of batch item n.
  const T* channel(Index n, Index c) const {
    int k = 0;
    while (c >= channels[k]) c -= channels[k++];
    return data[k] + (n * channels[k] + c) * plane;
  }
};

// Columns [p0, p1) of the im2col matrix of item n of `x`: col[(ci,kz,ky,kx) * ld + p - p0],
// ld (the row stride of col) at least p1 - p0; 0 means p1 - p0.
template <typename T>
void im2col_tile(const ChannelSources<T>& x, Index n, const ConvGeom& g, Index p0, Index p1, T* col, Index ld = 0) {
  const Index tp = ld > 0 ? ld : p1 - p0, ho = g.oh(), wo = g.ow();
  const Index od0 = p0 / (ho * wo), oh0 = (p0 / wo) % ho, ow0 = p0 % wo;
  T* out = col;
  for (Index c = 0; c < g.c; ++c) {
    const T* xc = x.channel(n, c);
    for (Index kz = 0; kz < g.kd; ++kz)
      for (Index ky = 0; ky < g.kh; ++ky)
        for (Index kx = 0; kx < g.kw; ++kx) {
          Index p = p0, oz = od0, oy = oh0, ox = ow0;
          T* o = out;
          while (p < p1) {
            const Index run = std::min(wo - ox, p1 - p);
            const Index iz = oz + kz - g.pd, iy = oy + ky - g.ph;
            if (iz < 0 || iz >= g.d || iy < 0 || iy >= g.h) {
              std::fill(o, o + run, T(0));
            } else {
              const T* src = xc + (iz * g.h + iy) * g.w;
              // ix = ox + j + kx - pw must lie in [0, w).
              const Index shift = ox + kx - g.pw;
              const Index j0 = std::clamp<Index>(-shift, 0, run);
              const Index j1 = std::clamp<Index>(g.w - shift, j0, run);
              std::fill(o, o + j0, T(0));
              std::memcpy(o + j0, src + shift + j0, sizeof(T) * static_cast<std::size_t>(j1 - j0));
              std::fill(o + j1, o + run, T(0));
            }
            o += run;
            p += run;
            ox = 0;
            if (++oy == ho) {
              oy = 0;
              ++oz;
            }
          }
          out += tp;
        }
  }
}

// The same for one tensor x of items with g.c channels.
template <typename T>
void im2col_tile(const T* x, const ConvGeom& g, Index p0, Index p1, T* col, Index ld = 0) {
  ChannelSources<T> one;
  one.add(x, g.c);
  one.plane = g.in_size();
  im2col_tile(one, 0, g, p0, p1, col, ld);
}

// Output positions per tile: about 512 KB of im2col per tile, but at least 256 columns, below
// which Eigen's GEMM loses half its speed (measured: 73 GFLOP/s at N = 128, 133 at N = 256 for
// a 64 x 864 kernel matrix on one core).
inline Index conv_tile_columns(Index rows, Index positions) {
  const Index target = (Index{1} << 17) / std::max<Index>(rows, 1);
  Index t = std::max<Index>(256, (target / 16) * 16);
  return std::min(t, positions);
}

template <typename T>
using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename T>
using StridedMap = Eigen::Map<RowMat<T>, 0, Eigen::OuterStride<>>;
template <typename T>
using ConstStridedMap = Eigen::Map<const RowMat<T>, 0, Eigen::OuterStride<>>;

// Per-thread im2col scratch. reserve() runs before each parallel region and sizes the buffer of
// every worker slot, so the tasks themselves never allocate (and after the first call of a
// given size nothing allocates at all).
template <typename T>
class ColScratch {
 public:
  void reserve(Index n) {
    const auto slots = static_cast<std::size_t>(std::max(1, tbb::this_task_arena::max_concurrency()));
    if (buffers_.size() < slots) buffers_.resize(slots);
    for (auto& b : buffers_)
      if (b.size() < static_cast<std::size_t>(n)) b.resize(static_cast<std::size_t>(n));
  }
  T* local() { return buffers_[static_cast<std::size_t>(tbb::this_task_arena::current_thread_index())].data(); }

 private:
  std::vector<std::vector<T>> buffers_;
};

// y[n, co, p] = W[co, :] . col(x[n])[:, p] + b[co] for `batch` items. wmat: [cout, rows].
template <typename T>
void conv_forward(const T* x, Index batch, const ConvGeom& g, const T* wmat, const T* bias,
                  Index cout, T* y, ColScratch<T>& scratch) {
  const Index rows = g.rows(), P = g.out_size(), in_item = g.c * g.in_size();
  const Index tile = conv_tile_columns(rows, P), tiles = (P + tile - 1) / tile;
  Eigen::Map<const RowMat<T>> W(wmat, cout, rows);
  scratch.reserve(rows * tile);
  tbb::parallel_for(Index{0}, batch * tiles, [&](Index task) {
    const Index n = task / tiles, p0 = (task % tiles) * tile, p1 = std::min(P, p0 + tile);
    T* col = scratch.local();
    im2col_tile(x + n * in_item, g, p0, p1, col);
    Eigen::Map<const RowMat<T>> C(col, rows, p1 - p0);
    StridedMap<T> Y(y + n * cout * P + p0, cout, p1 - p0, Eigen::OuterStride<>(P));
    Y.noalias() = W * C;
    if (bias)
      for (Index co = 0; co < cout; ++co) Y.row(co).array() += bias[co];
  });
}

// Flipped, transposed kernel for the data gradient: wt[ci, (co, k')] = w[co, ci, K-1-k'].
template <typename T>
void flip_kernel(const T* w, Index cout, Index cin, Index K, T* wt) {
  for (Index co = 0; co < cout; ++co)
    for (Index ci = 0; ci < cin; ++ci)
      for (Index k = 0; k < K; ++k) wt[(ci * cout + co) * K + (K - 1 - k)] = w[(co * cin + ci) * K + k];
}

// The data gradient is the full correlation of dy (cout channels) with the flipped kernel: a
// convolution of this geometry, for the forward convolution g.
inline ConvGeom backward_data_geometry(const ConvGeom& g, Index cout) {
  ConvGeom gb;
  gb.c = cout;
  gb.d = g.od();
  gb.h = g.oh();
  gb.w = g.ow();
  gb.kd = g.kd;
  gb.kh = g.kh;
  gb.kw = g.kw;
  gb.pd = g.kd - 1 - g.pd;
  gb.ph = g.kh - 1 - g.ph;
  gb.pw = g.kw - 1 - g.pw;
  return gb;
}

// dx = that correlation. g describes the forward convolution; wt comes from flip_kernel. dx is
// overwritten.
template <typename T>
void conv_backward_data(const T* dy, Index batch, const ConvGeom& g, const T* wt, Index cout, T* dx,
                        ColScratch<T>& scratch) {
  conv_forward<T>(dy, batch, backward_data_geometry(g, cout), wt, nullptr, g.c, dx, scratch);
}

// db[co] += sum over items and positions of dy[n, co, p] (P positions); nothing when db is null.
template <typename T>
void bias_gradient(const T* dy, Index batch, Index cout, Index P, T* db) {
  if (!db) return;
  for (Index co = 0; co < cout; ++co) {
    double s = 0;
    for (Index n = 0; n < batch; ++n) s += plain_sum(dy + (n * cout + co) * P, P);
    db[co] += static_cast<T>(s);
  }
}

// dW[co, rows] += sum_n dy[n] col(x[n])^T; db[co] += sum_{n,p} dy. Items are split into a
// fixed number of chunks summed in a fixed order, so results do not depend on thread timing.
// partial: scratch of at least chunks * cout * rows.
template <typename T>
void conv_backward_filter(const T* x, const T* dy, Index batch, const ConvGeom& g, Index cout,
                          T* dw, T* db, std::vector<T>& partial, ColScratch<T>& scratch) {
  const Index rows = g.rows(), P = g.out_size(), in_item = g.c * g.in_size();
  const Index tile = conv_tile_columns(rows, P), tiles = (P + tile - 1) / tile;
  const Index chunks = std::min<Index>(batch, 16), wsize = cout * rows;
  if (partial.size() < static_cast<std::size_t>(chunks * wsize)) partial.resize(chunks * wsize);
  scratch.reserve(rows * tile);
  tbb::parallel_for(Index{0}, chunks, [&](Index ch) {
    const Index n0 = batch * ch / chunks, n1 = batch * (ch + 1) / chunks;
    Eigen::Map<RowMat<T>> D(partial.data() + ch * wsize, cout, rows);
    D.setZero();
    T* col = scratch.local();
    for (Index n = n0; n < n1; ++n)
      for (Index t = 0; t < tiles; ++t) {
        const Index p0 = t * tile, p1 = std::min(P, p0 + tile);
        im2col_tile(x + n * in_item, g, p0, p1, col);
        Eigen::Map<const RowMat<T>> C(col, rows, p1 - p0);
        ConstStridedMap<T> G(dy + n * cout * P + p0, cout, p1 - p0, Eigen::OuterStride<>(P));
        D.noalias() += G * C.transpose();
      }
  });
  Eigen::Map<RowMat<T>> W(dw, cout, rows);
  for (Index ch = 0; ch < chunks; ++ch) W += Eigen::Map<const RowMat<T>>(partial.data() + ch * wsize, cout, rows);
  bias_gradient(dy, batch, cout, P, db);
}

}  // namespace qanet::detail
