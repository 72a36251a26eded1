#pragma once
// The synthetic microscope: cells -> signal (brightness, texture, spots, background with an
// illumination gradient) -> PSF blur -> camera noise -> uint16 image, with exact labels.
// Same (options, seed, index) -> same bytes, whatever the thread count.

#include <cmath>
#include <cstdint>
#include <vector>

#include "qanet/core/image.hpp"
#include "qanet/core/parallel.hpp"
#include "qanet/core/random.hpp"
#include "qanet/metrics/distance_transform.hpp"
#include "qanet/simulate/cells.hpp"
#include "qanet/simulate/optics.hpp"
#include "qanet/simulate/options.hpp"

namespace qanet {

template <int Dim>
struct SimulatedImage {
  Image<std::uint16_t, Dim> image;  // 16-bit camera values (bit_depth 8: within [0, 255])
  LabelImage<Dim> labels;           // exact instance labels 1..n, in drawing order (n may be
                                    // less than cells.size() when a cell is hidden)
  std::vector<CellSpec<Dim>> cells; // what was drawn
};

// Image `index` of the sequence `seed` (frames of one seed are independent draws).
template <int Dim>
SimulatedImage<Dim> simulate_image(const SimulationOptions<Dim>& opt, std::uint64_t seed, std::uint64_t index = 0) {
  opt.validate();
  const std::uint64_t base = Rng::derive(seed, {0x5151, index})();
  SimulatedImage<Dim> out;
  out.cells = place_cells(opt, base);
  out.labels = rasterise_cells(out.cells, opt.shape, opt.spacing);

  const Shape<Dim>& shape = opt.shape;
  std::array<double, Dim> tex_sigma{};
  for (int a = 0; a < Dim; ++a) tex_sigma[a] = opt.texture_scale / opt.spacing[a];
  const Image<float, Dim> texture = smooth_random_field(shape, tex_sigma, Rng::derive(base, {1})());
  // Distance of every cell voxel to the background, only when the cells have a dim rim.
  Image<double, Dim> to_background;
  if (opt.rim_depth > 0.0) {
    Image<std::uint8_t, Dim> bg(shape, 0);
    for (Index i = 0; i < shape.size(); ++i) bg[i] = out.labels[i] == 0;
    to_background = distance_transform(bg.cview(), opt.spacing);
  }

  // Illumination: a linear ramp of +-gradient across the field along a random direction.
  Rng grng = Rng::derive(base, {2});
  Vec<Dim> gdir = random_unit_vector<Dim>(grng);
  if constexpr (Dim == 3) gdir[0] *= 0.2;  // mostly in-plane
  const double bg_signal = opt.background - opt.camera_offset;
  Vec<Dim> ext = detail::physical_extent(opt);
  double diag = 0.0;
  for (double e : ext) diag += e * e;
  diag = std::sqrt(diag);

  Image<float, Dim> signal(shape, 0.0f, opt.spacing);
  const Index nx = shape[Dim - 1];
  const Index rows = shape.size() / std::max<Index>(nx, 1);
  parallel_chunks(rows, 8, [&](Index r0, Index r1) {
    for (Index r = r0; r < r1; ++r) {
      std::array<Index, Dim> p = shape.coords(r * nx);
      Vec<Dim> q{};
      for (int a = 0; a < Dim - 1; ++a) q[a] = static_cast<double>(p[a]) * opt.spacing[a];
      for (Index x = 0; x < nx; ++x) {
        const Index i = r * nx + x;
        q[Dim - 1] = static_cast<double>(x) * opt.spacing[Dim - 1];
        double ramp = 0.0;
        for (int a = 0; a < Dim; ++a) ramp += gdir[a] * (q[a] - 0.5 * ext[a]);
        double v = bg_signal * (1.0 + 2.0 * opt.gradient * ramp / diag);
        const Label l = out.labels[i];
        if (l != 0) {
          const CellSpec<Dim>& c = out.cells[l - 1];
          const double tex = c.mitotic ? 0.3 * opt.texture : opt.texture;
          // Log-normal texture (mean 1): bright chromatin patches rather than dark holes.
          double cell = c.brightness * std::exp(tex * texture[i] - 0.5 * tex * tex);
          if (opt.rim_depth > 0.0)
            cell *= 1.0 - opt.rim_depth * std::exp(-std::max(0.0, to_background[i] - 0.5) / opt.rim_width);
          for (const auto& s : c.spots) {
            double d2 = 0.0;
            for (int a = 0; a < Dim; ++a) d2 += (q[a] - s.centre[a]) * (q[a] - s.centre[a]);
            if (d2 < 16.0 * s.sigma * s.sigma) cell += s.amp * std::exp(-0.5 * d2 / (s.sigma * s.sigma));
          }
          v += cell;
        }
        signal[i] = static_cast<float>(v);
      }
    }
  });
  std::array<double, Dim> psf{};
  for (int a = 0; a < Dim; ++a) psf[a] = ((Dim == 3 && a == 0) ? opt.psf_sigma_z : opt.psf_sigma) / opt.spacing[a];
  gaussian_blur(signal, psf);
  out.image = camera(signal, opt.camera_offset, opt.gain, opt.read_noise, opt.bit_depth, Rng::derive(base, {3})());
  out.image.set_spacing(opt.spacing);
  // A cell fully covered by its neighbours (or outside a thin volume) leaves a gap in the
  // labels: renumber to 1..n for a clean CTC ground truth (labels keep the drawing order).
  std::vector<Label> lut(out.cells.size() + 1, 0);
  for (Label l : out.labels) lut[l] = 1;
  Label next = 0;
  lut[0] = 0;
  for (std::size_t k = 1; k < lut.size(); ++k) lut[k] = lut[k] ? ++next : 0;
  for (Label& l : out.labels) l = lut[l];
  return out;
}

}  // namespace qanet
