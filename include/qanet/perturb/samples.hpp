#pragma once
// Training samples on the fly (SPEC §5): (image patch, perturbed mask, exact scores), drawn
// from real (image, ground truth) pairs or from the simulator. Each sample is a pure function
// of (seed, index): a patch that contains cells, random flips, a fresh perturbation, and the
// metrics of the perturbed mask against the ground truth, so a training loop can draw them in
// parallel in any order and get the same data.

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "qanet/core/error.hpp"
#include "qanet/core/image.hpp"
#include "qanet/core/parallel.hpp"
#include "qanet/core/random.hpp"
#include "qanet/metrics/evaluate.hpp"
#include "qanet/perturb/detail/instances.hpp"
#include "qanet/perturb/options.hpp"
#include "qanet/perturb/pipeline.hpp"
#include "qanet/perturb/segmenter_errors.hpp"
#include "qanet/qa/rescale.hpp"
#include "qanet/simulate/options.hpp"
#include "qanet/simulate/simulator.hpp"

namespace qanet {

template <int Dim>
struct TrainingSample {
  Image<float, Dim> image;  // raw intensities (normalisation, SPEC §3, is the network's step)
  LabelImage<Dim> gt;       // the ground-truth patch
  LabelImage<Dim> mask;     // its perturbation, labels 1..n
  FrameMetrics scores;      // exact metrics of `mask` against `gt` (SEG always defined: the
                            // patch holds at least one GT object)
  PerturbRecord record;
  std::uint64_t index = 0;
};

template <int Dim>
struct SampleOptions {
  Shape<Dim> patch = default_patch();
  bool flips = true;                 // random flip of every axis
  bool boundary_metrics = true;      // false: SEG and counts only (cheaper)
  double tau = 10.0;                 // neMHD scale
  Index min_objects = 1;             // GT objects the patch must touch
  int max_tries = 50;                // patch positions tried before giving up on a source
  PerturbOptions perturb;
  // With this probability a mask comes from a segmenter-like error (a mode and a strength drawn
  // uniformly) instead of the perturbation pipeline.
  double segmenter_error_probability = 0.0;
  // With this probability the mask is the ground truth itself (SEG 1): real segmenters get easy
  // images right, and a model that never saw a perfect mask cannot say so.
  double clean_probability = 0.0;
  // Crops of real frames are zoomed by a factor drawn log-uniformly in [1/j, j] (1: off), so that
  // the network judges a mask at any scale near the target instead of trusting the measured one.
  double scale_jitter = 1.0;

  static Shape<Dim> default_patch() {
    if constexpr (Dim == 2) return Shape<2>(256, 256);
    else return Shape<3>(32, 128, 128);
  }
};

template <int Dim>
class SampleGenerator {
 public:
  // From real data: images and their complete ground truth (same shapes, each at least the
  // patch size). The pairs are copied (as float / uint32).
  template <typename T>
  SampleGenerator(const std::vector<std::pair<Image<T, Dim>, LabelImage<Dim>>>& pairs, SampleOptions<Dim> opt)
      : opt_(std::move(opt)) {
    check_options();
    if (pairs.empty()) throw InvalidArgument("SampleGenerator: no (image, ground truth) pair given");
    for (std::size_t k = 0; k < pairs.size(); ++k) {
      const auto& [img, gt] = pairs[k];
      if (img.shape() != gt.shape())
        throw InvalidArgument("SampleGenerator: pair " + std::to_string(k) + ": image " + img.shape().str() +
                              " and ground truth " + gt.shape().str() + " differ in shape");
      for (int a = 0; a < Dim; ++a)
        if (img.shape()[a] < opt_.patch[a])
          throw InvalidArgument("SampleGenerator: pair " + std::to_string(k) + " (" + img.shape().str() +
                                ") is smaller than the patch " + opt_.patch.str());
      images_.push_back(Image<float, Dim>::from_view(img.cview()));
      labels_.push_back(gt);
      instances_.push_back(detail::find_instances(gt.cview()));  // once: frames can be large
    }
  }

