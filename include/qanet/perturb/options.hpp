#pragma once
// Every knob of the perturbation pipeline (SPEC §6). The defaults are the SPEC values at the
// nominal severity 0.5; the severity control scales them (see PerturbOptions::severity_*).

#include <array>
#include <cstdint>
#include <string>

#include "qanet/core/error.hpp"
#include "qanet/core/shape.hpp"

namespace qanet {

enum class DeformModel : std::uint8_t {
  automatic = 0,       // smoothed noise in 2D, B-spline in 3D (SPEC §6)
  smoothed_noise = 1,  // per-voxel U(-amplitude, amplitude) smoothed by a Gaussian
  bspline = 2,         // cubic B-spline on a coarse control grid
};

struct PerturbOptions {
  // --- severity: one value s per sample scales the whole pipeline, so that the scores of a
  // training set spread over [0, 1] instead of piling up near 1. s = u^severity_exponent with
  // u ~ U(severity_min, severity_max). With factor f = 2 s: every probability p below becomes
  // min(1, p f), every element side and the deformation amplitude are multiplied by f (s = 0.5
  // is the SPEC pipeline, s = 0 leaves the mask untouched, s = 1 doubles every error).
  bool use_severity = true;
  double severity_min = 0.0;
  double severity_max = 1.0;
  double severity_exponent = 1.2;  // tuned so SEG of SIM+ crops spreads over [0, 1]

  // --- 1. per-instance morphology: identity, erosion, dilation, opening, closing.
  std::array<double, 5> morphology_weights{1.0, 1.0, 1.0, 1.0, 1.0};  // SPEC: equally likely
  // Square (cube) side drawn uniformly in [min, max]; cells of `large_cell_area` voxels and more
  // use the large range (the reference's 5..19 and 10..24 for 2000 px).
  Index small_side_min = 5, small_side_max = 19;
  Index large_side_min = 10, large_side_max = 24;
  Index large_cell_area = 2000;

  // --- 1b. systematic boundary offset (not in SPEC; off by default): with this probability
  // per sample, step 1 moves every boundary by one Euclidean offset d ~ f * U(-max, max) voxels
  // (each cell's offset varied by +-jitter relative) instead of a box element per cell: the
  // error of a segmenter whose threshold is too low or too high (see boundary_shift.hpp).
  double boundary_shift_probability = 0.0;
  double boundary_shift_max = 6.0;
  double boundary_shift_jitter = 0.3;

  // --- 2. non-rigid deformation of the whole map.
  double deform_probability = 0.8;
  DeformModel deform_model = DeformModel::automatic;
  double noise_amplitude = 512.0;  // smoothed noise: U(-a, a) per voxel ...
  double noise_sigma = 38.0;       // ... smoothed by a Gaussian of this sigma (about 2 px std)
  Index bspline_points_min = 5, bspline_points_max = 8;  // control points per axis
  double bspline_inplane = 4.0;   // max displacement in y, x (voxels)
  double bspline_z = 1.0;         // max displacement along z (voxels, 3D)

  // --- 3. topology errors.
  double merge_probability = 0.3;     // per 4/6-adjacent instance pair
  double split_probability = 0.15;    // per instance (not in SPEC; tuned)
  double drop_probability = 0.2;      // per instance (not in SPEC; tuned)
  double spurious_per_cell = 0.1;     // expected spurious blobs per instance (Poisson)
  double spurious_radius = 0.5;       // blob radius as a fraction of the median cell radius
  double spurious_radius_fallback = 6.0;  // voxels, when the mask has no cell

  void validate() const {
    auto prob = [](double p, const char* name) {
      if (!(p >= 0.0 && p <= 1.0))
        throw InvalidArgument(std::string("PerturbOptions: ") + name + " must lie in [0, 1]");
    };
    prob(severity_min, "severity_min");
    prob(severity_max, "severity_max");
    if (severity_min > severity_max) throw InvalidArgument("PerturbOptions: severity_min > severity_max");
    if (!(severity_exponent > 0.0)) throw InvalidArgument("PerturbOptions: severity_exponent must be > 0");
    double wsum = 0.0;
    for (double w : morphology_weights) {
      if (!(w >= 0.0)) throw InvalidArgument("PerturbOptions: morphology_weights must be >= 0");
      wsum += w;
    }
    if (!(wsum > 0.0)) throw InvalidArgument("PerturbOptions: morphology_weights sum to 0");
    if (small_side_min < 1 || small_side_max < small_side_min || large_side_min < 1 ||
        large_side_max < large_side_min)
      throw InvalidArgument("PerturbOptions: element sides need 1 <= min <= max");
    prob(boundary_shift_probability, "boundary_shift_probability");
    prob(boundary_shift_jitter, "boundary_shift_jitter");
    if (!(boundary_shift_max >= 0.0)) throw InvalidArgument("PerturbOptions: boundary_shift_max must be >= 0");
    prob(deform_probability, "deform_probability");
    if (!(noise_amplitude >= 0.0) || !(noise_sigma >= 0.0))
      throw InvalidArgument("PerturbOptions: noise_amplitude and noise_sigma must be >= 0");
    if (bspline_points_min < 4 || bspline_points_max < bspline_points_min)
      throw InvalidArgument("PerturbOptions: B-spline control points need 4 <= min <= max");
    if (!(bspline_inplane >= 0.0) || !(bspline_z >= 0.0))
      throw InvalidArgument("PerturbOptions: B-spline displacements must be >= 0");
    prob(merge_probability, "merge_probability");
    prob(split_probability, "split_probability");
    prob(drop_probability, "drop_probability");
    if (!(spurious_per_cell >= 0.0) || !(spurious_radius > 0.0) || !(spurious_radius_fallback > 0.0))
      throw InvalidArgument("PerturbOptions: spurious blob rate must be >= 0 and radii > 0");
  }
};

}  // namespace qanet
