#pragma once
// The training stream of QANet (SPEC §5-6): every sample is (image patch, perturbed mask,
// exact score), drawn on the fly from real annotated frames and/or a widely randomised
// simulator, all at one object scale (the model's target diameter), so that the network learns
// segmentation quality rather than the cell size of one dataset. Samples are pure functions of
// (seed, index): any thread count and any resume point give the same data.

#include <cmath>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "qanet/core/random.hpp"
#include "qanet/metrics/evaluate.hpp"
#include "qanet/perturb/samples.hpp"
#include "qanet/qa/datasets.hpp"
#include "qanet/qa/inputs.hpp"

namespace qanet {

// The value of a metric (seg, mhd95, asd, nemhd, hd, mhd) in a metrics summary.
inline std::optional<double> metric_value(const MetricSummary& m, const std::string& metric) {
  if (metric == "seg") return m.seg;
  if (metric == "mhd95") return m.mhd95;
  if (metric == "asd") return m.asd;
  if (metric == "nemhd") return m.nemhd;
  if (metric == "hd") return m.hd;
  if (metric == "mhd") return m.mhd;
  throw InvalidArgument("unknown metric '" + metric + "' (seg, mhd95, asd, nemhd, hd or mhd)");
}

// The SIM+ median nucleus diameter (2 x 24.5 px), the scale the perturbation defaults suit.
inline constexpr double reference_diameter = 49.0;

// Perturbation sizes (elements, deformation, areas) scaled to cells `s` times the SIM+ size.
inline PerturbOptions scale_perturbation(PerturbOptions p, double s) {
  auto side = [&](Index v) { return std::max<Index>(1, static_cast<Index>(std::lround(static_cast<double>(v) * s))); };
  p.small_side_min = side(p.small_side_min), p.small_side_max = std::max(p.small_side_min, side(p.small_side_max));
  p.large_side_min = side(p.large_side_min), p.large_side_max = std::max(p.large_side_min, side(p.large_side_max));
  p.large_cell_area = std::max<Index>(1, static_cast<Index>(std::lround(static_cast<double>(p.large_cell_area) * s * s)));
  p.noise_amplitude *= s;
  p.noise_sigma = std::max(1.0, p.noise_sigma * s);
  p.bspline_inplane *= s;
  p.boundary_shift_max *= s;
  return p;
}

// Simulator settings drawn per sample: sizes, shapes, densities, SNR, blur, texture and
// background vary widely around cells of `diameter` px.
template <int Dim>
SimulationOptions<Dim> randomized_simulation(Rng& rng, const Shape<Dim>& patch, double diameter) {
  SimulationOptions<Dim> s;
  s.shape = patch;
  s.radius_median = 0.5 * diameter * std::exp(rng.uniform(-0.2, 0.2));
  s.radius_log_sd = rng.uniform(0.08, 0.3);
  s.elongation_max = rng.uniform(1.1, 2.0);
  s.irregularity = rng.uniform(0.02, 0.15);
  // A quarter of the patches sparse (one or two cells in much background, as in SIM+ 02 or a
  // low-density culture), the rest from sparse to crowded.
  s.coverage = rng.bernoulli(0.25) ? rng.uniform(0.02, 0.08) : rng.uniform(0.08, 0.45);
  s.touching_fraction = rng.uniform(0.0, 0.5);
  s.min_gap = rng.uniform(1.0, 5.0);
  s.mitotic_fraction = rng.uniform(0.0, 0.12);
  s.background = rng.uniform(20.0, 600.0);
  s.camera_offset = s.background * rng.uniform(0.3, 0.95);
  s.gradient = rng.uniform(0.0, 0.25);
  s.snr = std::exp(rng.uniform(std::log(1.5), std::log(30.0)));
  s.brightness_log_sd = rng.uniform(0.05, 0.45);
  s.texture = rng.uniform(0.0, 1.3);
  s.texture_scale = rng.uniform(2.0, 8.0) * diameter / reference_diameter * 2.0;
  s.spots_max = static_cast<double>(rng.uniform_int(0, 6));
  s.psf_sigma = rng.uniform(0.6, 3.0) * diameter / reference_diameter;
  s.gain = rng.uniform(0.1, 1.0);
  s.read_noise = rng.uniform(1.0, 8.0);
  s.bit_depth = rng.bernoulli(0.2) ? 8 : 16;
  if (s.bit_depth == 8) {  // keep an 8-bit camera out of saturation
    s.background = rng.uniform(5.0, 60.0);
    s.camera_offset = s.background * rng.uniform(0.3, 0.9);
    s.gain = rng.uniform(0.02, 0.15);
  }
  // Where the annotated outline sits on the intensity edge: flat cells (outline at the foot of
  // the blurred edge) or a dim rim of varying depth (outline further down, as in SIM+ 02).
  // Outline levels (outline median over cell median, above background) then span about
  // 0.12-0.6; SIM+ 01 measures 0.27-0.30, SIM+ 02 0.14-0.17, flat simulated cells 0.59.
  if (rng.bernoulli(0.7)) {
    s.rim_depth = rng.uniform(0.5, 1.0);
    s.rim_width = rng.uniform(2.0, 14.0) * diameter / reference_diameter;
  }
  return s;
}

// The perturbation of training samples: SPEC §6 plus, for 30% of the masks, one systematic
// boundary offset for all cells (the threshold error of real segmenters, boundary_shift.hpp).
inline PerturbOptions training_perturbation() {
  PerturbOptions p;
  p.boundary_shift_probability = 0.3;
  return p;
}

template <int Dim>
struct TrainingDataOptions {
  Shape<Dim> patch;
  std::string metric = "seg";
  double target_diameter = 0;       // px; 0 = no scale normalisation
  double simulate_fraction = 0.5;   // share of simulated samples when real frames exist
  bool simulate = true;             // false: real frames only
  PerturbOptions perturb = training_perturbation();  // at the SIM+ scale; scaled to target_diameter
  // Share of masks made by a segmenter-like error (perturb/segmenter_errors.hpp) instead of the
  // perturbation pipeline.
  double segmenter_error_probability = 0.5;
  double clean_probability = 0.0;  // share of masks that are the ground truth (SampleOptions)
  double scale_jitter = 1.0;       // zoom range of real crops (SampleOptions)
  double gamma_jitter = 1.0;       // contrast curves of real crops (SampleOptions)
  // Judge every mask at the scale scoring would measure on it (SampleOptions::judged_diameter,
  // with the convention's scale measure) instead of at the scale of its ground truth.
  bool judged_scale = false;
  // With a judged scale and the SEG metric: the target is the SEG of whole objects
  // (SampleOptions::whole_object_seg), so that patch scores average to the frame's SEG.
  bool whole_object_seg = false;
  // Also give every sample its ground-truth objects in view (SampleOptions::count_objects), the
  // target of the second output of models with nn::ModelConfig::outputs = 2. Needs judged_scale.
  bool count_objects = false;
  // With count_objects: the share of masks with false positives judged in a view centred on one
  // (SampleOptions::false_positive_views); a view without a GT object has no score target.
  double false_positive_views = 0.0;
  InputConvention convention;  // scale measure and normalisation (stored in the model file)
};

// Network-ready samples: (image, mask) patches, exact target.
template <int Dim>
class TrainingData {
 public:
  TrainingData(std::vector<AnnotatedFrame<Dim>> frames, TrainingDataOptions<Dim> opt) : opt_(std::move(opt)) {
    // "iou": per-object samples (SampleOptions::object_target), a model that judges one object.
    const bool per_object = opt_.metric == per_object_metric;
    if (!per_object) metric_value(MetricSummary{}, opt_.metric);  // validates the name
    if (per_object && !(opt_.judged_scale && opt_.target_diameter > 0))
      throw InvalidArgument("training data: per-object IoU targets need a judged scale and a target diameter");
    const double s = opt_.target_diameter > 0 ? opt_.target_diameter / reference_diameter : 1.0;
    so_.patch = opt_.patch;
    so_.boundary_metrics = opt_.metric != "seg";
    so_.perturb = scale_perturbation(opt_.perturb, s);
    so_.segmenter_error_probability = opt_.segmenter_error_probability;
    so_.clean_probability = opt_.clean_probability;
    so_.scale_jitter = opt_.scale_jitter;
    so_.gamma_jitter = opt_.gamma_jitter;
    so_.whole_object_seg = opt_.whole_object_seg && opt_.metric == "seg";
    so_.count_objects = opt_.count_objects;
    so_.false_positive_views = opt_.false_positive_views;
    so_.object_target = per_object;
    if (opt_.count_objects && !(opt_.judged_scale && opt_.target_diameter > 0))
      throw InvalidArgument("training data: counting the objects in view needs a judged scale and a target diameter");
    if (opt_.judged_scale && opt_.target_diameter > 0)
      so_.judged_diameter = [m = opt_.convention.scale](const ImageView<const float, Dim>& image, const LabelView<Dim>& labels) {
        return measured_diameter(image, labels, m);
      };
    std::vector<std::pair<Image<float, Dim>, LabelImage<Dim>>> pairs;
    for (auto& f : frames) {
      // The scale is measured on the ground truth as scoring measures it on a mask.
      const double factor = scale_factor_for(f.image.cview(), f.labels.cview(), opt_.target_diameter, opt_.convention.scale);
      auto img = factor == 1.0 ? std::move(f.image) : rescale_linear(f.image.cview(), scale_factors<Dim>(factor));
      if (opt_.convention.normalisation == Normalisation::per_image) img = normalize_percentile(img.cview());
      auto lab = factor == 1.0 ? std::move(f.labels) : rescale_nearest(f.labels.cview(), scale_factors<Dim>(factor));
      bool fits = true;
      for (int a = 0; a < Dim; ++a) fits = fits && img.shape()[a] >= opt_.patch[a];
      if (!fits) {
        skipped_.push_back(f.labels_path.string() + " (" + img.shape().str() + " after rescaling, patch " +
                           opt_.patch.str() + ")");
        continue;
      }
      pairs.emplace_back(std::move(img), std::move(lab));
    }
    if (!pairs.empty()) real_ = std::make_unique<SampleGenerator<Dim>>(pairs, so_);
    if (!real_ && !opt_.simulate) throw InvalidArgument("training data: no usable real frame and simulation off");
    real_frames_ = pairs.size();
  }

