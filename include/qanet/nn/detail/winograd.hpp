#pragma once
// Winograd F(2x2, 3x3) convolutions (2D, 3 x 3 kernels, stride 1). A 2 x 2 output tile of a
// 3 x 3 convolution is A^T [(G g G^T) . (B^T d B)] A of its 4 x 4 input tile d (Lavin & Gray,
// "Fast Algorithms for Convolutional Neural Networks", 2016): 16 products per input channel and
// output channel instead of 36. Per task (a run of tiles of one item): the input tiles are
// transformed into V[16][cin][tiles], 16 GEMMs M[xi] = U[xi] V[xi] with the transformed kernel
// U[16][cout][cin], then each M tile goes back to 2 x 2 outputs for an epilogue. Users: the
// inference block (conv_pool_predict.hpp), whose 2 x 2 max-pooling windows are exactly the
// tiles, so the convolution output is never stored; Conv's forward and data-gradient passes
// (winograd_conv_forward_2d, the contract of conv_forward); and its filter gradient
// (winograd_conv_backward_filter_2d, the contract of conv_backward_filter).
//
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]   G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]
//   A^T = [1 1 1 0; 0 1 -1 -1]

#include <algorithm>
#include <vector>

#include "qanet/nn/detail/conv_ops.hpp"

namespace qanet::detail {

// U[xi][co][ci] = (G g G^T)[xi] of the 3 x 3 kernel w[co, ci] (wmat rows: ci * 9 + ky * 3 + kx).
template <typename T>
void winograd_kernel_transform(const T* wmat, Index cout, Index cin, std::vector<T>& u) {
  u.resize(static_cast<std::size_t>(16 * cout * cin));
  for (Index co = 0; co < cout; ++co)
    for (Index ci = 0; ci < cin; ++ci) {
      const T* g = wmat + (co * cin + ci) * 9;
      T t[4][3];  // G g
      for (int c = 0; c < 3; ++c) {
        const T g0 = g[c], g1 = g[3 + c], g2 = g[6 + c];
        t[0][c] = g0;
        t[1][c] = T(0.5) * (g0 + g1 + g2);
        t[2][c] = T(0.5) * (g0 - g1 + g2);
        t[3][c] = g2;
      }
      for (int r = 0; r < 4; ++r) {  // (G g) G^T
        const T a = t[r][0], b = t[r][1], c = t[r][2];
        const T row[4] = {a, T(0.5) * (a + b + c), T(0.5) * (a - b + c), c};
        for (int k = 0; k < 4; ++k) u[static_cast<std::size_t>(((r * 4 + k) * cout + co) * cin + ci)] = row[k];
      }
    }
}

// B^T applied down the columns of a strip of 4 rows d0..d3 (n columns) into t0..t3. The
// pointers never alias (restrict), which lets the compiler vectorise the loop.
template <typename T>
inline void winograd_columns_bt(const T* __restrict d0, const T* __restrict d1, const T* __restrict d2,
                                const T* __restrict d3, T* __restrict t0, T* __restrict t1, T* __restrict t2,
                                T* __restrict t3, Index n) {
  for (Index c = 0; c < n; ++c) {
    t0[c] = d0[c] - d2[c];
    t1[c] = d1[c] + d2[c];
    t2[c] = d2[c] - d1[c];
    t3[c] = d1[c] - d3[c];
  }
}

// V[xi][ci][j] for tiles j = 0 .. count-1 starting at tile q0 of item n (tile row q / grid_w,
// column q % grid_w; the input tile's top-left corner at 2 * (row, column) - padding; voxels
// outside the input are the zero padding). ld: the stride between V's [xi][ci] rows.
// Tiles of one tile row share their input rows: the 4 rows of the strip are read once (copied,
// zero outside the input, only where the strip reaches past it), B^T is applied down the
// columns of the whole strip, then B along each tile's 4 columns, so every loop runs over
// contiguous (or stride-2) memory. buf: at least 8 * (2 * count + 2) values.
template <typename T>
void winograd_input_transform(const ChannelSources<T>& x, Index n, const ConvGeom& g, Index grid_w, Index q0, Index count,
                              T* v, Index ld, T* buf) {
  const Index plane_stride = g.c * ld;
  for (Index q = q0; q < q0 + count;) {
    const Index ty = q / grid_w, tx0 = q % grid_w, run = std::min(grid_w - tx0, q0 + count - q), span = 2 * run + 2;
    const Index y0 = 2 * ty - g.ph, x0 = 2 * tx0 - g.pw, j0 = q - q0;
    const Index c0 = std::clamp<Index>(-x0, 0, span), c1 = std::clamp<Index>(g.w - x0, c0, span);
    T* rows = buf;             // [4][span]: the strip's rows that reach past the input
    T* t = buf + 4 * span;     // [4][span]: B^T down its columns
    for (Index ci = 0; ci < g.c; ++ci) {
      const T* xc = x.channel(n, ci);
      const T* d[4];
      for (int r = 0; r < 4; ++r) {
        const Index yy = y0 + r;
        if (yy >= 0 && yy < g.h && c0 == 0 && c1 == span) {  // inside the input: read in place
          d[r] = xc + yy * g.w + x0;
          continue;
        }
        T* dst = rows + r * span;
        d[r] = dst;
        if (yy < 0 || yy >= g.h) {
          std::fill(dst, dst + span, T(0));
          continue;
        }
        std::fill(dst, dst + c0, T(0));
        std::copy(xc + yy * g.w + x0 + c0, xc + yy * g.w + x0 + c1, dst + c0);
        std::fill(dst + c1, dst + span, T(0));
      }
      winograd_columns_bt(d[0], d[1], d[2], d[3], t, t + span, t + 2 * span, t + 3 * span, span);
      for (int r = 0; r < 4; ++r) {  // (B^T d) B: the 4 columns 2j .. 2j + 3 of tile j
        const T* tr = t + r * span;
        T* o0 = v + (r * 4 + 0) * plane_stride + ci * ld + j0;
        T* o1 = o0 + plane_stride;
        T* o2 = o1 + plane_stride;
        T* o3 = o2 + plane_stride;
        for (Index j = 0; j < run; ++j) {
          const T a = tr[2 * j], b = tr[2 * j + 1], c = tr[2 * j + 2], d = tr[2 * j + 3];
          o0[j] = a - c;
          o1[j] = b + c;
          o2[j] = c - b;
          o3[j] = b - d;
        }
      }
    }
    q += run;
  }
}

// Tiles per task: V and M together about 1 MB (they stay in L2 between the transforms and the
// GEMMs), at least 64 tiles so that the GEMMs keep their speed. Depends on the shape only, so
// every output's arithmetic is the same whatever the thread count.
inline Index winograd_tiles_per_task(Index cin, Index cout, Index tiles) {
  const Index t = (Index{1} << 18) / (16 * (cin + cout));
  return std::min(tiles, std::max<Index>(64, (t / 8) * 8));
}

// Where F(2x2, 3x3) is faster than im2col + GEMM (bench_nn on this project's 2-core AVX-512
// machine, docs/nn.md): with few input channels each of the 16 GEMMs is too short (K = cin) to
// run at speed, while the direct GEMM has K = 9 cin. The fused inference block gains 1.25-1.6x
// from 32 input channels on (none at 16); Conv's training passes, whose im2col GEMMs are larger
// and faster, gain from 64 on (1.1-1.4x) and lose at 32 (0.86-0.96x). The rule depends on the
// shape only, so results never depend on timing or on the machine's load.
inline constexpr Index winograd_min_channels_predict = 32;
inline constexpr Index winograd_min_channels_training = 64;
inline bool winograd_pays(const ConvGeom& g, Index cout, Index min_channels) {
  return g.kd == 1 && g.kh == 3 && g.kw == 3 && g.d == 1 && g.c >= min_channels && cout >= 16;
}

// The 3 x 3 convolution (stride 1, zero padding g.ph / g.pw, no bias) of x through F(2x2, 3x3)
// on a grid of grid_h x grid_w output tiles of 2 x 2 (tile (ty, tx) covers outputs
// (2 ty .. 2 ty + 1, 2 tx .. 2 tx + 1)). For each task, epilogue(n, q0, count, z) receives the
// tiles q0 .. q0 + count - 1 of item n (row-major in the grid) as z[cout][4][count], the four
// outputs of a tile in row-major order. wmat: [cout, cin * 9]; u: the transformed kernel's buffer.
template <typename T, typename Epilogue>
void winograd_conv_tiles_2d(const ChannelSources<T>& x, Index batch, const ConvGeom& g, const T* wmat, Index cout,
                            Index grid_h, Index grid_w, std::vector<T>& u, ColScratch<T>& scratch, Epilogue&& epilogue) {
  const Index cin = g.c, tiles = grid_h * grid_w;
  winograd_kernel_transform(wmat, cout, cin, u);
  const Index per_task = winograd_tiles_per_task(cin, cout, tiles), tasks = (tiles + per_task - 1) / per_task;
  const Index vsize = 16 * cin * per_task, msize = 16 * cout * per_task;
  const Index zsize = 4 * cout * per_task, bufsize = 8 * (2 * per_task + 2);
  scratch.reserve(vsize + msize + zsize + bufsize);
  tbb::parallel_for(Index{0}, batch * tasks, [&](Index task) {
    const Index n = task / tasks, q0 = (task % tasks) * per_task, count = std::min(tiles - q0, per_task);
    T* v = scratch.local();
    T* m = v + vsize;
    T* z = m + msize;
    winograd_input_transform(x, n, g, grid_w, q0, count, v, per_task, z + zsize);
    for (int xi = 0; xi < 16; ++xi) {
      Eigen::Map<const RowMat<T>> U(u.data() + xi * cout * cin, cout, cin);
      ConstStridedMap<T> V(v + xi * cin * per_task, cin, count, Eigen::OuterStride<>(per_task));
      StridedMap<T> M(m + xi * cout * per_task, cout, count, Eigen::OuterStride<>(per_task));
      M.noalias() = U * V;
    }
    const Index xs = cout * per_task;  // stride between the 16 M matrices
    for (Index co = 0; co < cout; ++co) {
      const T* mc = m + co * per_task;
      T* zc = z + co * 4 * count;
      for (Index j = 0; j < count; ++j) {
        T t0[4], t1[4];  // rows 0 and 1 of A^T M, then times A
        for (int c = 0; c < 4; ++c) {
          const T m0 = mc[(0 + c) * xs + j], m1 = mc[(4 + c) * xs + j], m2 = mc[(8 + c) * xs + j],
                  m3 = mc[(12 + c) * xs + j];
          t0[c] = m0 + m1 + m2;
          t1[c] = m1 - m2 - m3;
        }
        zc[j] = t0[0] + t0[1] + t0[2];
        zc[count + j] = t0[1] - t0[2] - t0[3];
        zc[2 * count + j] = t1[0] + t1[1] + t1[2];
        zc[3 * count + j] = t1[1] - t1[2] - t1[3];
      }
    }
    epilogue(n, q0, count, static_cast<const T*>(z));
  });
}

// y[n, co, oy, ox] = the convolution of x (one tensor, [batch, g.c, h, w]) + bias[co] (bias may
// be null), through F(2x2, 3x3): the same contract as conv_forward, for 2D 3 x 3 kernels. Odd
// output extents: the last tile row / column is computed whole and its outside half dropped.
template <typename T>
void winograd_conv_forward_2d(const T* x, Index batch, const ConvGeom& g, const T* wmat, const T* bias, Index cout, T* y,
                              std::vector<T>& u, ColScratch<T>& scratch) {
  ChannelSources<T> src;
  src.add(x, g.c);
  src.plane = g.h * g.w;
  const Index oh = g.oh(), ow = g.ow(), gh = (oh + 1) / 2, gw = (ow + 1) / 2;
  winograd_conv_tiles_2d<T>(src, batch, g, wmat, cout, gh, gw, u, scratch, [&](Index n, Index q0, Index count, const T* z) {
    for (Index co = 0; co < cout; ++co) {
      const T* zc = z + co * 4 * count;
      T* yc = y + (n * cout + co) * oh * ow;
      const T b = bias ? bias[co] : T(0);
      for (Index j = 0; j < count; ++j) {
        const Index oy = 2 * ((q0 + j) / gw), ox = 2 * ((q0 + j) % gw);
        yc[oy * ow + ox] = zc[j] + b;
        if (ox + 1 < ow) yc[oy * ow + ox + 1] = zc[count + j] + b;
        if (oy + 1 < oh) {
          yc[(oy + 1) * ow + ox] = zc[2 * count + j] + b;
          if (ox + 1 < ow) yc[(oy + 1) * ow + ox + 1] = zc[3 * count + j] + b;
        }
      }
    }
  });
}

// Y[xi][co][j] = (A dY A^T)[xi] of the 2 x 2 output-gradient tiles j = 0 .. count-1 from tile
// q0 (grid width grid_w) of one item's dy [cout][oh][ow]; outputs past odd extents count as 0.
// Like the input transform, a tile row's two dy rows are copied once (zero-padded), and the
// loops run along them. ld: the stride between Y's [xi][co] rows; buf: 4 * (count + 1) values.
template <typename T>
void winograd_output_gradient_transform(const T* dy, Index cout, Index oh, Index ow, Index grid_w, Index q0, Index count,
                                        T* y, Index ld, T* buf) {
  const Index xs = cout * ld;
  for (Index q = q0; q < q0 + count;) {
    const Index ty = q / grid_w, tx0 = q % grid_w, run = std::min(grid_w - tx0, q0 + count - q), j0 = q - q0;
    const Index x0 = 2 * tx0, width = std::min(2 * run, ow - x0);
    T* r0 = buf;
    T* r1 = buf + 2 * run;
    for (Index co = 0; co < cout; ++co) {
      const T* dyc = dy + co * oh * ow;
      std::fill(r0, r0 + 4 * run, T(0));
      std::copy(dyc + 2 * ty * ow + x0, dyc + 2 * ty * ow + x0 + width, r0);
      if (2 * ty + 1 < oh) std::copy(dyc + (2 * ty + 1) * ow + x0, dyc + (2 * ty + 1) * ow + x0 + width, r1);
      // Row r of A dY is (u, w) = (a, b), (a + c, b + d), (a - c, b - d), (-c, -d) for the tile
      // [a b; c d]; row r of (A dY) A^T is (u, u + w, u - w, -w). One loop per r, four
      // contiguous output streams each, so that the loops vectorise.
      for (int r = 0; r < 4; ++r) {
        T* o0 = y + (r * 4) * xs + co * ld + j0;
        T* o1 = o0 + xs;
        T* o2 = o1 + xs;
        T* o3 = o2 + xs;
        const T su = r == 3 ? T(0) : T(1), sc = r == 0 ? T(0) : (r == 1 ? T(1) : T(-1));
        for (Index j = 0; j < run; ++j) {
          const T u = su * r0[2 * j] + sc * r1[2 * j], w = su * r0[2 * j + 1] + sc * r1[2 * j + 1];
          o0[j] = u;
          o1[j] = u + w;
          o2[j] = u - w;
          o3[j] = -w;
        }
      }
    }
    q += run;
  }
}

// The filter gradient through F(2x2, 3x3): the contract of conv_backward_filter (dW += the
// gradient of x's convolution for output gradient dy, db += its sums) for 2D 3 x 3 kernels.
// Every output tile is y = A^T [U . V] A with U = G g G^T, so dL/dU = (A dY A^T) . V summed
// over the tiles, and dL/dg = G^T (dL/dU) G. The sums over tiles are 16 GEMMs per task with
// K = the task's tiles (dY's transformed tiles times V's, transposed); outputs past odd extents
// count as dy = 0. Items go in a fixed number of chunks summed in a fixed order (as
// conv_backward_filter), so results do not depend on thread timing. partial: scratch.
template <typename T>
void winograd_conv_backward_filter_2d(const T* x, const T* dy, Index batch, const ConvGeom& g, Index cout, T* dw, T* db,
                                      std::vector<T>& partial, ColScratch<T>& scratch) {
  const Index cin = g.c, oh = g.oh(), ow = g.ow(), gh = (oh + 1) / 2, gw = (ow + 1) / 2, tiles = gh * gw;
  const Index per_task = winograd_tiles_per_task(cin, cout, tiles), tasks = (tiles + per_task - 1) / per_task;
  const Index chunks = std::min<Index>(batch, 16), ssize = 16 * cout * cin;
  if (partial.size() < static_cast<std::size_t>(chunks * ssize)) partial.resize(static_cast<std::size_t>(chunks * ssize));
  const Index vsize = 16 * cin * per_task, ysize = 16 * cout * per_task, bufsize = 8 * (2 * per_task + 2);
  scratch.reserve(vsize + ysize + bufsize);  // the input and the output-gradient transforms share buf
  ChannelSources<T> src;
  src.add(x, cin);
  src.plane = g.h * g.w;
  tbb::parallel_for(Index{0}, chunks, [&](Index ch) {
    const Index n0 = batch * ch / chunks, n1 = batch * (ch + 1) / chunks;
    T* sum = partial.data() + ch * ssize;  // [16][cout][cin]: dL/dU summed over this chunk's tiles
    std::fill(sum, sum + ssize, T(0));
    T* v = scratch.local();
    T* yt = v + vsize;  // [16][cout][per_task]: A dY A^T of every tile
    for (Index n = n0; n < n1; ++n)
      for (Index t = 0; t < tasks; ++t) {
        const Index q0 = t * per_task, count = std::min(tiles - q0, per_task);
        winograd_input_transform(src, n, g, gw, q0, count, v, per_task, yt + ysize);
        winograd_output_gradient_transform(dy + n * cout * oh * ow, cout, oh, ow, gw, q0, count, yt, per_task,
                                           yt + ysize);
        for (int xi = 0; xi < 16; ++xi) {
          ConstStridedMap<T> Y(yt + xi * cout * per_task, cout, count, Eigen::OuterStride<>(per_task));
          ConstStridedMap<T> V(v + xi * cin * per_task, cin, count, Eigen::OuterStride<>(per_task));
          Eigen::Map<RowMat<T>> S(sum + xi * cout * cin, cout, cin);
          S.noalias() += Y * V.transpose();
        }
      }
  });
  for (Index ch = 1; ch < chunks; ++ch)
    for (Index i = 0; i < ssize; ++i) partial[static_cast<std::size_t>(i)] += partial[static_cast<std::size_t>(ch * ssize + i)];
  for (Index co = 0; co < cout; ++co)
    for (Index ci = 0; ci < cin; ++ci) {
      T s4[4][4], q[3][4];
      for (int xi = 0; xi < 16; ++xi) s4[xi / 4][xi % 4] = partial[static_cast<std::size_t>((xi * cout + co) * cin + ci)];
      for (int c = 0; c < 4; ++c) {  // G^T S
        q[0][c] = s4[0][c] + T(0.5) * (s4[1][c] + s4[2][c]);
        q[1][c] = T(0.5) * (s4[1][c] - s4[2][c]);
        q[2][c] = T(0.5) * (s4[1][c] + s4[2][c]) + s4[3][c];
      }
      T* w = dw + (co * cin + ci) * 9;
      for (int r = 0; r < 3; ++r) {  // (G^T S) G
        w[r * 3 + 0] += q[r][0] + T(0.5) * (q[r][1] + q[r][2]);
        w[r * 3 + 1] += T(0.5) * (q[r][1] - q[r][2]);
        w[r * 3 + 2] += T(0.5) * (q[r][1] + q[r][2]) + q[r][3];
      }
    }
  bias_gradient(dy, batch, cout, oh * ow, db);
}

}  // namespace qanet::detail
