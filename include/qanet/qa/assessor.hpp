#pragma once
// The user-facing assessor (SPEC §9): load a model once, then assess(image, labels) predicts
// the quality score of the labels without ground truth. The image is rescaled so that objects
// have the diameter the model was trained at, cut into patches of the training size (or taken
// whole), and the patch scores are combined weighted by the number of objects in each patch
// (the mask's, or for models with an object-count output the ground-truth objects it predicts).
// assess() is const and safe to call from several threads on one Assessor: every call borrows
// its own network (activation buffers) from a pool.

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "qanet/core/error.hpp"
#include "qanet/core/image.hpp"
#include "qanet/metrics/evaluate.hpp"
#include "qanet/metrics/match.hpp"
#include "qanet/metrics/regression.hpp"
#include "qanet/nn/model_file.hpp"
#include "qanet/qa/inputs.hpp"
#include "qanet/perturb/detail/instances.hpp"
#include "qanet/qa/interval.hpp"
#include "qanet/qa/objects.hpp"
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
  // Run the convolutions once over bands of the image and cut every patch's features out of
  // them (exact for models with valid convolutions, every 2D model; see Network::feature_maps)
  // instead of once per patch, where patches overlap: about 3x less work at the default stride.
  // false: patch by patch (the reference; models with padded convolutions always go so).
  bool shared_trunk = true;
  // The most input voxels one pass of the shared trunk takes; larger images go in bands of
  // patch rows, so memory stays bounded (about 250 bytes per voxel).
  Index trunk_voxels = Index{1} << 19;
  // Winograd F(2x2, 3x3) for the 3x3 convolutions of 2D models where it is faster (wide
  // layers; nn/detail/winograd.hpp): scores move by float rounding only. false: im2col + GEMM.
  bool winograd = true;
  // Models of a distance (MHD95, ASD) predict in px of the rescaled image; their scores are
  // given back in px of the caller's image times this in-plane pixel size (e.g. in um).
  double pixel_size = 1;
};

template <int Dim>
struct PatchScore {
  std::array<Index, Dim> origin{};  // in the caller's image, numpy order
  std::array<Index, Dim> size{};
  double score = 0;
  Index objects = 0;  // objects of the mask visible in the patch
  double weight = 0;  // its weight: `objects`, or their visible fractions (AssessOptions), or for
                      // models with an object-count output the predicted GT objects in view
};

