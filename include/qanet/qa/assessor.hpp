#pragma once
// The user-facing assessor (SPEC §9): load a model once, then assess(image, labels) predicts
// the quality score of the labels without ground truth. The image is rescaled so that objects
// have the diameter the model was trained at, cut into patches of the training size (or taken
// whole), and the patch scores are combined weighted by the number of objects in each patch.
// assess() is const and safe to call from several threads on one Assessor: every call borrows
// its own network (activation buffers) from a pool.

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "qanet/core/error.hpp"
#include "qanet/core/image.hpp"
#include "qanet/metrics/regression.hpp"
#include "qanet/nn/model_file.hpp"
#include "qanet/qa/inputs.hpp"
#include "qanet/qa/tiling.hpp"

namespace qanet {

struct AssessOptions {
  Index patch = -1;     // patch edge in voxels (in-plane); -1: the model's training patch; 0: whole image
  Index stride = -1;    // -1: half the patch
  double scale = 0;     // > 0: resample by this factor instead of measuring objects on the mask
  double diameter = 0;  // > 0: the objects' in-plane diameter in px (known to the user), instead of measuring it
  bool rescale = true;  // false: score at the image's own scale
  Index batch = 16;     // patches per forward pass
  // Patch weights: true counts each object by the fraction of its voxels inside the patch, so a
  // sliver of a cell cut by the patch edge (which the network judges poorly: most of the cell
  // is out of view) weighs little and the cell's full views dominate; false counts every
  // object touching the patch as 1 (SPEC §9 read literally).
  bool fractional_weights = true;
  // Apply the model's linear recalibration (training.calibration, fitted by `qanet calibrate`
  // on frames with known scores) to every patch score; false: the raw network output.
  bool calibrated = true;
};

template <int Dim>
struct PatchScore {
  std::array<Index, Dim> origin{};  // in the caller's image, numpy order
  std::array<Index, Dim> size{};
  double score = 0;
  Index objects = 0;  // objects of the mask visible in the patch
  double weight = 0;  // its weight: `objects`, or their visible fractions (AssessOptions)
};

template <int Dim>
struct Assessment {
  double score = 0;            // weighted mean of the patch scores (PatchScore::weight)
  Index objects = 0;           // objects in the mask
  double scale = 1;            // resampling factor used (in-plane)
  std::vector<PatchScore<Dim>> patches;
};

template <int Dim>
class Assessor {
 public:
  explicit Assessor(std::filesystem::path model) : path_(std::move(model)) {
    // The loaded network is kept unused as the template of every further one: concurrent calls
    // copy it instead of reading the file again (which may have changed or gone since).
    proto_ = std::make_unique<const nn::Network<float, Dim>>(nn::load_model<float, Dim>(path_, &info_));
    pool_.push_back(std::make_unique<nn::Network<float, Dim>>(*proto_));
    const auto& t = info_.training;
    target_diameter_ = t.is_object() && t.contains("target_diameter") && t["target_diameter"].is_number()
                           ? t["target_diameter"].template get<double>()
                           : 0.0;
    for (int a = 0; a < Dim; ++a) patch_[a] = info_.config.patch.at(static_cast<std::size_t>(a));
    if (t.is_object() && t.contains("calibration")) {
      const auto& c = t["calibration"];
      if (!c.is_object() || !c.contains("intercept") || !c.contains("slope") || !c["intercept"].is_number() ||
          !c["slope"].is_number() || !(c["slope"].template get<double>() > 0))
        throw IoError(path_.string() + ": malformed training.calibration (needs a number intercept and a slope > 0)");
      calibration_ = {c["intercept"].template get<double>(), c["slope"].template get<double>()};
    }
    min_extent_ = proto_->min_input_extent();
    convention_ = InputConvention::of(info_);
  }

  const nn::ModelInfo& info() const { return info_; }
  const std::filesystem::path& path() const { return path_; }
  double target_diameter() const { return target_diameter_; }
  // The recalibration applied to patch scores (identity for models without one).
  const LinearFit& calibration() const { return calibration_; }
  const std::array<Index, Dim>& training_patch() const { return patch_; }
  // How this model's inputs are prepared (scale measure, normalisation), from its file.
  const InputConvention& convention() const { return convention_; }
  // The resampling factor assess() uses for (`image`, `labels`) under `opt`.
  template <typename T, typename L>
  double scale_for(const ImageView<const T, Dim>& image, const ImageView<const L, Dim>& labels,
                   const AssessOptions& opt = {}) const {
    if (!opt.rescale) return 1.0;
    if (opt.scale > 0) return opt.scale;
    if (opt.diameter > 0) return scale_factor(opt.diameter, target_diameter_);
    return scale_factor_for(image, labels, target_diameter_, convention_.scale);
  }
  // Whether higher predicted values mean better segmentations (SEG, neMHD) or worse (distances).
  bool higher_is_better() const { return info_.metric == "seg" || info_.metric == "SEG" || info_.metric == "nemhd"; }

