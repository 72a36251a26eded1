#pragma once
// Training samples on the fly (SPEC §5): (image patch, perturbed mask, exact scores), drawn
// from real (image, ground truth) pairs or from the simulator. Each sample is a pure function
// of (seed, index): a patch that contains cells, random flips, a fresh perturbation, and the
// metrics of the perturbed mask against the ground truth, so a training loop can draw them in
// parallel in any order and get the same data.

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <optional>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
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
  // With SampleOptions::whole_object_seg: the SEG target of the patch from whole objects (each
  // visible GT object's Jaccard on the context window, weighted by its share inside the patch).
  std::optional<double> whole_object_seg;
  // With SampleOptions::count_objects: the GT objects the patch shows, each counted by the share
  // of its voxels inside the patch (the weight scoring should give the patch).
  std::optional<double> objects_in_view;
  // With SampleOptions::object_target: the patch is centred on one object of the perturbed mask,
  // `mask` holds only it (label 1), and this is its best IoU with a ground-truth object.
  std::optional<double> object_iou;
  // With SampleOptions::false_positive_views: the patch is centred on a false positive of the
  // mask and shows no GT object, so its score is undefined and its objects in view are 0.
  bool false_positive_view = false;
  PerturbRecord record;
  double zoom = 1.0;        // the patch is a window of its source resampled by this factor
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
  // Crops of real frames have their intensities raised to a power drawn log-uniformly in
  // [1/g, g] (1: off), between the crop's darkest and brightest values, before the mask is
  // made: microscopes, stains and exposures differ in how fast a nucleus fades into the
  // background, and the truth must be told from the image at any such contrast curve.
  double gamma_jitter = 1.0;
  // The object diameter that scoring would measure on (image, labels) (qa/inputs.hpp). When
  // set, every mask is judged at the scale scoring would give it, not at the scale of its ground
  // truth: a mask of cores or fragments measures thinner than its cells, so scoring zooms in on
  // it, and training must show the network such masks zoomed in the same way (by the ratio of
  // the two measures on a context window around the patch, times the scale jitter).
  std::function<double(const ImageView<const float, Dim>&, const LabelView<Dim>&)> judged_diameter;
  // The context window is this multiple of the patch, so that a mask measured thicker than its
  // truth (merges, dilation) can be zoomed out down to 1 / context.
  double context = 1.5;
  // With a judged scale, also give each sample the SEG of whole objects (TrainingSample::
  // whole_object_seg). The SEG of the patch itself judges a cell cut by the patch edge by its
  // sliver, whose Jaccard falls faster than the cell's under the same outline error; scoring
  // averages patch scores weighted by the objects' visible shares, so patch SEG targets make
  // frame scores too low (by 0.04-0.08 for cells eroded or dilated by 1-3 px on SIM+ 01 at the
  // default tiling), while the visible-share-weighted mean of whole-object Jaccards averages back
  // to the frame's SEG (within 0.004 there).
  bool whole_object_seg = false;
  // With a judged scale, also give each sample its GT objects in view (TrainingSample::
  // objects_in_view), the target of a model's object-count output.
  bool count_objects = false;
  // With a judged scale: per-object samples (TrainingSample::object_iou) for models that judge
  // one object at a time. A mask object of the context window is drawn at random (false
  // positives and fragments as often as they occur), the patch is centred on it, the other
  // objects are removed from the mask (the image keeps every cell: a fragment must look like
  // part of a larger cell), and the target is its IoU with its best ground-truth partner,
  // measured on the whole context window.
  bool object_target = false;
  // With count_objects: the share of masks with false positives (mask objects that overlap no
  // GT object) whose patch is centred on one of them instead of on a GT cell. Scoring judges
  // every patch that shows a mask object, and a patch of specks or debris alone shows no cell:
  // its weight (the predicted GT objects in view) must be 0, which the count output learns only
  // from such views. When the view holds no GT object (TrainingSample::false_positive_view) only
  // the count is a target; otherwise it is an ordinary sample.
  double false_positive_views = 0.0;

  static Shape<Dim> default_patch() {
    if constexpr (Dim == 2) return Shape<2>(256, 256);
    else return Shape<3>(32, 128, 128);
  }
};

