#pragma once
// Cell phantoms: smooth, irregular, star-convex nuclei (an ellipse or ellipsoid whose radius is
// modulated by a few low-frequency waves over the direction), placed with controlled crowding,
// and rasterised so that overlapping candidates split along a smooth contact line.

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

#include "qanet/core/image.hpp"
#include "qanet/core/parallel.hpp"
#include "qanet/core/random.hpp"
#include "qanet/simulate/options.hpp"

namespace qanet {

template <int Dim>
using Vec = std::array<double, Dim>;

template <int Dim>
struct CellSpec {
  struct Wave {  // radius modulation amp * cos(freq * (u . dir) + phase), u: unit direction
    Vec<Dim> dir{};
    double freq = 0.0, phase = 0.0, amp = 0.0;
  };
  struct Spot {
    Vec<Dim> centre{};
    double sigma = 2.0, amp = 0.0;
  };
  Vec<Dim> centre{};                    // physical coordinates, numpy order
  Vec<Dim> axes{};                      // semi-axes along the local frame (physical)
  std::array<Vec<Dim>, Dim> frame{};    // rows: local axes in world coordinates (orthonormal)
  std::vector<Wave> waves;
  std::vector<Spot> spots;
  double brightness = 1.0;              // signal above background (ADU, before blur)
  bool mitotic = false;

