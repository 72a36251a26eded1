#pragma once
// Every knob of the synthetic microscope. The defaults imitate Fluo-N2DH-SIM+ (HL60 nuclei,
// widefield, uint16) as measured by benchmarks/simulator_stats.py: see docs/simulator.md.
// Lengths are in physical units of the in-plane pixel (spacing 1 in y and x); a 3D volume has
// a coarser z spacing, so cells stay round in physical space.

#include <string>

#include "qanet/core/error.hpp"
#include "qanet/core/shape.hpp"

namespace qanet {

template <int Dim>
struct SimulationOptions {
  static_assert(Dim == 2 || Dim == 3, "simulated images are 2D or 3D");

  // --- geometry
  Shape<Dim> shape = default_shape();
  Spacing<Dim> spacing = default_spacing();  // 3D: z voxels are 2x deeper than wide
  // Cell count per image, uniform in [cells_min, cells_max]; 0, 0 picks it from `coverage`
  // (the expected fraction of the image covered by whole cells; SIM+ measures 0.17 with
  // border-cut cells), +-25%.
  Index cells_min = 0, cells_max = 0;
  double coverage = 0.19;
  // Cell size: equivalent radius (px), log-normal around the median (SIM+ median area 1960 px).
  double radius_median = 25.3;
  double radius_log_sd = 0.17;
  double elongation_max = 1.55;   // axis ratio uniform in [1, elongation_max]
  double irregularity = 0.07;     // amplitude of the low-order radius harmonics (0: ellipses)
  // Crowding: a cell is placed against an earlier one with probability `touching_fraction`
  // (touching or up to 3 px apart), otherwise at least `min_gap` px from every other cell.
  double touching_fraction = 0.05;
  double min_gap = 3.0;
  // Small bright round mitotic cells (often a daughter pair).
  double mitotic_fraction = 0.05;
  double mitotic_radius_scale = 0.55;
  double mitotic_brightness_scale = 2.0;

  // --- intensities (ADU of a uint16 camera)
  double background = 91.0;       // mean background level
  double camera_offset = 80.0;    // the part of the background that carries no photons
  double gradient = 0.04;         // slow illumination gradient: +-4% of the background signal
  double snr = 6.5;               // median (cell signal) / (background noise sd)
  double brightness_log_sd = 0.2; // per-cell brightness spread
  double texture = 0.5;           // smooth chromatin texture (relative amplitude)
  double texture_scale = 4.0;     // its correlation length (px)
  double spots_max = 4;           // up to this many bright spots (nucleoli, chromocentres) per cell
  double spot_brightness = 1.2;   // relative to the cell signal
  // A dim rim: the cell signal is multiplied by 1 - rim_depth * exp(-(d - 0.5) / rim_width) at
  // distance d (physical px) from the background, so the annotated outline can sit well down
  // the intensity edge (as in Fluo-N2DH-SIM+ 02). 0: flat cells up to their outline.
  double rim_depth = 0.0;
  double rim_width = 3.0;
  // --- optics and camera
  double psf_sigma = 2.4;         // Gaussian PSF sigma in y, x (px)
  double psf_sigma_z = 3.0;       // 3D: along z (physical units, i.e. in-plane px)
  double gain = 0.3;              // ADU per photon (Poisson shot noise)
  double read_noise = 3.8;        // Gaussian read noise sd (ADU)
  int bit_depth = 16;             // 16: uint16 values, 8: values clamped to [0, 255]

  static Shape<Dim> default_shape() {
    if constexpr (Dim == 2) return Shape<2>(420, 420);
    else return Shape<3>(48, 256, 256);
  }
  static Spacing<Dim> default_spacing() {
    Spacing<Dim> s = unit_spacing<Dim>();
    if constexpr (Dim == 3) s[0] = 2.0;
    return s;
  }

  void validate() const {
    auto fail = [](const std::string& what) { throw InvalidArgument("SimulationOptions: " + what); };
    for (int a = 0; a < Dim; ++a)
      if (shape[a] < 1) fail("every extent must be >= 1 (got " + shape.str() + ")");
    if (cells_min < 0 || cells_max < cells_min) fail("need 0 <= cells_min <= cells_max");
    if (!(coverage > 0.0 && coverage < 1.0)) fail("coverage must lie in (0, 1)");
    if (!(radius_median > 0.5) || !(radius_log_sd >= 0.0)) fail("radius_median must be > 0.5, radius_log_sd >= 0");
    if (!(elongation_max >= 1.0)) fail("elongation_max must be >= 1");
    if (!(irregularity >= 0.0 && irregularity < 0.5)) fail("irregularity must lie in [0, 0.5)");
    if (!(touching_fraction >= 0.0 && touching_fraction <= 1.0)) fail("touching_fraction must lie in [0, 1]");
    if (!(mitotic_fraction >= 0.0 && mitotic_fraction <= 1.0)) fail("mitotic_fraction must lie in [0, 1]");
    if (!(background >= camera_offset) || !(camera_offset >= 0.0)) fail("need 0 <= camera_offset <= background");
    if (!(snr > 0.0)) fail("snr must be > 0");
    if (!(psf_sigma >= 0.0) || !(psf_sigma_z >= 0.0)) fail("PSF sigmas must be >= 0");
    if (!(gain > 0.0) || !(read_noise >= 0.0)) fail("gain must be > 0 and read_noise >= 0");
    if (bit_depth != 8 && bit_depth != 16) fail("bit_depth must be 8 or 16");
    if (!(texture >= 0.0) || !(texture_scale > 0.0) || !(spots_max >= 0.0)) fail("texture settings must be >= 0");
    if (!(rim_depth >= 0.0 && rim_depth <= 1.0) || !(rim_width > 0.0)) fail("need 0 <= rim_depth <= 1 and rim_width > 0");
  }
};

}  // namespace qanet