// The share of each ground-truth object's voxels that the window at `origin` of `window` holds,
// for the objects it shows.
template <int Dim>
std::unordered_map<Label, double> visible_shares(const LabelImage<Dim>& gt, const std::array<Index, Dim>& origin,
                                                 const Shape<Dim>& window) {
  std::unordered_map<Label, Index> inside, size;
  for (Index i = 0; i < window.size(); ++i) {
    auto p = window.coords(i);
    for (int a = 0; a < Dim; ++a) p[a] += origin[a];
    if (const Label v = gt.at(p)) ++inside[v];
  }
  for (Label v : gt)
    if (v && inside.count(v)) ++size[v];
  std::unordered_map<Label, double> share;
  for (const auto& [v, n] : inside) share[v] = static_cast<double>(n) / static_cast<double>(size.at(v));
  return share;
}

// The SEG of the ground-truth objects that the window at `origin` of `window` shows, each
// object's Jaccard (SEG's match rule) measured on the whole of `gt` and `mask`, and weighted by
// the share of its voxels inside the window (SampleOptions::whole_object_seg). 0 when the
// window shows no object.
template <int Dim>
double visible_share_seg(const LabelImage<Dim>& gt, const LabelImage<Dim>& mask, const std::array<Index, Dim>& origin,
                         const Shape<Dim>& window) {
  const auto shares = visible_shares<Dim>(gt, origin, window);
  double sum = 0, weight = 0;
  for (const auto& m : match_objects(gt.cview(), mask.cview()).objects) {
    const auto it = shares.find(m.gt_label);
    if (it == shares.end()) continue;
    sum += it->second * m.jaccard, weight += it->second;
  }
  return weight > 0 ? sum / weight : 0.0;
}