  // Local scaled coordinates of a world offset d (unit ball = the unmodulated ellipsoid).
  Vec<Dim> scaled(const Vec<Dim>& d) const {
    Vec<Dim> s{};
    for (int i = 0; i < Dim; ++i) {
      double v = 0.0;
      for (int a = 0; a < Dim; ++a) v += frame[i][a] * d[a];
      s[i] = v / axes[i];
    }
    return s;
  }
  double modulation(const Vec<Dim>& unit) const {
    double g = 1.0;
    for (const Wave& w : waves) {
      double dot = 0.0;
      for (int a = 0; a < Dim; ++a) dot += unit[a] * w.dir[a];
      g += w.amp * std::cos(w.freq * dot + w.phase);
    }
    return g;
  }
  // Normalised radius: < 1 inside the cell, 0 at the centre.
  double rho(const Vec<Dim>& p) const {
    Vec<Dim> d{};
    for (int a = 0; a < Dim; ++a) d[a] = p[a] - centre[a];
    Vec<Dim> s = scaled(d);
    double n = 0.0;
    for (double v : s) n += v * v;
    n = std::sqrt(n);
    if (n == 0.0) return 0.0;
    for (double& v : s) v /= n;
    return n / modulation(s);
  }
  // Distance from the centre to the boundary along the world unit direction u.
  double extent(const Vec<Dim>& u) const {
    Vec<Dim> s = scaled(u);
    double n = 0.0;
    for (double v : s) n += v * v;
    n = std::sqrt(n);
    for (double& v : s) v /= n;
    return modulation(s) / n;
  }
  double reach() const {
    double m = 1.0;
    for (const Wave& w : waves) m += std::abs(w.amp);
    return m * *std::max_element(axes.begin(), axes.end());
  }
};

namespace detail {

// A random rotation (rows orthonormal): Gram-Schmidt on Gaussian vectors.
template <int Dim>
std::array<Vec<Dim>, Dim> random_frame(Rng& rng) {
  std::array<Vec<Dim>, Dim> f{};
  for (int i = 0; i < Dim; ++i) {
    while (true) {
      Vec<Dim> v = random_unit_vector<Dim>(rng);
      for (int j = 0; j < i; ++j) {
        double d = 0.0;
        for (int a = 0; a < Dim; ++a) d += v[a] * f[j][a];
        for (int a = 0; a < Dim; ++a) v[a] -= d * f[j][a];
      }
      double n = 0.0;
      for (double c : v) n += c * c;
      if (n < 1e-6) continue;
      n = std::sqrt(n);
      for (int a = 0; a < Dim; ++a) f[i][a] = v[a] / n;
      break;
    }
  }
  return f;
}

template <int Dim>
Vec<Dim> physical_extent(const SimulationOptions<Dim>& opt) {
  Vec<Dim> e{};
  for (int a = 0; a < Dim; ++a) e[a] = static_cast<double>(opt.shape[a]) * opt.spacing[a];
  return e;
}

// One cell's shape, brightness and texture spots (its centre is set by the caller).
template <int Dim>
CellSpec<Dim> random_cell(const SimulationOptions<Dim>& opt, Rng& rng, bool mitotic, double signal) {
  CellSpec<Dim> c;
  c.mitotic = mitotic;
  double r = opt.radius_median * std::exp(opt.radius_log_sd * rng.normal());
  double elong = rng.uniform(1.0, opt.elongation_max);
  double irr = opt.irregularity;
  if (mitotic) {
    r *= opt.mitotic_radius_scale;
    elong = std::min(elong, 1.15);
    irr *= 0.5;
  }
  // Keep the volume of the equivalent sphere: the long axis grows, the others shrink.
  const double shrink = std::pow(elong, -1.0 / Dim);
  for (int i = 0; i < Dim; ++i) c.axes[i] = r * shrink * (i == 0 ? elong : 1.0);
  c.frame = random_frame<Dim>(rng);
  const int nwaves = 5;
  for (int k = 0; k < nwaves; ++k) {
    typename CellSpec<Dim>::Wave w;
    w.dir = random_unit_vector<Dim>(rng);
    w.freq = rng.uniform(1.0, 3.5);
    w.phase = rng.uniform(0.0, 6.283185307179586);
    w.amp = irr * rng.uniform(0.3, 1.0);
    c.waves.push_back(w);
  }
  c.brightness = signal * std::exp(opt.brightness_log_sd * rng.normal()) *
                 (mitotic ? opt.mitotic_brightness_scale : 1.0);
  return c;
}

template <int Dim>
void add_spots(CellSpec<Dim>& c, const SimulationOptions<Dim>& opt, Rng& rng) {
  const Index n = c.mitotic ? 0 : rng.uniform_int(0, static_cast<Index>(opt.spots_max));
  for (Index k = 0; k < n; ++k) {
    typename CellSpec<Dim>::Spot s;
    const Vec<Dim> u = random_unit_vector<Dim>(rng);
    const double t = rng.uniform(0.0, 0.75) * c.extent(u);
    for (int a = 0; a < Dim; ++a) s.centre[a] = c.centre[a] + t * u[a];
    s.sigma = rng.uniform(2.5, 5.0);
    s.amp = opt.spot_brightness * c.brightness * rng.uniform(0.3, 1.0);
    c.spots.push_back(s);
  }
}

// Gap along the line of centres between two cells (negative: they overlap there).
template <int Dim>
double centre_line_gap(const CellSpec<Dim>& a, const CellSpec<Dim>& b) {
  Vec<Dim> d{};
  double n = 0.0;
  for (int i = 0; i < Dim; ++i) {
    d[i] = b.centre[i] - a.centre[i];
    n += d[i] * d[i];
  }
  n = std::sqrt(n);
  if (n < 1e-9) return -1e9;
  Vec<Dim> u{}, v{};
  for (int i = 0; i < Dim; ++i) {
    u[i] = d[i] / n;
    v[i] = -u[i];
  }
  return n - a.extent(u) - b.extent(v);
}

}  // namespace detail

// Draws the cells of one image: count, shapes, positions (crowding), brightness, spots.
// Sequential on purpose: each placement depends on the earlier ones; it is cheap.
template <int Dim>
std::vector<CellSpec<Dim>> place_cells(const SimulationOptions<Dim>& opt, std::uint64_t seed) {
  Rng rng = Rng::derive(seed, {0xce11});
  const Vec<Dim> ext = detail::physical_extent(opt);
  double vol = 1.0;
  for (double e : ext) vol *= e;
  Index n;
  if (opt.cells_max > 0) {
    n = rng.uniform_int(opt.cells_min, opt.cells_max);
  } else {
    const double r = opt.radius_median;
    const double cell = Dim == 2 ? 3.141592653589793 * r * r : 4.0 / 3.0 * 3.141592653589793 * r * r * r;
    n = std::max<Index>(1, static_cast<Index>(std::lround(opt.coverage * vol / cell * rng.uniform(0.75, 1.25))));
  }
  // SNR is defined against the noise of the background: sd^2 = gain * signal + read^2.
  const double bg_signal = opt.background - opt.camera_offset;
  const double noise = std::sqrt(opt.gain * bg_signal + opt.read_noise * opt.read_noise);
  const double signal = opt.snr * noise;

  std::vector<CellSpec<Dim>> cells;
  bool twin_pending = false;
  for (Index k = 0; k < n; ++k) {
    const bool mitotic = twin_pending || rng.bernoulli(opt.mitotic_fraction);
    const bool twin = twin_pending;
    twin_pending = false;
    CellSpec<Dim> c = detail::random_cell(opt, rng, mitotic, signal);
    const bool against = !cells.empty() && (twin || rng.bernoulli(opt.touching_fraction));
    bool placed = false;
    for (int attempt = 0; attempt < 300 && !placed; ++attempt) {
      std::size_t partner = cells.size();
      if (against) {
        partner = twin ? cells.size() - 1 : static_cast<std::size_t>(rng.uniform_int(0, static_cast<Index>(cells.size()) - 1));
        const CellSpec<Dim>& p = cells[partner];
        const Vec<Dim> u = random_unit_vector<Dim>(rng);
        Vec<Dim> v{};
        for (int a = 0; a < Dim; ++a) v[a] = -u[a];
        // Touching (slight overlap, resolved at rasterisation) up to 3 px apart.
        const double dist = p.extent(u) + c.extent(v) + rng.uniform(-2.0, 3.0);
        for (int a = 0; a < Dim; ++a) c.centre[a] = p.centre[a] + dist * u[a];
        bool inside = true;
        for (int a = 0; a < Dim; ++a) inside = inside && c.centre[a] >= 0.0 && c.centre[a] < ext[a];
        if (!inside) continue;
      } else {
        for (int a = 0; a < Dim; ++a) c.centre[a] = rng.uniform(0.0, ext[a]);
      }
      placed = true;
      for (std::size_t j = 0; j < cells.size() && placed; ++j) {
        if (j == partner) continue;
        if (detail::centre_line_gap(cells[j], c) < opt.min_gap) placed = false;
      }
      if (against && placed && detail::centre_line_gap(cells[partner], c) < -4.0) placed = false;
    }
    if (!placed) continue;  // the image is full: fewer cells
    detail::add_spots(c, opt, rng);
    if (mitotic && !twin && rng.bernoulli(0.5)) twin_pending = true;
    cells.push_back(std::move(c));
  }
  return cells;
}

// Rasterises cells: voxel -> label k+1 of the cell with the smallest normalised radius < 1,
// so overlapping candidates meet along a smooth line. Rows run in parallel; the result does
// not depend on the thread count.
template <int Dim>
LabelImage<Dim> rasterise_cells(const std::vector<CellSpec<Dim>>& cells, const Shape<Dim>& shape,
                                const std::array<double, static_cast<std::size_t>(Dim)>& spacing) {
  LabelImage<Dim> labels(shape, 0, spacing);
  struct Box {
    std::array<Index, Dim> lo, hi;
  };
  std::vector<Box> boxes(cells.size());
  for (std::size_t k = 0; k < cells.size(); ++k) {
    const double reach = cells[k].reach() + 1.0;
    for (int a = 0; a < Dim; ++a) {
      boxes[k].lo[a] = std::max<Index>(0, static_cast<Index>(std::floor((cells[k].centre[a] - reach) / spacing[a])));
      boxes[k].hi[a] = std::min<Index>(shape[a] - 1, static_cast<Index>(std::ceil((cells[k].centre[a] + reach) / spacing[a])));
    }
  }
  const Index nx = shape[Dim - 1];
  const Index rows = shape.size() / std::max<Index>(nx, 1);
  parallel_chunks(rows, 8, [&](Index r0, Index r1) {
    std::vector<double> best(static_cast<std::size_t>(nx));
    for (Index r = r0; r < r1; ++r) {
      std::array<Index, Dim> p = shape.coords(r * nx);
      std::fill(best.begin(), best.end(), 1.0);
      for (std::size_t k = 0; k < cells.size(); ++k) {
        const Box& b = boxes[k];
        bool covers = true;
        for (int a = 0; a < Dim - 1; ++a) covers = covers && p[a] >= b.lo[a] && p[a] <= b.hi[a];
        if (!covers) continue;
        Vec<Dim> q{};
        for (int a = 0; a < Dim - 1; ++a) q[a] = static_cast<double>(p[a]) * spacing[a];
        for (Index x = b.lo[Dim - 1]; x <= b.hi[Dim - 1]; ++x) {
          q[Dim - 1] = static_cast<double>(x) * spacing[Dim - 1];
          const double rho = cells[k].rho(q);
          if (rho < best[x]) {
            best[x] = rho;
            labels[r * nx + x] = static_cast<Label>(k + 1);
          }
        }
      }
    }
  });
  return labels;
}

}  // namespace qanet
