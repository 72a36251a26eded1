#pragma once
// Exact Euclidean distance transforms in linear time: one pass per axis, each the lower
// envelope of parabolas (Felzenszwalb & Huttenlocher, "Distance Transforms of Sampled
// Functions", 2012), with per-axis spacing. Squared distances are kept in double, in the
// physical units of the spacing, between voxel centres. For the boxes of the boundary metrics
// (detail::squared_edt_of_bit) the first axis of a binary input is two sweeps, short lines of a
// middle axis are minimised directly (at most kMinPlusMaxLine terms per voxel, so still linear),
// and the last axis is evaluated only where the caller reads it.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "qanet/core/error.hpp"
#include "qanet/core/image.hpp"
#include "qanet/core/parallel.hpp"

namespace qanet {
namespace detail {

// Spacing<Dim> is std::array<double, size_t>, so Dim cannot be deduced from it; spacing
// parameters go through this to let Dim come from the image argument.
template <typename T>
struct NoDeduce {
  using type = T;
};
template <int Dim>
using SpacingArg = typename NoDeduce<Spacing<Dim>>::type;

// Scratch space for one line; reused across lines so no allocation happens per line.
struct EdtLineScratch {
  std::vector<double> f, d, vx, vf, zn, zd;
  std::vector<double> plane;  // min_plus_rows' copy of its input
  std::vector<Index> queries;
  void resize(Index n) {
    const auto m = static_cast<std::size_t>(n);
    if (f.size() < m) {
      f.resize(m);
      d.resize(m);
      vx.resize(m);
      vf.resize(m);
      zn.resize(m + 1);
      zd.resize(m + 1);
    }
  }
};

// d[q] = min_p (s (q - p))^2 + f[p] over the n samples of f. Infinite samples are not sites
// (skipping them keeps the parabola intersections exact); no finite sample: all infinite.
// The envelope keeps each site's position and value, and each breakpoint as a fraction
// zn / zd with zd > 0, compared by cross-multiplication: the textbook version divides at
// every comparison, and that division's latency dominated the whole metric computation.
// Builds the lower envelope of the parabolas of the finite samples of f into w; returns the
// index of its last parabola, or -1 when no sample is finite.
inline Index edt_envelope(const double* f, Index n, double s, EdtLineScratch& w) {
  const double inf = std::numeric_limits<double>::infinity();
  double* vx = w.vx.data();  // site positions (physical units)
  double* vf = w.vf.data();  // site values
  double* zn = w.zn.data();  // breakpoint k = zn[k] / zd[k]; breakpoint 0 is -inf
  double* zd = w.zd.data();
  Index k = -1;
  for (Index q = 0; q < n; ++q) {
    const double fq = f[q];
    if (fq == inf) continue;
    const double xq = s * static_cast<double>(q);
    if (k < 0) {
      k = 0;
      vx[0] = xq;
      vf[0] = fq;
      zn[0] = -inf;
      zd[0] = 1.0;
      zn[1] = inf;
      zd[1] = 1.0;
      continue;
    }
    // Intersection with site k at num / den (den > 0); while it lies left of breakpoint k,
    // site k is hidden. Breakpoint 0 is -inf, so k never drops below 0.
    const double hq = fq + xq * xq;
    double num = hq - (vf[k] + vx[k] * vx[k]);
    double den = 2.0 * (xq - vx[k]);
    while (num * zd[k] <= zn[k] * den) {
      --k;
      num = hq - (vf[k] + vx[k] * vx[k]);
      den = 2.0 * (xq - vx[k]);
    }
    ++k;
    vx[k] = xq;
    vf[k] = fq;
    zn[k] = num;
    zd[k] = den;
    zn[k + 1] = inf;
    zd[k + 1] = 1.0;
  }
  return k;
}

// d[q] = min_p (s (q - p))^2 + f[p] over the n samples of f. Infinite samples are not sites
// (skipping them keeps the parabola intersections exact); no finite sample: all infinite.
// Breakpoints are kept as fractions zn / zd (zd > 0) and compared by cross-multiplication,
// so no division sits on the critical path.
inline void edt_line(const double* f, double* d, Index n, double s, EdtLineScratch& w) {
  if (edt_envelope(f, n, s, w) < 0) {
    for (Index q = 0; q < n; ++q) d[q] = std::numeric_limits<double>::infinity();
    return;
  }
  const double* vx = w.vx.data();
  const double* vf = w.vf.data();
  const double* zn = w.zn.data();
  const double* zd = w.zd.data();
  Index k = 0;
  for (Index q = 0; q < n; ++q) {
    const double xq = s * static_cast<double>(q);
    while (zn[k + 1] < xq * zd[k + 1]) ++k;
    const double dx = xq - vx[k];
    d[q] = dx * dx + vf[k];
  }
}

// Lines with at most this many queried voxels are minimised directly (see edt_axis).
constexpr std::size_t kDirectQueries = 6;

// One axis of the separable transform, serially over the lines of that axis.
template <int Dim>
void edt_axis(double* data, const Shape<Dim>& shape, double s, int axis, Index l0, Index l1,
              EdtLineScratch& w, const std::uint8_t* only = nullptr, std::uint8_t only_bit = 0) {
  const Index n = shape[axis];
  const Index stride = shape.stride(axis);
  w.resize(n);
  for (Index l = l0; l < l1; ++l) {
    // Line l starts at (l / stride) * n * stride + l % stride.
    const Index start = (l / stride) * n * stride + l % stride;
    if (only) {
      // The caller reads only voxels flagged `only_bit`: evaluate the envelope there alone,
      // and skip lines without any.
      std::vector<Index>& qs = w.queries;
      qs.clear();
      for (Index q = 0; q < n; ++q)
        if (only[start + q * stride] & only_bit) qs.push_back(q);
      if (qs.empty()) continue;
      double* base = data + start;
      for (Index q = 0; q < n; ++q) w.f[static_cast<std::size_t>(q)] = base[q * stride];
      if (qs.size() <= kDirectQueries) {
        // A few queries: minimise over the line directly. Branch-free multiply-adds beat
        // building the envelope, and the cost stays linear (at most kDirectQueries * n).
        const double* f = w.f.data();
        for (Index q : qs) {
          const double xq = s * static_cast<double>(q);
          double best = std::numeric_limits<double>::infinity();
          for (Index p = 0; p < n; ++p) {
            const double dx = xq - s * static_cast<double>(p);
            const double v = dx * dx + f[p];
            best = v < best ? v : best;
          }
          base[q * stride] = best;
        }
        continue;
      }
      if (edt_envelope(w.f.data(), n, s, w) < 0) {
        for (Index q : qs) base[q * stride] = std::numeric_limits<double>::infinity();
        continue;
      }
      Index k = 0;
      for (Index q : qs) {
        const double xq = s * static_cast<double>(q);
        while (w.zn[static_cast<std::size_t>(k + 1)] < xq * w.zd[static_cast<std::size_t>(k + 1)]) ++k;
        const double dx = xq - w.vx[static_cast<std::size_t>(k)];
        base[q * stride] = dx * dx + w.vf[static_cast<std::size_t>(k)];
      }
      continue;
    }
    double* base = data + start;
    if (stride == 1) {
      edt_line(base, w.d.data(), n, s, w);
      std::copy(w.d.data(), w.d.data() + n, base);
    } else {
      for (Index q = 0; q < n; ++q) w.f[static_cast<std::size_t>(q)] = base[q * stride];
      edt_line(w.f.data(), w.d.data(), n, s, w);
      for (Index q = 0; q < n; ++q) base[q * stride] = w.d[static_cast<std::size_t>(q)];
    }
  }
}

// First axis (x) of a binary transform: the squared distance along the row to the nearest
// voxel whose byte has `bit` set, by a forward and a backward sweep (no parabolas needed).
inline void binary_rows(const std::uint8_t* flags, std::uint8_t bit, double* out, Index nx, Index rows,
                        double sx) {
  const double inf = std::numeric_limits<double>::infinity();
  for (Index r = 0; r < rows; ++r) {
    const std::uint8_t* f = flags + r * nx;
    double* o = out + r * nx;
    Index last = -1;
    for (Index x = 0; x < nx; ++x) {
      if (f[x] & bit) last = x;
      o[x] = last < 0 ? inf : static_cast<double>(x - last);
    }
    Index next = -1;
    for (Index x = nx - 1; x >= 0; --x) {
      if (f[x] & bit) next = x;
      if (next >= 0 && static_cast<double>(next - x) < o[x]) o[x] = static_cast<double>(next - x);
      const double d = o[x] * sx;
      o[x] = d * d;
    }
  }
}

// In place over a row-major buffer: on entry 0 at features and +inf elsewhere (or any
// non-negative sampled function); on exit squared distances. `parallel` spreads the lines of
// each axis over TBB; callers that already run in parallel (one box per task) pass false.
template <int Dim>
void squared_edt_inplace(double* data, const Shape<Dim>& shape, const Spacing<Dim>& spacing,
                         bool parallel) {
  if (shape.empty()) return;
  for (int axis = Dim - 1; axis >= 0; --axis) {
    const Index n = shape[axis];
    const Index lines = shape.size() / n;
    const double s = spacing[static_cast<std::size_t>(axis)];
    auto run = [&](Index l0, Index l1) {
      EdtLineScratch w;
      edt_axis<Dim>(data, shape, s, axis, l0, l1, w);
    };
    if (parallel)
      parallel_chunks(lines, std::max<Index>(1, 4096 / n), run);
    else
      run(0, lines);
  }
}

// Lines up to this length take the quadratic, vectorised path of min_plus_rows.
constexpr Index kMinPlusMaxLine = 48;

// The y axis of a 3D transform over whole rows of one plane (ny rows of nx contiguous values):
// out[y][x] = min over y' of (s (y - y'))^2 + in[y'][x]. Quadratic in ny, but without branches
// and vectorised across x, so on the short lines of one pair's box it beats the envelope, whose
// data-dependent branches cost tens of cycles per sample. Rows holding no finite value are
// skipped.
inline void min_plus_rows(double* plane, Index ny, Index nx, double s, EdtLineScratch& w) {
  const double inf = std::numeric_limits<double>::infinity();
  const std::size_t total = static_cast<std::size_t>(ny * nx);
  if (w.plane.size() < total) w.plane.resize(total);
  double* in = w.plane.data();
  std::copy(plane, plane + ny * nx, in);
  std::vector<Index>& rows = w.queries;  // rows with a finite value
  rows.clear();
  for (Index y = 0; y < ny; ++y) {
    const double* r = in + y * nx;
    for (Index x = 0; x < nx; ++x)
      if (r[x] != inf) {
        rows.push_back(y);
        break;
      }
  }
  for (Index y = 0; y < ny; ++y) {
    double* out = plane + y * nx;
    for (Index x = 0; x < nx; ++x) out[x] = inf;
    for (Index yp : rows) {
      const double dy = s * static_cast<double>(y - yp);
      const double dd = dy * dy;
      const double* r = in + yp * nx;
      for (Index x = 0; x < nx; ++x) {
        const double v = dd + r[x];
        out[x] = v < out[x] ? v : out[x];
      }
    }
  }
}

// Squared distances to the voxels whose byte in `flags` has `bit` set, serially (for one box).
// Only voxels flagged `query_bit` get exact values: the last pass skips lines without any.
template <int Dim>
void squared_edt_of_bit(const std::uint8_t* flags, std::uint8_t bit, std::uint8_t query_bit, double* out,
                        const Shape<Dim>& shape, const Spacing<Dim>& spacing, EdtLineScratch& w) {
  if (shape.empty()) return;
  const Index nx = shape[Dim - 1];
  binary_rows(flags, bit, out, nx, shape.size() / nx, spacing[Dim - 1]);
  for (int axis = Dim - 2; axis >= 0; --axis) {
    const double s = spacing[static_cast<std::size_t>(axis)];
    if (axis > 0 && axis == Dim - 2 && shape[axis] <= kMinPlusMaxLine) {
      const Index plane = shape[axis] * nx;
      for (Index p = 0; p < shape.size() / plane; ++p) min_plus_rows(out + p * plane, shape[axis], nx, s, w);
      continue;
    }
    edt_axis<Dim>(out, shape, s, axis, 0, shape.size() / shape[axis], w, axis == 0 ? flags : nullptr, query_bit);
  }
}

template <int Dim>
void check_spacing(const Spacing<Dim>& spacing, const char* what) {
  for (double s : spacing)
    if (!(s > 0.0) || !std::isfinite(s))
      throw InvalidArgument(std::string(what) + ": spacing must be positive and finite");
}

}  // namespace detail

// Squared Euclidean distance from every voxel to the nearest feature voxel (features[i] != 0),
// in the units of `spacing` (numpy order z, y, x). Without any feature every value is +inf.
// Note the polarity: scipy.ndimage.distance_transform_edt(x) measures the distance to the
// nearest ZERO of x, i.e. this function applied to (x == 0).
template <typename T, int Dim>
Image<double, Dim> squared_distance_transform(const ImageView<const T, Dim>& features,
                                              const detail::SpacingArg<Dim>& spacing) {
  detail::check_spacing<Dim>(spacing, "squared_distance_transform");
  const Shape<Dim> shape = features.shape();
  Image<double, Dim> out(shape, 0.0, spacing);
  if (shape.empty()) return out;
  std::vector<std::uint8_t> flags(static_cast<std::size_t>(shape.size()));
  const Index nx = shape[Dim - 1];
  const Index rows = shape.size() / nx;
  parallel_chunks(rows, std::max<Index>(1, 4096 / nx), [&](Index r0, Index r1) {
    for (Index i = r0 * nx; i < r1 * nx; ++i) flags[static_cast<std::size_t>(i)] = features[i] != T{};
    detail::binary_rows(flags.data() + r0 * nx, 1, out.data() + r0 * nx, nx, r1 - r0, spacing[Dim - 1]);
  });
  for (int axis = Dim - 2; axis >= 0; --axis) {
    const Index n = shape[axis];
    parallel_chunks(shape.size() / n, std::max<Index>(1, 4096 / n), [&](Index l0, Index l1) {
      detail::EdtLineScratch w;
      detail::edt_axis<Dim>(out.data(), shape, spacing[static_cast<std::size_t>(axis)], axis, l0, l1, w);
    });
  }
  return out;
}

// Same, with the spacing of the view.
template <typename T, int Dim>
Image<double, Dim> squared_distance_transform(const ImageView<const T, Dim>& features) {
  return squared_distance_transform(features, features.spacing());
}

// Euclidean (not squared) distance to the nearest feature voxel.
template <typename T, int Dim>
Image<double, Dim> distance_transform(const ImageView<const T, Dim>& features,
                                      const detail::SpacingArg<Dim>& spacing) {
  Image<double, Dim> d = squared_distance_transform(features, spacing);
  for (double& x : d) x = std::sqrt(x);
  return d;
}

template <typename T, int Dim>
Image<double, Dim> distance_transform(const ImageView<const T, Dim>& features) {
  return distance_transform(features, features.spacing());
}

// Squared distance from every voxel of `shape` to the nearest of the `seeds` (flat row-major
// indices). Throws InvalidArgument for a seed outside the image.
template <int Dim>
Image<double, Dim> squared_distance_from_seeds(const Shape<Dim>& shape, const std::vector<Index>& seeds,
                                               const detail::SpacingArg<Dim>& spacing = unit_spacing<Dim>()) {
  detail::check_spacing<Dim>(spacing, "squared_distance_from_seeds");
  Image<double, Dim> out(shape, std::numeric_limits<double>::infinity(), spacing);
  for (Index s : seeds) {
    if (s < 0 || s >= shape.size())
      throw InvalidArgument("squared_distance_from_seeds: seed index " + std::to_string(s) +
                            " outside the image " + shape.str());
    out[s] = 0.0;
  }
  detail::squared_edt_inplace<Dim>(out.data(), shape, spacing, true);
  return out;
}

}  // namespace qanet
