#pragma once
// Image formation: Gaussian PSF blur (separable, anisotropic), smooth random textures, and the
// camera (Poisson shot noise, Gaussian read noise, quantisation).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "qanet/core/image.hpp"
#include "qanet/core/parallel.hpp"
#include "qanet/core/random.hpp"

namespace qanet {

namespace detail {

inline std::vector<double> gaussian_kernel(double sigma) {
  const Index r = std::max<Index>(1, static_cast<Index>(std::ceil(3.5 * sigma)));
  std::vector<double> k(static_cast<std::size_t>(2 * r + 1));
  double sum = 0.0;
  for (Index i = -r; i <= r; ++i) sum += k[i + r] = std::exp(-0.5 * (i * i) / (sigma * sigma));
  for (double& v : k) v /= sum;
  return k;
}

}  // namespace detail

// In-place Gaussian blur with a per-axis sigma in voxels (0: that axis untouched); borders
// reflected. Lines run in parallel; each output depends only on its own line.
template <int Dim>
void gaussian_blur(Image<float, Dim>& img, const std::array<double, static_cast<std::size_t>(Dim)>& sigma) {
  const Shape<Dim>& s = img.shape();
  for (int a = 0; a < Dim; ++a) {
    if (!(sigma[a] > 0.0) || s[a] < 2) continue;
    const auto k = detail::gaussian_kernel(sigma[a]);
    const Index r = static_cast<Index>(k.size() / 2);
    const Index n = s[a], stride = s.stride(a);
    const Index lines = s.size() / n;
    if (stride >= 16) {
      // An outer axis: each output row of the axis is a weighted sum of whole input rows, so the
      // loops run along contiguous memory (a line gathered across rows would touch one cache
      // line per voxel). Same terms in the same order per voxel as below: the same bits.
      const Index outer = s.size() / (n * stride);
      std::vector<float> out(static_cast<std::size_t>(n * stride));
      for (Index o = 0; o < outer; ++o) {
        float* base = img.data() + o * n * stride;
        parallel_chunks(n, 4, [&](Index i0, Index i1) {
          std::vector<double> acc(static_cast<std::size_t>(stride));
          for (Index i = i0; i < i1; ++i) {
            std::fill(acc.begin(), acc.end(), 0.0);
            for (Index j = -r; j <= r; ++j) {
              const Index src = i >= r && i + r < n ? i + j : reflect_index(i + j, n);
              const double kj = k[j + r];
              const float* row = base + src * stride;
              for (Index x = 0; x < stride; ++x) acc[x] += kj * row[x];
            }
            float* dst = out.data() + i * stride;
            for (Index x = 0; x < stride; ++x) dst[x] = static_cast<float>(acc[x]);
          }
        });
        std::copy(out.begin(), out.end(), base);
      }
      continue;
    }
    parallel_chunks(lines, 16, [&](Index l0, Index l1) {
      std::vector<float> line(static_cast<std::size_t>(n));
      for (Index l = l0; l < l1; ++l) {
        float* p = img.data() + (l / stride) * n * stride + (l % stride);
        for (Index i = 0; i < n; ++i) line[i] = p[i * stride];
        for (Index i = 0; i < n; ++i) {
          double acc = 0.0;
          if (i >= r && i + r < n) {
            for (Index j = -r; j <= r; ++j) acc += k[j + r] * line[i + j];
          } else {
            for (Index j = -r; j <= r; ++j) acc += k[j + r] * line[reflect_index(i + j, n)];
          }
          p[i * stride] = static_cast<float>(acc);
        }
      }
    });
  }
}

// Smooth Gaussian random field of unit standard deviation and correlation length `sigma`
// voxels (white noise blurred, then rescaled by the exact gain of the kernel). The white noise
// is uniform with unit variance: after the blur sums dozens of voxels it is Gaussian anyway,
// and uniform draws are several times cheaper than normal ones.
template <int Dim>
Image<float, Dim> smooth_random_field(const Shape<Dim>& shape, const std::array<double, static_cast<std::size_t>(Dim)>& sigma,
                                      std::uint64_t seed) {
  Image<float, Dim> f(shape, 0.0f);
  const Index nx = shape[Dim - 1];
  const Index rows = shape.size() / std::max<Index>(nx, 1);
  parallel_chunks(rows, 32, [&](Index r0, Index r1) {
    for (Index r = r0; r < r1; ++r) {
      Rng rng = Rng::derive(seed, {static_cast<std::uint64_t>(r)});
      for (Index x = 0; x < nx; ++x) f[r * nx + x] = static_cast<float>(rng.uniform(-1.7320508075688772, 1.7320508075688772));
    }
  });
  gaussian_blur(f, sigma);
  double gain = 1.0;
  for (int a = 0; a < Dim; ++a) {
    if (!(sigma[a] > 0.0) || shape[a] < 2) continue;
    const std::vector<double> k = detail::gaussian_kernel(sigma[a]);
    double s2 = 0.0;
    for (double w : k) s2 += w * w;
    gain *= std::sqrt(s2);
  }
  const float inv = static_cast<float>(1.0 / gain);
  for (float& v : f) v *= inv;
  return f;
}

// Poisson sample: multiplication method for small means, normal approximation from 20 on
// (skewness 1/sqrt(mean) < 0.23 there, and the camera adds Gaussian read noise anyway).
inline double poisson_sample(Rng& rng, double mean) {
  if (!(mean > 0.0)) return 0.0;
  if (mean >= 20.0) return std::max(0.0, std::round(mean + std::sqrt(mean) * rng.normal()));
  const double l = std::exp(-mean);
  double p = rng.uniform();
  double k = 0.0;
  while (p > l) {
    p *= rng.uniform();
    k += 1.0;
  }
  return k;
}

// Camera: `signal` holds expected ADU above the offset. Output: offset + gain * Poisson(signal /
// gain) + N(0, read_noise), rounded and clamped to [0, 2^bits - 1]. One stream per row.
template <int Dim>
Image<std::uint16_t, Dim> camera(const Image<float, Dim>& signal, double offset, double gain,
                                 double read_noise, int bits, std::uint64_t seed) {
  const Shape<Dim>& s = signal.shape();
  Image<std::uint16_t, Dim> out(s, 0, signal.spacing());
  const double top = bits == 8 ? 255.0 : 65535.0;
  const Index nx = s[Dim - 1];
  const Index rows = s.size() / std::max<Index>(nx, 1);
  parallel_chunks(rows, 32, [&](Index r0, Index r1) {
    for (Index r = r0; r < r1; ++r) {
      Rng rng = Rng::derive(seed, {static_cast<std::uint64_t>(r)});
      for (Index x = 0; x < nx; ++x) {
        const double mean = std::max(0.0, static_cast<double>(signal[r * nx + x])) / gain;
        double v;
        if (mean >= 20.0) {
          // Shot and read noise are then both Gaussian: one draw with the summed variance.
          v = offset + gain * mean + std::sqrt(gain * gain * mean + read_noise * read_noise) * rng.normal();
        } else {
          v = offset + gain * poisson_sample(rng, mean) + read_noise * rng.normal();
        }
        out[r * nx + x] = static_cast<std::uint16_t>(std::clamp(std::round(v), 0.0, top));
      }
    }
  });
  return out;
}

}  // namespace qanet