  template <typename T, typename L>
  Assessment<Dim> assess(const ImageView<const T, Dim>& image, const ImageView<const L, Dim>& labels,
                         const AssessOptions& opt = {}) const {
    if (image.shape() != labels.shape())
      throw InvalidArgument("assess: image " + image.shape().str() + " and mask " + labels.shape().str() +
                            " differ in shape");
    if (image.empty()) throw InvalidArgument("assess: empty image");
    Assessment<Dim> out;
    out.objects = distinct_objects(labels);
    if (out.objects == 0)
      throw UndefinedValue("assess: the mask holds no object, so there is no segmentation to assess");
    out.scale = scale_for(image, labels, opt);
    const auto factor = scale_factors<Dim>(out.scale);
    Image<float, Dim> img = out.scale == 1.0 ? Image<float, Dim>::from_view(image) : rescale_linear(image, factor);
    if (convention_.normalisation == Normalisation::per_image) img = normalize_percentile(img.cview());
    LabelImage<Dim> lab = out.scale == 1.0 ? to_labels(labels) : to_labels(rescale_nearest(labels, factor).cview());

    // Patch geometry in the rescaled image; images smaller than a patch are padded.
    std::array<Index, Dim> patch{}, stride{};
    for (int a = 0; a < Dim; ++a) {
      patch[a] = opt.patch < 0 ? patch_[a] : (opt.patch == 0 ? img.shape()[a] : opt.patch);
      if (Dim == 3 && a == 0 && opt.patch > 0) patch[a] = std::min(opt.patch, patch_[0]);
      patch[a] = std::max(patch[a], min_extent_);
      stride[a] = opt.stride > 0 ? opt.stride : std::max<Index>(1, patch[a] / 2);
      // The z patch of a 3D model is capped at its training depth: a larger in-plane stride
      // would leave planes that no patch covers.
      if (Dim == 3 && a == 0) stride[a] = std::min(stride[a], patch[a]);
    }
    auto tiles = make_tiles<Dim>(img.shape(), patch, stride);

    Lease lease{this, borrow()};
    nn::Network<float, Dim>* net = lease.net.get();
    struct Job {
      std::array<Index, Dim> origin;
      Index objects;
      double weight;
    };
    std::vector<Job> jobs;
    nn::Tensor<float> xi, xs;
    const Index batch = std::max<Index>(1, opt.batch);
    std::array<Index, Dim> sp = patch;
    Shape<Dim> pshape(sp);
    auto flush = [&](std::vector<Job>& js) {
      if (js.empty()) return;
      const Index n = static_cast<Index>(js.size());
      xi.reshape(nn::activation_shape<Dim>(n, 1, sp));
      xs.reshape(xi.shape());
      for (Index b = 0; b < n; ++b) {
        Image<float, Dim> pi(pshape);
        LabelImage<Dim> pl(pshape);
        crop_padded(img, lab, js[static_cast<std::size_t>(b)].origin, pi, pl);
        fill_network_inputs(xi, xs, b, pi.cview(), pl.cview(), info_.config.encoding, convention_.normalisation);
      }
      const auto& y = net->forward(xi, xs, nn::Mode::infer);
      for (Index b = 0; b < n; ++b) {
        PatchScore<Dim> ps;
        for (int a = 0; a < Dim; ++a) {
          const double f = factor[a];
          ps.origin[a] = std::min<Index>(image.shape()[a] - 1, static_cast<Index>(std::floor(js[b].origin[a] / f)));
          ps.size[a] = std::min<Index>(image.shape()[a] - ps.origin[a], static_cast<Index>(std::ceil(patch[a] / f)));
        }
        const double raw = static_cast<double>(y[b]);
        ps.score = clamp_score(opt.calibrated ? calibration_(raw) : raw);
        ps.objects = js[static_cast<std::size_t>(b)].objects;
        ps.weight = js[static_cast<std::size_t>(b)].weight;
        out.patches.push_back(ps);
      }
      js.clear();
    };
    std::unordered_map<Label, Index> volume;
    for (Label v : lab)
      if (v) ++volume[v];
    for (const auto& t : tiles) {
      const auto inside = voxels_in_box(lab, t.origin, patch);
      if (inside.empty()) continue;  // nothing to assess there; weight 0
      double w = 0;
      for (const auto& [label, n] : inside)
        w += opt.fractional_weights ? static_cast<double>(n) / static_cast<double>(volume.at(label)) : 1.0;
      jobs.push_back({t.origin, static_cast<Index>(inside.size()), w});
      if (static_cast<Index>(jobs.size()) == batch) flush(jobs);
    }
    flush(jobs);
    double wsum = 0, s = 0;
    for (const auto& p : out.patches) wsum += p.weight, s += p.score * p.weight;
    if (!(wsum > 0))  // objects lost by shrinking (e.g. a tiny --scale): nothing was assessed
      throw UndefinedValue("assess: no object of the mask is left after rescaling by " + std::to_string(out.scale));
    out.score = s / wsum;
    return out;
  }