  // Frames too small for the patch after rescaling (skipped, named for the user).
  const std::vector<std::string>& skipped() const { return skipped_; }
  std::size_t real_frames() const { return real_frames_; }
  const TrainingDataOptions<Dim>& options() const { return opt_; }

  // Sample `index` of stream `seed` with a defined target (indices whose metric is undefined,
  // e.g. a distance with no matched pair, are replaced by draws from a side stream). With
  // count_objects, `objects` (when given) receives the GT objects in view; a view of false
  // positives alone (false_positive_views) has no score, `target` is then NaN (the trainer
  // leaves that output untrained for the sample).
  TrainingSample<Dim> sample(std::uint64_t seed, std::uint64_t index, double* target, double* objects = nullptr) const {
    for (std::uint64_t attempt = 0;; ++attempt) {
      const std::uint64_t i = attempt == 0 ? index : mix64(index ^ (attempt << 48));
      TrainingSample<Dim> s = raw_sample(seed, i);
      if (s.false_positive_view) {
        if (!objects) continue;  // only the count would be a target, and it is not asked for
        *target = std::numeric_limits<double>::quiet_NaN();
        *objects = 0;
        return s;
      }
      const auto v = s.object_iou         ? s.object_iou
                     : s.whole_object_seg ? s.whole_object_seg
                                          : metric_value(s.scores, opt_.metric);
      if (v && std::isfinite(*v)) {
        *target = *v;
        if (objects) {
          if (!s.objects_in_view) throw InvalidArgument("training data: objects in view asked for but not counted");
          *objects = *s.objects_in_view;
        }
        return s;
      }
      if (attempt > 1000) throw Error("training data: no sample with a defined " + opt_.metric);
    }
  }

 private:
  TrainingSample<Dim> raw_sample(std::uint64_t seed, std::uint64_t index) const {
    Rng rng = Rng::derive(seed, {0x7a11, index});
    const bool sim = opt_.simulate && (!real_ || rng.uniform() < opt_.simulate_fraction);
    if (!sim) return real_->sample(seed, index);
    const double d = opt_.target_diameter > 0 ? opt_.target_diameter : reference_diameter;
    SampleGenerator<Dim> g(randomized_simulation<Dim>(rng, opt_.patch, d), so_);
    auto s = g.sample(seed ^ 0x51u, index);
    // A simulated image is the patch itself: normalising it whole is normalising per image.
    if (opt_.convention.normalisation == Normalisation::per_image) s.image = normalize_percentile(s.image.cview());
    return s;
  }

  TrainingDataOptions<Dim> opt_;
  SampleOptions<Dim> so_;
  std::unique_ptr<SampleGenerator<Dim>> real_;
  std::size_t real_frames_ = 0;
  std::vector<std::string> skipped_;
};

}  // namespace qanet