template <int Dim>
struct Assessment {
  double score = 0;            // weighted mean of the patch scores (PatchScore::weight)
  Index objects = 0;           // objects in the mask
  // The frame's weight in a sequence score: `objects`, or for models with an object-count
  // output the ground-truth objects the model finds in the patches that show the mask (a
  // mask that merges touching cells holds fewer objects than the truth, one with specks more).
  double weight_objects = 0;
  double scale = 1;            // resampling factor used (in-plane)
  Index trunk_passes = 0;      // bands run through the shared trunk (0: patch by patch)
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
      if (c.contains("residuals")) {
        const auto& r = c["residuals"];
        if (!r.is_array()) throw IoError(path_.string() + ": malformed training.calibration.residuals (not a list)");
        for (const auto& v : r) {
          if (!v.is_number() || !std::isfinite(v.template get<double>()) || v.template get<double>() < 0)
            throw IoError(path_.string() + ": malformed training.calibration.residuals (needs finite numbers >= 0)");
          residuals_.sorted.push_back(v.template get<double>());
        }
        std::sort(residuals_.sorted.begin(), residuals_.sorted.end());
      }
    }
    min_extent_ = proto_->min_input_extent();
    convention_ = InputConvention::of(info_);
  }

  const nn::ModelInfo& info() const { return info_; }
  const std::filesystem::path& path() const { return path_; }
  double target_diameter() const { return target_diameter_; }
  // The recalibration applied to patch scores (identity for models without one).
  const LinearFit& calibration() const { return calibration_; }
  // Whether the model file holds the calibration residuals that intervals need (qa/interval.hpp).
  bool has_intervals() const { return !residuals_.sorted.empty(); }
  const ConformalResiduals& residuals() const { return residuals_; }
  // The conformal interval around a calibrated frame or sequence score at `coverage` (e.g. 0.9),
  // within the metric's range; nullopt for models without residuals. Too few residuals for the
  // coverage give the whole range.
  // The residuals of a distance model are in px: give the pixel size its scores are in.
  std::optional<ScoreInterval> interval(double score, double coverage, double pixel_size = 1) const {
    if (!has_intervals()) return std::nullopt;
    const double q = residuals_.half_width(coverage) * (higher_is_better() ? 1.0 : pixel_size);
    const bool unit = higher_is_better();
    if (!std::isfinite(q)) return ScoreInterval{0.0, unit ? 1.0 : std::numeric_limits<double>::infinity()};
    return ScoreInterval{clamp_score(score - q), clamp_score(score + q)};
  }
  const std::array<Index, Dim>& training_patch() const { return patch_; }
  // How this model's inputs are prepared (scale measure, normalisation), from its file.
  const InputConvention& convention() const { return convention_; }
  // The tau (px of the caller's image) of a neMHD model's scores for an image resampled by
  // `scale`: the model learned exp(-MHD / 10 px) at its own object scale (cells of
  // target_diameter() px), which is exp(-MHD / (10 / scale) px) in the image's px.
  static double nemhd_tau(double scale) { return MetricOptions{}.tau / scale; }
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
  bool higher_is_better() const { return unit_interval_metric(info_.metric); }
  // Whether the model judges one object at a time (trained with --metric iou, assess_objects).
  bool per_object() const { return info_.metric == per_object_metric; }

  template <typename T, typename L>
  Assessment<Dim> assess(const ImageView<const T, Dim>& image, const ImageView<const L, Dim>& labels,
                         const AssessOptions& opt = {}) const {
    Prepared prep = prepare(image, labels, opt);
    Assessment<Dim> out;
    out.objects = prep.objects;
    out.scale = prep.scale;
    const auto& factor = prep.factor;
    const Image<float, Dim>& img = prep.image;
    const LabelImage<Dim>& lab = prep.labels;

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
    // Patch origins on multiples of 2^blocks (the last one rounded up, past the image edge), so
    // that with valid convolutions every patch is a window of the shared trunk's feature maps.
    const Index align = info_.config.padding == 0 ? Index{1} << nn::Network<float, Dim>::blocks_per_stream : 1;
    const auto tiles = make_tiles<Dim>(img.shape(), patch, stride, align);
    // The image and mask mirrored past their edges to cover every patch (so the padding shows
    // cells together with their outlines: a small image or a thin volume does not look like
    // cells the mask missed), and the mask's network channel, encoded once for all patches.
    Shape<Dim> padded;
    for (int a = 0; a < Dim; ++a) padded[a] = std::max(img.shape()[a], tiles.back().origin[a] + patch[a]);
    const Image<float, Dim> pimg = reflect_padded(img, padded);
    const Image<float, Dim> penc = nn::encode_segmentation<float>(reflect_padded(lab, padded).cview(), info_.config.encoding);

    struct Job {
      std::array<Index, Dim> origin;
      Index objects;
      double weight;
      double shares;  // the mask objects' visible fractions, summed
    };
    std::vector<Job> jobs;
    std::unordered_map<Label, Index> volume;
    for (Label v : lab)
      if (v) ++volume[v];
    for (const auto& t : tiles) {
      const auto inside = voxels_in_box(lab, t.origin, patch);
      if (inside.empty()) continue;  // nothing to assess there; weight 0
      double shares = 0;
      for (const auto& [label, n] : inside) shares += static_cast<double>(n) / static_cast<double>(volume.at(label));
      const double w = opt.fractional_weights ? shares : static_cast<double>(inside.size());
      jobs.push_back({t.origin, static_cast<Index>(inside.size()), w, shares});
    }
    // Models with an object-count output weigh each patch by the GT objects it predicts there
    // (floored so that a frame whose every patch is predicted empty keeps a defined score).
    const Index outputs = info_.config.outputs;
    const bool distance = !higher_is_better();
    double mask_shares = 0, counted = 0;
    auto record = [&](const Job& j, const float* y) {
      // Distances go back to the caller's px before the recalibration (fitted on assess() scores).
      const double raw = static_cast<double>(y[0]) / (distance ? out.scale : 1.0);
      PatchScore<Dim> ps;
      for (int a = 0; a < Dim; ++a) {
        const double f = factor[a];
        ps.origin[a] = std::min<Index>(image.shape()[a] - 1, static_cast<Index>(std::floor(j.origin[a] / f)));
        ps.size[a] = std::min<Index>(image.shape()[a] - ps.origin[a], static_cast<Index>(std::ceil(patch[a] / f)));
      }
      ps.score = clamp_score(opt.calibrated ? calibration_(raw) : raw) * (distance ? opt.pixel_size : 1.0);
      ps.objects = j.objects;
      ps.weight = j.weight;
      if (outputs == 2) {
        if (!std::isfinite(y[1])) throw Error("assess: the model produced a non-finite object count (corrupt model?)");
        ps.weight = std::max(1e-3, static_cast<double>(y[1]) * nn::object_count_unit);
      }
      mask_shares += j.shares, counted += ps.weight;
      out.patches.push_back(ps);
    };

    Lease lease{this, borrow()};
    nn::Network<float, Dim>& net = *lease.net;
    net.set_winograd(opt.winograd);
    const bool aligned = std::all_of(jobs.begin(), jobs.end(), [&](const Job& j) {
      return std::all_of(j.origin.begin(), j.origin.end(), [&](Index o) { return o % align == 0; });
    });
    nn::Tensor<float> xi, xs;
    if (opt.shared_trunk && info_.config.padding == 0 && aligned &&
        convention_.normalisation == Normalisation::per_image) {
      // Bands of patch rows (along the first axis), each through the convolutions once.
      const Index plane = padded.size() / padded[0];
      const Index rows = std::max(patch[0], opt.trunk_voxels / std::max<Index>(plane, 1));
      std::array<Index, Dim> window{};
      for (int a = 0; a < Dim; ++a) window[a] = net.feature_extent(patch[a]);
      nn::Tensor<float> features;
      for (std::size_t j0 = 0, j1; j0 < jobs.size(); j0 = j1) {
        const Index top = jobs[j0].origin[0];
        Index bottom = top + patch[0];
        for (j1 = j0 + 1; j1 < jobs.size() && jobs[j1].origin[0] + patch[0] - top <= rows; ++j1)
          bottom = std::max(bottom, jobs[j1].origin[0] + patch[0]);
        std::array<Index, Dim> band = padded.extent;
        band[0] = bottom - top;
        xi.reshape(nn::activation_shape<Dim>(1, 1, band));
        xs.reshape(xi.shape());
        std::copy_n(pimg.data() + top * plane, xi.numel(), xi.data());
        std::copy_n(penc.data() + top * plane, xs.numel(), xs.data());
        const auto& maps = net.predict_feature_maps(xi, xs);
        ++out.trunk_passes;
        features.reshape({static_cast<Index>(j1 - j0), net.feature_count()});
        for (std::size_t j = j0; j < j1; ++j) {
          std::array<Index, Dim> at = jobs[j].origin;
          at[0] -= top;
          for (int a = 0; a < Dim; ++a) at[a] /= align;
          float* f = features.data() + static_cast<Index>(j - j0) * net.feature_count();
          for (const nn::Tensor<float>* m : maps) f = window_means(*m, at, window, f);
        }
        const auto& y = net.head(features, nn::Mode::infer);
        for (std::size_t j = j0; j < j1; ++j) record(jobs[j], y.data() + static_cast<Index>(j - j0) * outputs);
      }
    } else {
      const Index batch = std::max<Index>(1, opt.batch);
      Image<float, Dim> pi{Shape<Dim>(patch)}, pe{Shape<Dim>(patch)};
      for (std::size_t j0 = 0; j0 < jobs.size(); j0 += static_cast<std::size_t>(batch)) {
        const std::size_t j1 = std::min(jobs.size(), j0 + static_cast<std::size_t>(batch));
        xi.reshape(nn::activation_shape<Dim>(static_cast<Index>(j1 - j0), 1, patch));
        xs.reshape(xi.shape());
        for (std::size_t j = j0; j < j1; ++j) {
          copy_window<float, Dim>(pimg, jobs[j].origin, pi);
          copy_window<float, Dim>(penc, jobs[j].origin, pe);
          if (convention_.normalisation == Normalisation::per_patch) pi = normalize_percentile(pi.cview());
          const Index n = pi.size(), b = static_cast<Index>(j - j0);
          std::copy_n(pi.data(), n, xi.data() + b * n);
          std::copy_n(pe.data(), n, xs.data() + b * n);
        }
        const auto& y = net.predict(xi, xs);
        for (std::size_t j = j0; j < j1; ++j) record(jobs[j], y.data() + static_cast<Index>(j - j0) * outputs);
      }
    }
    double wsum = 0, s = 0;
    for (const auto& p : out.patches) wsum += p.weight, s += p.score * p.weight;
    if (!(wsum > 0))  // objects lost by shrinking (e.g. a tiny --scale): nothing was assessed
      throw UndefinedValue("assess: no object of the mask is left after rescaling by " + std::to_string(out.scale));
    out.score = s / wsum;
    // Every mask object's visible fractions sum to the number of patches covering it, so the
    // count output's sum over the same patches, divided by that coverage, counts the GT objects.
    out.weight_objects = outputs == 2 && mask_shares > 0
                             ? counted * static_cast<double>(out.objects) / mask_shares
                             : static_cast<double>(out.objects);
    return out;
  }

  template <typename T, typename L>
  Assessment<Dim> assess(const Image<T, Dim>& image, const Image<L, Dim>& labels, const AssessOptions& opt = {}) const {
    return assess(image.cview(), labels.cview(), opt);
  }

  // The quality of every object of the mask on its own: its predicted IoU with the true cell
  // under it, by increasing label. The frame is rescaled as assess() does (the scale measured on
  // the whole mask), and the network judges a window centred on each object (the training patch,
  // grown to hold a larger object) whose mask shows that object alone. A per-object model
  // (per_object(), trained with `qanet train --metric iou`) sees the image as it is: it learned
  // that a fragment of a larger cell or a merge of two is poor. A frame model (SEG) is applied
  // as the QANet paper suggests, with the other objects also hidden in the image (filled with the
  // window's background median), so that the one object is the only cell it judges. Objects
  // that rescaling would lose keep one voxel at their centroid.
  template <typename T, typename L>
  std::vector<ObjectScore<Dim>> assess_objects(const ImageView<const T, Dim>& image,
                                               const ImageView<const L, Dim>& labels,
                                               const AssessOptions& opt = {}) const {
    const Prepared prep = prepare(image, labels, opt);
    const auto original = detail::find_instances(to_labels(labels).cview());
    auto objects = detail::find_instances(prep.labels.cview());
    // Objects lost by shrinking are judged as one voxel at their centroid (drawn into their own
    // window only: two of them may fall on one voxel, or on another object).
    const std::size_t kept = objects.size();
    {
      std::unordered_set<Label> seen;
      for (const auto& ob : objects) seen.insert(ob.label);
      for (const auto& ob : original) {
        if (seen.count(ob.label)) continue;
        detail::Instance<Dim> one;
        one.label = ob.label, one.area = 1;
        for (int a = 0; a < Dim; ++a)
          one.lo[a] = one.hi[a] = std::clamp<Index>(static_cast<Index>(std::floor((ob.centroid[a] + 0.5) * prep.factor[a])),
                                                    0, prep.labels.shape()[a] - 1);
        objects.push_back(one);
      }
    }
    // Windows of equal shape go through the network together.
    std::map<std::array<Index, Dim>, std::vector<std::size_t>> groups;
    std::vector<std::array<Index, Dim>> origin(objects.size());
    for (std::size_t k = 0; k < objects.size(); ++k) {
      std::array<Index, Dim> size{};
      for (int a = 0; a < Dim; ++a) {
        const Index patch = std::max(min_extent_, opt.patch > 0 ? opt.patch : patch_[a]);
        const Index extent = objects[k].hi[a] - objects[k].lo[a] + 1;
        size[a] = std::max(patch, extent + patch / 4);  // a large object with some context
        origin[k][a] = (objects[k].lo[a] + objects[k].hi[a] + 1) / 2 - size[a] / 2;
      }
      groups[size].push_back(k);
    }
    const bool hide_others = !per_object();
    std::vector<double> score(objects.size());
    Lease lease{this, borrow()};
    nn::Network<float, Dim>& net = *lease.net;
    net.set_winograd(opt.winograd);
    nn::Tensor<float> xi, xs;
    const Index batch = std::max<Index>(1, opt.batch);
    for (const auto& [size, members] : groups) {
      const Shape<Dim> shape(size);
      for (std::size_t j0 = 0; j0 < members.size(); j0 += static_cast<std::size_t>(batch)) {
        const std::size_t j1 = std::min(members.size(), j0 + static_cast<std::size_t>(batch));
        xi.reshape(nn::activation_shape<Dim>(static_cast<Index>(j1 - j0), 1, size));
        xs.reshape(xi.shape());
        for (std::size_t j = j0; j < j1; ++j) {
          const std::size_t k = members[j];
          Image<float, Dim> pi = reflected_window(prep.image, origin[k], shape);
          LabelImage<Dim> pl = reflected_window(prep.labels, origin[k], shape);
          if (hide_others) {
            std::vector<float> background;
            for (Index i = 0; i < pl.size(); ++i)
              if (pl[i] == 0) background.push_back(pi[i]);
            float fill = 0;
            if (!background.empty()) {
              auto mid = background.begin() + static_cast<std::ptrdiff_t>(background.size() / 2);
              std::nth_element(background.begin(), mid, background.end());
              fill = *mid;
            }
            for (Index i = 0; i < pl.size(); ++i)
              if (pl[i] != 0 && pl[i] != objects[k].label) pi[i] = fill;
          }
          for (Label& v : pl) v = v == objects[k].label ? 1 : 0;
          if (k >= kept) {  // a lost object's voxel
            std::array<Index, Dim> q{};
            for (int a = 0; a < Dim; ++a) q[a] = objects[k].lo[a] - origin[k][a];
            pl[shape.offset(q)] = 1;
          }
          if (convention_.normalisation == Normalisation::per_patch) pi = normalize_percentile(pi.cview());
          const Image<float, Dim> pe = nn::encode_segmentation<float>(pl.cview(), info_.config.encoding);
          const Index n = pi.size(), b = static_cast<Index>(j - j0);
          std::copy_n(pi.data(), n, xi.data() + b * n);
          std::copy_n(pe.data(), n, xs.data() + b * n);
        }
        const auto& y = net.predict(xi, xs);
        const Index outputs = info_.config.outputs;
        for (std::size_t j = j0; j < j1; ++j) {
          const double raw = static_cast<double>(y[static_cast<Index>(j - j0) * outputs]);
          score[members[j]] = clamp_score(opt.calibrated ? calibration_(raw) : raw);
        }
      }
    }
    std::unordered_map<Label, double> by_label;
    for (std::size_t k = 0; k < objects.size(); ++k) by_label[objects[k].label] = score[k];
    std::vector<ObjectScore<Dim>> out;
    out.reserve(original.size());
    for (const auto& ob : original) out.push_back({ob.label, ob.area, ob.centroid, by_label.at(ob.label)});
    return out;
  }

  template <typename T, typename L>
  std::vector<ObjectScore<Dim>> assess_objects(const Image<T, Dim>& image, const Image<L, Dim>& labels,
                                               const AssessOptions& opt = {}) const {
    return assess_objects(image.cview(), labels.cview(), opt);
  }

  // A score as the model's metric allows: [0, 1] for SEG and NEMHD, >= 0 for distances.
  double clamp_score(double v) const {
    if (!std::isfinite(v)) throw Error("assess: the model produced a non-finite score (corrupt model?)");
    if (unit_interval_metric(info_.metric)) return std::clamp(v, 0.0, 1.0);
    return std::max(v, 0.0);
  }

 private:
  // The frame as the network sees it: checked, rescaled to the model's object scale (the image
  // normalised per image when the model was trained so), with the mask's objects counted.
  struct Prepared {
    Index objects = 0;
    double scale = 1;
    std::array<double, Dim> factor{};
    Image<float, Dim> image;
    LabelImage<Dim> labels;
  };
  template <typename T, typename L>
  Prepared prepare(const ImageView<const T, Dim>& image, const ImageView<const L, Dim>& labels,
                   const AssessOptions& opt) const {
    if (image.shape() != labels.shape())
      throw InvalidArgument("assess: image " + image.shape().str() + " and mask " + labels.shape().str() +
                            " differ in shape");
    if (image.empty()) throw InvalidArgument("assess: empty image");
    Prepared p;
    p.objects = distinct_objects(labels);
    if (p.objects == 0)
      throw UndefinedValue("assess: the mask holds no object, so there is no segmentation to assess");
    p.scale = scale_for(image, labels, opt);
    p.factor = scale_factors<Dim>(p.scale);
    p.image = p.scale == 1.0 ? Image<float, Dim>::from_view(image) : rescale_linear(image, p.factor);
    if (convention_.normalisation == Normalisation::per_image) p.image = normalize_percentile(p.image.cview());
    p.labels = p.scale == 1.0 ? to_labels(labels) : to_labels(rescale_nearest(labels, p.factor).cview());
    return p;
  }

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

  // `img` mirrored past its far edges to `shape` (at least its own).
  template <typename V>
  static Image<V, Dim> reflect_padded(const Image<V, Dim>& img, const Shape<Dim>& shape) {
    if (shape == img.shape()) return img;
    Image<V, Dim> out(shape, V{}, img.spacing());
    const Shape<Dim>& s = img.shape();
    for (Index i = 0; i < out.size(); ++i) {
      auto q = shape.coords(i);
      for (int a = 0; a < Dim; ++a) q[a] = reflect_index(q[a], s[a]);
      out[i] = img.at(q);
    }
    return out;
  }

  // Mean of every channel of `map` ([1, C, spatial...]) over the window at `at` of `extent`,
  // summed in the order GlobalAvgPool sums a map of that extent; written to f[0..C). Returns f + C.
  static float* window_means(const nn::Tensor<float>& map, const std::array<Index, Dim>& at,
                             const std::array<Index, Dim>& extent, float* f) {
    std::array<Index, Dim> dims{};
    for (int a = 0; a < Dim; ++a) dims[a] = map.dim(2 + a);
    const Shape<Dim> ms(dims), ws(extent);
    const Index nx = extent[Dim - 1], rows = ws.size() / nx, plane = ms.size();
    for (Index c = 0; c < map.dim(1); ++c) {
      const float* m = map.data() + c * plane;
      double acc = 0;
      for (Index r = 0; r < rows; ++r) {
        auto p = ws.coords(r * nx);
        for (int a = 0; a < Dim; ++a) p[a] += at[a];
        const float* row = m + ms.offset(p);
        for (Index x = 0; x < nx; ++x) acc += row[x];
      }
      f[c] = static_cast<float>(acc / static_cast<double>(ws.size()));
    }
    return f + map.dim(1);
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
  ConformalResiduals residuals_;
  InputConvention convention_;
  std::array<Index, Dim> patch_{};
  Index min_extent_ = 1;
  std::unique_ptr<const nn::Network<float, Dim>> proto_;
  mutable std::mutex mutex_;
  mutable std::vector<std::unique_ptr<nn::Network<float, Dim>>> pool_;
};

}  // namespace qanet