  // From the simulator: every sample is a fresh simulated image of the patch size.
  SampleGenerator(const SimulationOptions<Dim>& sim, SampleOptions<Dim> opt) : opt_(std::move(opt)), sim_(sim) {
    check_options();
    sim_.shape = opt_.patch;
    sim_.validate();
    simulated_ = true;
  }

  const SampleOptions<Dim>& options() const { return opt_; }
  bool simulated() const { return simulated_; }

  // Sample `index` of the stream `seed`. Thread-safe (const); throws Error when no source
  // yields a patch with cells in max_tries attempts.
  TrainingSample<Dim> sample(std::uint64_t seed, std::uint64_t index) const {
    Rng rng = Rng::derive(seed, {0x5a3e, index});
    TrainingSample<Dim> s;
    s.index = index;
    for (int attempt = 0; attempt < opt_.max_tries; ++attempt) {
      if (simulated_) {
        auto sim = simulate_image(sim_, rng(), 0);
        if (count_cells(sim.labels) < opt_.min_objects) continue;
        s.image = Image<float, Dim>::from_view(sim.image.cview());
        s.gt = std::move(sim.labels);
      } else {
        const std::size_t k = static_cast<std::size_t>(rng.uniform_int(0, static_cast<Index>(images_.size()) - 1));
        if (!crop(k, rng, s)) continue;
      }
      if (opt_.flips)
        for (int a = 0; a < Dim; ++a)
          if (rng.bernoulli(0.5)) {
            flip(s.image, a);
            flip(s.gt, a);
          }
      if (opt_.clean_probability > 0 && rng.bernoulli(opt_.clean_probability)) {
        s.mask = s.gt;
        s.record = PerturbRecord{};
      } else if (opt_.segmenter_error_probability > 0 && rng.bernoulli(opt_.segmenter_error_probability)) {
        const auto mode = static_cast<SegmenterError>(rng.uniform_int(0, segmenter_error_count - 1));
        const double strength = rng.uniform();
        s.mask = segmenter_error(s.image.cview(), s.gt.cview(), mode, strength, rng());
        s.record = PerturbRecord{};
        s.record.severity = strength;
        s.record.segmenter_error = static_cast<int>(mode);
      } else {
        auto res = perturb_labels(s.gt.cview(), opt_.perturb, rng());
        s.mask = std::move(res.labels);
        s.record = res.record;
      }
      MetricOptions mo;
      mo.boundary = opt_.boundary_metrics;
      mo.tau = opt_.tau;
      s.scores = evaluate_frame(s.gt.cview(), s.mask.cview(), mo);
      return s;
    }
    throw Error("SampleGenerator: no patch of " + opt_.patch.str() + " with " + std::to_string(opt_.min_objects) +
                " object(s) found in " + std::to_string(opt_.max_tries) + " tries");
  }

  // Samples first .. first+count-1 of stream `seed`, computed in parallel.
  std::vector<TrainingSample<Dim>> batch(std::uint64_t seed, std::uint64_t first, Index count) const {
    std::vector<TrainingSample<Dim>> out(static_cast<std::size_t>(std::max<Index>(count, 0)));
    parallel_for_each_index(count, 1, [&](Index i) { out[i] = sample(seed, first + static_cast<std::uint64_t>(i)); });
    return out;
  }

 private:
  void check_options() const {
    for (int a = 0; a < Dim; ++a)
      if (opt_.patch[a] < 1) throw InvalidArgument("SampleGenerator: patch extents must be >= 1");
    if (opt_.max_tries < 1) throw InvalidArgument("SampleGenerator: max_tries must be >= 1");
    if (!(opt_.clean_probability >= 0.0 && opt_.clean_probability <= 1.0))
      throw InvalidArgument("SampleGenerator: clean_probability must lie in [0, 1]");
    if (!(opt_.scale_jitter >= 1.0 && opt_.scale_jitter <= 4.0))
      throw InvalidArgument("SampleGenerator: scale_jitter must lie in [1, 4]");
    opt_.perturb.validate();
  }

