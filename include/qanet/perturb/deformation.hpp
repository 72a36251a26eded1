#pragma once
// Non-rigid deformation of a label map (SPEC §6 step 2): a random displacement field, either
// per-voxel noise smoothed by a Gaussian (2D default, as in the reference) or a cubic B-spline
// on a coarse control grid (3D default), applied with nearest-neighbour resampling so that
// labels stay labels. Displacements are in voxels, per axis, numpy order.

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "qanet/core/error.hpp"
#include "qanet/core/image.hpp"
#include "qanet/core/parallel.hpp"
#include "qanet/core/random.hpp"
#include "qanet/perturb/detail/instances.hpp"

namespace qanet {

// One displacement image per axis (numpy order): voxel p samples the input at p + v(p).
template <int Dim>
struct DisplacementField {
  std::array<Image<float, Dim>, Dim> axis;
  Image<float, Dim>& operator[](int a) { return axis[static_cast<std::size_t>(a)]; }
  const Image<float, Dim>& operator[](int a) const { return axis[static_cast<std::size_t>(a)]; }
};


namespace detail {

// Widths of three box filters whose succession approximates a Gaussian of `sigma` (equal
// variance; Kovesi's "fast almost-Gaussian filtering"). Odd widths keep the filter centred.
inline std::array<Index, 3> gaussian_box_widths(double sigma) {
  const int n = 3;
  const double ideal = std::sqrt(12.0 * sigma * sigma / n + 1.0);
  Index wl = static_cast<Index>(std::floor(ideal));
  if (wl % 2 == 0) --wl;
  if (wl < 1) wl = 1;
  const Index wu = wl + 2;
  const double mideal = (12.0 * sigma * sigma - n * wl * wl - 4.0 * n * wl - 3.0 * n) / (-4.0 * wl - 4.0);
  const Index m = static_cast<Index>(std::lround(mideal));
  std::array<Index, 3> w{};
  for (int i = 0; i < n; ++i) w[i] = i < m ? wl : wu;
  return w;
}

// Smooths one strided line in place by the three boxes, borders reflected (scipy "reflect").
// Each box is a running sum over the line extended by its reflection (only the pads need the
// reflection arithmetic).
inline void box3_line(float* line, Index stride, Index n, const std::array<Index, 3>& widths,
                      std::vector<double>& ext, std::vector<float>& tmp) {
  tmp.resize(static_cast<std::size_t>(n));
  for (Index i = 0; i < n; ++i) tmp[i] = line[i * stride];
  for (Index w : widths) {
    if (w <= 1) continue;
    const Index r = w / 2;
    ext.resize(static_cast<std::size_t>(n + 2 * r));
    for (Index j = 0; j < r; ++j) {
      ext[j] = tmp[reflect_index(j - r, n)];
      ext[n + r + j] = tmp[reflect_index(n + j, n)];
    }
    for (Index i = 0; i < n; ++i) ext[r + i] = tmp[i];
    double sum = 0.0;
    for (Index j = 0; j < w; ++j) sum += ext[j];
    const double inv = 1.0 / static_cast<double>(w);
    tmp[0] = static_cast<float>(sum * inv);
    for (Index i = 1; i < n; ++i) {
      sum += ext[i + w - 1] - ext[i - 1];
      tmp[i] = static_cast<float>(sum * inv);
    }
  }
  for (Index i = 0; i < n; ++i) line[i * stride] = tmp[i];
}

// The same three boxes along an outer axis: `n` rows of `inner` contiguous values starting at
// `data` with row pitch `pitch`. Sliding row sums run across the whole row at once, so the
// inner loop is contiguous and vectorises (the per-line version would stride through memory).
inline void box3_rows(float* data, Index pitch, Index n, Index inner, const std::array<Index, 3>& widths,
                      std::vector<float>& a, std::vector<float>& sum) {
  a.resize(static_cast<std::size_t>(n * inner));
  sum.resize(static_cast<std::size_t>(inner));
  for (Index i = 0; i < n; ++i) std::copy_n(data + i * pitch, inner, a.data() + i * inner);
  for (Index w : widths) {
    if (w <= 1) continue;
    const Index r = w / 2;
    const float inv = 1.0f / static_cast<float>(w);
    auto row = [&](Index j) { return a.data() + reflect_index(j, n) * inner; };
    std::fill(sum.begin(), sum.end(), 0.0f);
    for (Index j = -r; j <= r; ++j) {
      const float* s = row(j);
      for (Index x = 0; x < inner; ++x) sum[x] += s[x];
    }
    float* out0 = data;
    for (Index x = 0; x < inner; ++x) out0[x] = sum[x] * inv;
    for (Index i = 1; i < n; ++i) {
      const float* add = row(i + r);
      const float* sub = row(i - r - 1);
      float* out = data + i * pitch;
      for (Index x = 0; x < inner; ++x) {
        sum[x] += add[x] - sub[x];
        out[x] = sum[x] * inv;
      }
    }
    for (Index i = 0; i < n; ++i) std::copy_n(data + i * pitch, inner, a.data() + i * inner);
  }
}

// Cubic B-spline weights at fraction t, for control points base-1 .. base+2 relative to t's cell.
inline std::array<double, 4> bspline_weights(double t) {
  const double t2 = t * t, t3 = t2 * t, u = 1.0 - t;
  return {u * u * u / 6.0, (3 * t3 - 6 * t2 + 4) / 6.0, (-3 * t3 + 3 * t2 + 3 * t + 1) / 6.0, t3 / 6.0};
}

// Resamples axis `axis` of `in` (extent nc control points) to `n` voxels with a uniform cubic
// B-spline whose support spans the whole axis.
template <int Dim>
Image<float, Dim> bspline_upsample_axis(const Image<float, Dim>& in, int axis, Index n) {
  const Index nc = in.shape()[axis];
  Shape<Dim> os = in.shape();
  os[axis] = n;
  Image<float, Dim> out(os, 0.0f);
  std::vector<Index> base(static_cast<std::size_t>(n));
  std::vector<std::array<double, 4>> w(static_cast<std::size_t>(n));
  for (Index i = 0; i < n; ++i) {
    const double u = n > 1 ? static_cast<double>(i) * static_cast<double>(nc - 3) / static_cast<double>(n - 1) : 0.0;
    Index b = static_cast<Index>(std::floor(u));
    if (b > nc - 4) b = nc - 4;
    base[i] = b;
    w[i] = bspline_weights(u - static_cast<double>(b));
  }
  const Index si = in.shape().stride(axis), so = os.stride(axis);
  const Index outer = in.size() / (nc * si);
  for (Index o = 0; o < outer; ++o)
    for (Index inner = 0; inner < si; ++inner) {
      const float* src = in.data() + o * nc * si + inner;
      float* dst = out.data() + o * n * so + inner;
      for (Index i = 0; i < n; ++i) {
        double v = 0.0;
        for (int k = 0; k < 4; ++k) v += w[i][k] * src[(base[i] + k) * si];
        dst[i * so] = static_cast<float>(v);
      }
    }
  return out;
}

}  // namespace detail

// Per-voxel displacements U(-amplitude, amplitude), independently per axis, smoothed by a
// Gaussian of `sigma` voxels (three box passes, reflected borders). With the reference values
// (512, 38) in 2D the field is coherent with a standard deviation of about 2 px.
template <int Dim>
DisplacementField<Dim> smoothed_noise_field(const Shape<Dim>& shape, double amplitude, double sigma,
                                            std::uint64_t seed) {
  if (!(sigma >= 0.0)) throw InvalidArgument("smoothed_noise_field: sigma must be >= 0");
  DisplacementField<Dim> field;
  const auto widths = detail::gaussian_box_widths(sigma);
  const Index nx = shape.empty() ? 1 : shape[Dim - 1];
  const Index rows = shape.size() / nx;
  for (int c = 0; c < Dim; ++c) {
    Image<float, Dim>& f = field[c];
    f = Image<float, Dim>(shape, 0.0f);
    // One stream per row keeps the field independent of how rows are shared among threads.
    parallel_chunks(rows, 64, [&](Index r0, Index r1) {
      for (Index r = r0; r < r1; ++r) {
        Rng rng = Rng::derive(seed, {static_cast<std::uint64_t>(c), static_cast<std::uint64_t>(r)});
        for (Index x = 0; x < nx; ++x) f[r * nx + x] = static_cast<float>(rng.uniform(-amplitude, amplitude));
      }
    });
    if (sigma == 0.0) continue;
    // x: contiguous lines.
    parallel_chunks(rows, 32, [&](Index l0, Index l1) {
      std::vector<double> ext;
      std::vector<float> tmp;
      for (Index l = l0; l < l1; ++l) detail::box3_line(f.data() + l * nx, 1, nx, widths, ext, tmp);
    });
    // Outer axes: whole rows slide together, in column chunks of 64.
    for (int a = Dim - 2; a >= 0; --a) {
      const Index n = shape[a], pitch = shape.stride(a);
      const Index outer = shape.size() / (n * pitch);
      const Index chunks = (pitch + 63) / 64;
      parallel_for_each_index(outer * chunks, 1, [&](Index job) {
        std::vector<float> buf, sum;
        const Index o = job / chunks, c0 = (job % chunks) * 64;
        detail::box3_rows(f.data() + o * n * pitch + c0, pitch, n, std::min<Index>(64, pitch - c0), widths, buf, sum);
      });
    }
  }
  return field;
}

// Cubic B-spline field on a control grid of `points[a]` (>= 4) nodes (a Shape: numpy order) along axis a spanning
// the image, node displacements U(-max_displacement[a], max_displacement[a]). The B-spline is
// a convex combination of nodes, so no voxel moves further than max_displacement.
template <int Dim>
DisplacementField<Dim> bspline_field(const Shape<Dim>& shape, const Shape<Dim>& points,
                                     const std::array<double, static_cast<std::size_t>(Dim)>& max_displacement,
                                     std::uint64_t seed) {
  Shape<Dim> cs;
  for (int a = 0; a < Dim; ++a) {
    if (points[a] < 4) throw InvalidArgument("bspline_field: at least 4 control points per axis are needed");
    cs[a] = points[a];
  }
  DisplacementField<Dim> field;
  Rng rng = Rng::derive(seed, {0xb5});
  for (int c = 0; c < Dim; ++c) {
    Image<float, Dim> g(cs, 0.0f);
    for (float& v : g) v = static_cast<float>(rng.uniform(-max_displacement[c], max_displacement[c]));
    for (int a = Dim - 1; a >= 0; --a) g = detail::bspline_upsample_axis(g, a, shape[a]);
    field[c] = std::move(g);
  }
  return field;
}

// out(p) = labels(round(p + v(p))), coordinates reflected at the borders.
template <int Dim>
LabelImage<Dim> warp_labels(const LabelView<Dim>& labels, const DisplacementField<Dim>& field) {
  const Shape<Dim>& shape = labels.shape();
  for (int c = 0; c < Dim; ++c)
    if (field[c].shape() != shape)
      throw InvalidArgument("warp_labels: field shape " + field[c].shape().str() +
                            " differs from the label image " + shape.str());
  LabelImage<Dim> out(shape, 0, labels.spacing());
  const Index nx = shape.empty() ? 1 : shape[Dim - 1];
  const Index rows = shape.size() / nx;
  parallel_chunks(rows, 32, [&](Index r0, Index r1) {
    for (Index r = r0; r < r1; ++r) {
      std::array<Index, Dim> p = shape.coords(r * nx);
      for (Index x = 0; x < nx; ++x) {
        const Index i = r * nx + x;
        p[Dim - 1] = x;
        Index src = 0;
        for (int a = 0; a < Dim; ++a) {
          const Index q = static_cast<Index>(std::lround(static_cast<double>(p[a]) + field[a][i]));
          src = src * shape[a] + ((q >= 0 && q < shape[a]) ? q : reflect_index(q, shape[a]));
        }
        out[i] = labels[src];
      }
    }
  });
  return out;
}

}  // namespace qanet