  template <typename T, typename L>
  Assessment<Dim> assess(const Image<T, Dim>& image, const Image<L, Dim>& labels, const AssessOptions& opt = {}) const {
    return assess(image.cview(), labels.cview(), opt);
  }

  // A score as the model's metric allows: [0, 1] for SEG and NEMHD, >= 0 for distances.
  double clamp_score(double v) const {
    if (!std::isfinite(v)) throw Error("assess: the model produced a non-finite score (corrupt model?)");
    if (info_.metric == "seg" || info_.metric == "SEG" || info_.metric == "nemhd") return std::clamp(v, 0.0, 1.0);
    return std::max(v, 0.0);
  }

 private:
  template <typename L>
  static Index distinct_objects(const ImageView<const L, Dim>& labels) {
    std::unordered_set<std::int64_t> seen;
    for (const L& v : labels) {
      const double d = static_cast<double>(v);
      if (!(d >= 0) || d != std::floor(d))
        throw InvalidArgument("assess: the mask must hold non-negative integer labels");
      if (v != 0) seen.insert(static_cast<std::int64_t>(v));
    }
    return static_cast<Index>(seen.size());
  }

  // Voxels of every object inside the box at `o`.
  static std::unordered_map<Label, Index> voxels_in_box(const LabelImage<Dim>& lab, const std::array<Index, Dim>& o,
                                                        const std::array<Index, Dim>& size) {
    std::unordered_map<Label, Index> seen;
    const Shape<Dim>& s = lab.shape();
    std::array<Index, Dim> end{};
    for (int a = 0; a < Dim; ++a) end[a] = std::min(s[a], o[a] + size[a]);
    const Index nx = end[Dim - 1] - o[Dim - 1];
    std::array<Index, Dim> p = o;
    while (true) {
      const Label* row = lab.data() + s.offset(p);
      for (Index x = 0; x < nx; ++x)
        if (row[x]) ++seen[row[x]];
      int a = Dim - 2;
      while (a >= 0 && ++p[a] == end[a]) p[a] = o[a], --a;
      if (a < 0) break;
    }
    return seen;
  }

  // Copies the patch at `o`; outside the image both the image and the labels are mirrored, so
  // the padding shows cells together with their outlines (a thin volume padded in z, or a small
  // image, does not look like cells that the mask missed).
  static void crop_padded(const Image<float, Dim>& img, const LabelImage<Dim>& lab, const std::array<Index, Dim>& o,
                          Image<float, Dim>& pi, LabelImage<Dim>& pl) {
    const Shape<Dim>& s = img.shape();
    for (Index i = 0; i < pi.size(); ++i) {
      auto q = pi.shape().coords(i);
      for (int a = 0; a < Dim; ++a) q[a] = reflect_index(q[a] + o[a], s[a]);
      pi[i] = img.at(q);
      pl[i] = lab.at(q);
    }
  }

  // A network borrowed from the pool for one call, returned even when the call throws.
  struct Lease {
    const Assessor* owner;
    std::unique_ptr<nn::Network<float, Dim>> net;
    ~Lease() {
      if (net) owner->give_back(std::move(net));
    }
  };

  std::unique_ptr<nn::Network<float, Dim>> borrow() const {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!pool_.empty()) {
        auto n = std::move(pool_.back());
        pool_.pop_back();
        return n;
      }
    }
    return std::make_unique<nn::Network<float, Dim>>(*proto_);
  }
  void give_back(std::unique_ptr<nn::Network<float, Dim>> n) const {
    std::lock_guard<std::mutex> lock(mutex_);
    pool_.push_back(std::move(n));
  }

  std::filesystem::path path_;
  nn::ModelInfo info_;
  double target_diameter_ = 0;
  LinearFit calibration_;
  InputConvention convention_;
  std::array<Index, Dim> patch_{};
  Index min_extent_ = 1;
  std::unique_ptr<const nn::Network<float, Dim>> proto_;
  mutable std::mutex mutex_;
  mutable std::vector<std::unique_ptr<nn::Network<float, Dim>>> pool_;
};

}  // namespace qanet