  static Index count_cells(const LabelImage<Dim>& l) {
    return static_cast<Index>(detail::find_instances(l.cview()).size());
  }

  // A patch of source k around a random GT voxel (so it holds a cell), placed at random; with
  // scale jitter, a window of patch / zoom voxels resampled to the patch.
  bool crop(std::size_t k, Rng& rng, TrainingSample<Dim>& s) const {
    const LabelImage<Dim>& gt = labels_[k];
    const Shape<Dim>& full = gt.shape();
    const auto& inst = instances_[k];
    if (inst.empty()) return false;
    const auto& cell = inst[static_cast<std::size_t>(rng.uniform_int(0, static_cast<Index>(inst.size()) - 1))];
    double zoom = 1.0;
    if (opt_.scale_jitter > 1.0) {
      const double l = std::log(opt_.scale_jitter);
      zoom = std::exp(rng.uniform(-l, l));
      for (int a = 0; a < Dim; ++a)  // a window never exceeds the frame (no stretching)
        zoom = std::max(zoom, static_cast<double>(opt_.patch[a]) / static_cast<double>(full[a]));
    }
    Shape<Dim> win;
    for (int a = 0; a < Dim; ++a)
      win[a] = zoom == 1.0 ? opt_.patch[a]
                           : std::clamp<Index>(static_cast<Index>(std::llround(static_cast<double>(opt_.patch[a]) / zoom)),
                                               1, full[a]);
    std::array<Index, Dim> o{};
    for (int a = 0; a < Dim; ++a) {
      const Index c = static_cast<Index>(cell.centroid[a]);
      const Index lo = std::max<Index>(0, c - win[a] + 1), hi = std::min<Index>(full[a] - win[a], c);
      o[a] = rng.uniform_int(std::min(lo, hi), std::max(lo, hi));
    }
    s.image = Image<float, Dim>(win, 0.0f, images_[k].spacing());
    s.gt = LabelImage<Dim>(win, 0, gt.spacing());
    const Index nx = win[Dim - 1];
    const Index rows = win.size() / nx;
    for (Index r = 0; r < rows; ++r) {
      std::array<Index, Dim> p = win.coords(r * nx);
      for (int a = 0; a < Dim; ++a) p[a] += o[a];
      const Index src = full.offset(p);
      std::copy_n(images_[k].data() + src, nx, s.image.data() + r * nx);
      std::copy_n(gt.data() + src, nx, s.gt.data() + r * nx);
    }
    if (win != opt_.patch) {
      std::array<double, Dim> f;
      for (int a = 0; a < Dim; ++a) f[a] = static_cast<double>(opt_.patch[a]) / static_cast<double>(win[a]);
      s.image = rescale_linear(s.image.cview(), f);
      s.gt = rescale_nearest(s.gt.cview(), f);
    }
    s.gt = relabel_compact(s.gt);
    return count_cells(s.gt) >= opt_.min_objects;
  }

  static LabelImage<Dim> relabel_compact(LabelImage<Dim> l) {
    detail::relabel_in_place(l, detail::find_instances(l.cview()));
    return l;
  }

  template <typename T>
  static void flip(Image<T, Dim>& img, int axis) {
    detail::for_each_line(img.shape(), axis, [&](Index start, Index stride, Index n) {
      for (Index i = 0, j = n - 1; i < j; ++i, --j) std::swap(img[start + i * stride], img[start + j * stride]);
    });
  }

  SampleOptions<Dim> opt_;
  SimulationOptions<Dim> sim_{};
  bool simulated_ = false;
  std::vector<Image<float, Dim>> images_;
  std::vector<LabelImage<Dim>> labels_;
  std::vector<std::vector<detail::Instance<Dim>>> instances_;
};

}  // namespace qanet