// The ground-truth objects the window shows, each counted by its visible share
// (SampleOptions::count_objects).
template <int Dim>
double visible_objects(const LabelImage<Dim>& gt, const std::array<Index, Dim>& origin, const Shape<Dim>& window) {
  double n = 0;
  for (const auto& [v, share] : visible_shares<Dim>(gt, origin, window)) n += share;
  return n;
}

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
    sim_.shape = window_shape();
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
      std::array<Index, Dim> anchor{};  // a voxel of a GT cell, kept in the judged window
      if (simulated_) {
        auto sim = simulate_image(sim_, rng(), 0);
        const auto cells = detail::find_instances(sim.labels.cview());
        if (static_cast<Index>(cells.size()) < opt_.min_objects) continue;
        if (opt_.judged_diameter && !cells.empty()) {
          const auto& c = cells[static_cast<std::size_t>(rng.uniform_int(0, static_cast<Index>(cells.size()) - 1))];
          for (int a = 0; a < Dim; ++a) anchor[a] = static_cast<Index>(c.centroid[a]);
        }
        s.image = Image<float, Dim>::from_view(sim.image.cview());
        s.gt = std::move(sim.labels);
      } else {
        const std::size_t k = static_cast<std::size_t>(rng.uniform_int(0, static_cast<Index>(images_.size()) - 1));
        if (!crop(k, rng, s, anchor)) continue;
        if (opt_.gamma_jitter > 1.0) jitter_gamma(s.image, rng);
      }
      if (opt_.flips)
        for (int a = 0; a < Dim; ++a)
          if (rng.bernoulli(0.5)) {
            flip(s.image, a);
            flip(s.gt, a);
            anchor[a] = s.gt.shape()[a] - 1 - anchor[a];
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
      if (opt_.judged_diameter && !zoom_to_judged_scale(s, anchor, rng)) continue;
      if (s.false_positive_view) return s;  // no GT object: no metric
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
    if (!(opt_.gamma_jitter >= 1.0 && opt_.gamma_jitter <= 4.0))
      throw InvalidArgument("SampleGenerator: gamma_jitter must lie in [1, 4]");
    if (!(opt_.context >= 1.0 && opt_.context <= 4.0))
      throw InvalidArgument("SampleGenerator: context must lie in [1, 4]");
    if (opt_.count_objects && !opt_.judged_diameter)
      throw InvalidArgument("SampleGenerator: count_objects needs a judged scale (judged_diameter)");
    if (opt_.object_target && !opt_.judged_diameter)
      throw InvalidArgument("SampleGenerator: object_target needs a judged scale (judged_diameter)");
    if (!(opt_.false_positive_views >= 0.0 && opt_.false_positive_views <= 1.0))
      throw InvalidArgument("SampleGenerator: false_positive_views must lie in [0, 1]");
    if (opt_.false_positive_views > 0 && (!opt_.count_objects || opt_.object_target))
      throw InvalidArgument("SampleGenerator: false_positive_views needs count_objects (and frame targets)");
    opt_.perturb.validate();
  }

  static Index count_cells(const LabelImage<Dim>& l) {
    return static_cast<Index>(detail::find_instances(l.cview()).size());
  }

  // The window the source is cut to before the mask is made: the patch, or with a judged scale
  // the context around it.
  Shape<Dim> window_shape() const {
    if (!opt_.judged_diameter) return opt_.patch;
    Shape<Dim> w;
    for (int a = 0; a < Dim; ++a) w[a] = static_cast<Index>(std::ceil(static_cast<double>(opt_.patch[a]) * opt_.context));
    return w;
  }

  // The window of `base / zoom` voxels that the zoom resamples to `base`; the zoom is first
  // raised so that the window never exceeds the frame `full` (no stretching).
  static Shape<Dim> zoomed_window(const Shape<Dim>& full, const Shape<Dim>& base, double& zoom) {
    for (int a = 0; a < Dim; ++a) zoom = std::max(zoom, static_cast<double>(base[a]) / static_cast<double>(full[a]));
    Shape<Dim> win;
    for (int a = 0; a < Dim; ++a)
      win[a] = std::clamp<Index>(static_cast<Index>(std::llround(static_cast<double>(base[a]) / zoom)), 1, full[a]);
    return win;
  }

  // The origin of a window of `win` voxels inside `full` that holds voxel `at`, at random.
  static std::array<Index, Dim> window_around(const Shape<Dim>& full, const Shape<Dim>& win,
                                              const std::array<Index, Dim>& at, Rng& rng) {
    std::array<Index, Dim> o{};
    for (int a = 0; a < Dim; ++a) {
      const Index lo = std::max<Index>(0, at[a] - win[a] + 1), hi = std::min<Index>(full[a] - win[a], at[a]);
      o[a] = rng.uniform_int(std::min(lo, hi), std::max(lo, hi));
    }
    return o;
  }

  template <typename T>
  static Image<T, Dim> cut(const Image<T, Dim>& src, const std::array<Index, Dim>& o, const Shape<Dim>& win) {
    Image<T, Dim> out(win, T{}, src.spacing());
    copy_window<T, Dim>(src, o, out);
    return out;
  }

  // Resamples a window to the patch (linear for the image, nearest for labels).
  template <typename T>
  Image<T, Dim> to_patch(const Image<T, Dim>& w) const {
    if (w.shape() == opt_.patch) return w;
    std::array<double, Dim> f;
    for (int a = 0; a < Dim; ++a) f[a] = static_cast<double>(opt_.patch[a]) / static_cast<double>(w.shape()[a]);
    if constexpr (std::is_floating_point_v<T>) return rescale_linear(w.cview(), f);
    else return rescale_nearest(w.cview(), f);
  }

  // The contrast curve of SampleOptions::gamma_jitter.
  void jitter_gamma(Image<float, Dim>& img, Rng& rng) const {
    const double l = std::log(opt_.gamma_jitter), g = std::exp(rng.uniform(-l, l));
    const auto [lo, hi] = std::minmax_element(img.begin(), img.end());
    const double a = *lo, range = static_cast<double>(*hi) - a;
    if (!(range > 0)) return;
    for (float& v : img) v = static_cast<float>(a + range * std::pow((static_cast<double>(v) - a) / range, g));
  }

  // Zoom (log-uniform in [1/j, j]) for the scale jitter, 1 when it is off.
  double jitter_zoom(Rng& rng) const {
    if (!(opt_.scale_jitter > 1.0)) return 1.0;
    const double l = std::log(opt_.scale_jitter);
    return std::exp(rng.uniform(-l, l));
  }

  // A window of source k around a random GT cell, placed at random, `anchor` a voxel of that cell
  // in the window. Without a judged scale: the patch, zoomed by the scale jitter (a window of
  // patch / zoom voxels resampled to the patch); with one, the context window at the source's
  // scale (the zoom comes once the mask is made).
  bool crop(std::size_t k, Rng& rng, TrainingSample<Dim>& s, std::array<Index, Dim>& anchor) const {
    const LabelImage<Dim>& gt = labels_[k];
    const Shape<Dim>& full = gt.shape();
    const auto& inst = instances_[k];
    if (inst.empty()) return false;
    const auto& cell = inst[static_cast<std::size_t>(rng.uniform_int(0, static_cast<Index>(inst.size()) - 1))];
    double zoom = opt_.judged_diameter ? 1.0 : jitter_zoom(rng);
    const Shape<Dim> win = zoomed_window(full, window_shape(), zoom);
    std::array<Index, Dim> c;
    for (int a = 0; a < Dim; ++a) c[a] = static_cast<Index>(cell.centroid[a]);
    const auto o = window_around(full, win, c, rng);
    for (int a = 0; a < Dim; ++a) anchor[a] = c[a] - o[a];
    s.image = cut(images_[k], o, win);
    s.gt = cut(gt, o, win);
    if (!opt_.judged_diameter) {
      s.image = to_patch(s.image);
      s.gt = to_patch(s.gt);
      s.zoom = zoom;
    }
    s.gt = relabel_compact(s.gt);
    return count_cells(s.gt) >= opt_.min_objects;
  }

  // Cuts the patch out of the context window at the scale scoring would judge the mask at: zoom
  // = (diameter measured on the truth) / (on the mask), times the scale jitter, limited to
  // [1/4, 4] and to what the window holds; the window keeps the anchor voxel.
  bool zoom_to_judged_scale(TrainingSample<Dim>& s, const std::array<Index, Dim>& anchor, Rng& rng) const {
    const double truth = opt_.judged_diameter(s.image.cview(), s.gt.cview());
    const double judged = opt_.judged_diameter(s.image.cview(), s.mask.cview());
    double zoom = truth > 0 && judged > 0 ? truth / judged : 1.0;
    zoom = std::clamp(zoom * jitter_zoom(rng), 0.25, 4.0);
    const Shape<Dim>& full = s.gt.shape();
    const Shape<Dim> win = zoomed_window(full, opt_.patch, zoom);
    std::array<Index, Dim> o;
    if (opt_.object_target) {
      const auto objects = predicted_object_ious(s.gt, s.mask);
      if (objects.empty()) return false;  // every cell missed: no object to judge
      const auto& pick = objects[static_cast<std::size_t>(rng.uniform_int(0, static_cast<Index>(objects.size()) - 1))];
      s.object_iou = pick.iou;
      for (Label& v : s.mask) v = v == pick.pred_label ? 1 : 0;
      const auto box = detail::find_instances(s.mask.cview()).front();
      for (int a = 0; a < Dim; ++a)
        o[a] = std::clamp<Index>((box.lo[a] + box.hi[a] + 1) / 2 - win[a] / 2, 0, full[a] - win[a]);
    } else {
      const auto fp = opt_.false_positive_views > 0 && rng.bernoulli(opt_.false_positive_views)
                          ? false_positive_voxel(s.gt, s.mask, rng)
                          : std::nullopt;
      o = window_around(full, win, fp ? *fp : anchor, rng);
    }
    if (opt_.whole_object_seg) s.whole_object_seg = visible_share_seg<Dim>(s.gt, s.mask, o, win);
    if (opt_.count_objects) s.objects_in_view = visible_objects<Dim>(s.gt, o, win);
    s.zoom = zoom;
    s.image = to_patch(cut(s.image, o, win));
    s.gt = relabel_compact(to_patch(cut(s.gt, o, win)));
    s.mask = relabel_compact(to_patch(cut(s.mask, o, win)));
    if (opt_.object_target && count_cells(s.mask) == 0) return false;  // lost in the resampling
    if (opt_.false_positive_views > 0 && count_cells(s.gt) == 0) {
      // Only a view with a mask object is ever scored. A GT sliver lost in the resampling
      // counts as no object, as the target says.
      if (count_cells(s.mask) == 0) return false;
      s.false_positive_view = true;
      s.whole_object_seg.reset();
      s.objects_in_view = 0.0;
      return true;
    }
    return count_cells(s.gt) >= opt_.min_objects;
  }

  // A voxel (drawn at random) of a mask object drawn at random among those that overlap no GT
  // object; nullopt when the mask has none.
  static std::optional<std::array<Index, Dim>> false_positive_voxel(const LabelImage<Dim>& gt, const LabelImage<Dim>& mask,
                                                                     Rng& rng) {
    std::unordered_set<Label> overlapping;
    std::unordered_map<Label, std::vector<Index>> voxels;
    for (Index i = 0; i < mask.size(); ++i)
      if (const Label v = mask[i]) {
        if (gt[i]) overlapping.insert(v);
        voxels[v].push_back(i);
      }
    std::vector<Label> fp;
    for (const auto& [v, at] : voxels)
      if (!overlapping.count(v)) fp.push_back(v);
    if (fp.empty()) return std::nullopt;
    std::sort(fp.begin(), fp.end());  // the draw must not depend on the hash map's order
    const auto& at = voxels.at(fp[static_cast<std::size_t>(rng.uniform_int(0, static_cast<Index>(fp.size()) - 1))]);
    return mask.shape().coords(at[static_cast<std::size_t>(rng.uniform_int(0, static_cast<Index>(at.size()) - 1))]);
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
