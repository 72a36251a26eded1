// qanet score: predicts the quality of segmentations without ground truth (SPEC §9), for one
// image and mask or a whole sequence (masks maskTTT.tif with images tTTT.tif).
#include <cmath>
#include <functional>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "command.hpp"
#include "model_lookup.hpp"
#include "report.hpp"
#include "qanet/io.hpp"
#include "qanet/qa/assessor.hpp"
#include "sequence_score.hpp"
#include "spacing.hpp"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

struct Options {
  std::string image, mask, images, masks, model, metric, heatmap, per_object, object_model, report, spacing;
  bool json = false, no_rescale = false, count_weights = false, patch_by_patch = false;
  long patch = -1, stride = -1;
  double scale = 0, diameter = 0;
  double flag_below = NAN;
  double coverage = 0.9;
};

using qanet::cli::FrameScore;

template <int Dim>
json object_list(const std::vector<qanet::ObjectScore<Dim>>& objects) {
  json list = json::array();
  for (const auto& o : objects)
    list.push_back({{"label", o.label}, {"centroid", o.centroid}, {"voxels", o.voxels}, {"score", o.score}});
  return list;
}

json frame_objects(const FrameScore& f) { return f.a2 ? object_list(f.objects2) : object_list(f.objects3); }

// One row per object: frame, mask, label, centroid (numpy order), voxels, predicted IoU, and for
// per-object models calibrated with residuals its interval.
using ObjectInterval = std::function<std::optional<qanet::ScoreInterval>(double)>;
std::string object_csv(const std::vector<FrameScore>& frames, int dim, const ObjectInterval& interval) {
  const bool with = static_cast<bool>(interval(0.5));
  std::string csv = std::string(dim == 2 ? "frame,mask,label,y,x,voxels,predicted_iou" : "frame,mask,label,z,y,x,voxels,predicted_iou") +
                    (with ? ",low,high\n" : "\n");
  char b[96];
  for (const auto& f : frames) {
    if (!f.ok()) continue;
    for (const auto& o : frame_objects(f)) {
      csv += std::to_string(f.frame) + "," + f.mask.string() + "," + std::to_string(o["label"].get<long long>());
      for (const double c : o["centroid"]) std::snprintf(b, sizeof b, ",%.2f", c), csv += b;
      std::snprintf(b, sizeof b, ",%lld,%.6f", o["voxels"].get<long long>(), o["score"].get<double>());
      csv += b;
      if (const auto i = interval(o["score"].get<double>())) std::snprintf(b, sizeof b, ",%.4f,%.4f", i->low, i->high), csv += b;
      csv += "\n";
    }
  }
  return csv;
}

// The objects of a frame for the JSON, each with its interval when the model has them.
json frame_objects_json(const FrameScore& f, const ObjectInterval& interval) {
  json list = frame_objects(f);
  for (auto& o : list)
    if (const auto i = interval(o["score"].get<double>())) o["interval"] = json::array({i->low, i->high});
  return list;
}

template <int Dim>
json patch_list(const qanet::Assessment<Dim>& a) {
  json list = json::array();
  for (const auto& p : a.patches)
    list.push_back({{"origin", p.origin}, {"size", p.size}, {"score", p.score}, {"objects", p.objects}, {"weight", p.weight}});
  return list;
}

bool is_bad(double score, double threshold, bool higher_is_better) {
  return !std::isnan(threshold) && (higher_is_better ? score < threshold : score > threshold);
}

template <int Dim>
int run_dim(const Options& o, const fs::path& model_path) {
  const qanet::Assessor<Dim> assessor(model_path);
  // Per-object scores come from the per-object model (or a frame model given as --object-model).
  std::optional<qanet::Assessor<Dim>> objects;
  if (!o.per_object.empty()) {
    const fs::path m = qanet::cli::find_model(o.object_model, qanet::cli::object_model);
    if (qanet::nn::read_model_info(m).config.dim != Dim)
      throw qanet::InvalidArgument("--object-model " + m.string() + " is not a " + std::to_string(Dim) +
                                   "D model like " + model_path.string());
    objects.emplace(m);
  }
  qanet::AssessOptions opt;
  opt.patch = o.patch;
  opt.stride = o.stride;
  opt.scale = o.scale;
  opt.diameter = o.diameter;
  opt.rescale = !o.no_rescale;
  opt.fractional_weights = !o.count_weights;
  opt.shared_trunk = !o.patch_by_patch;
  const bool hib = assessor.higher_is_better();
  if (!o.spacing.empty()) {
    if (hib)
      throw qanet::InvalidArgument("--spacing: model " + model_path.string() + " predicts " + assessor.info().metric +
                                   ", not a distance (mhd95, asd)");
    opt.pixel_size = qanet::cli::in_plane_pixel_size(o.spacing, Dim);
  }
  const bool folder = !o.images.empty();
  std::vector<FrameScore> frames;
  if (!folder) {
    FrameScore f;
    f.image = o.image, f.mask = o.mask;
    frames.push_back(f);
  } else {
    frames = qanet::cli::pair_result_frames(o.images, o.masks);
  }
  qanet::cli::score_frames<Dim>(assessor, frames, opt, o.heatmap, "qanet score", objects ? &*objects : nullptr);
  const qanet::cli::SequenceScore seq = qanet::cli::pool_frame_scores(frames);
  json flagged = json::array();
  for (const auto& f : frames) {
    if (!f.ok()) continue;
    if (is_bad(f.score(), o.flag_below, hib)) flagged.push_back({{"mask", f.mask.string()}, {"score", f.score()}});
    const auto& patches = f.a2 ? json(patch_list(*f.a2)) : json(patch_list(*f.a3));
    for (const auto& p : patches)
      if (is_bad(p["score"].get<double>(), o.flag_below, hib))
        flagged.push_back({{"mask", f.mask.string()}, {"patch_origin", p["origin"]}, {"patch_size", p["size"]},
                           {"score", p["score"]}});
    for (const auto& ob : frame_objects(f))
      if (is_bad(ob["score"].get<double>(), o.flag_below, true))
        flagged.push_back({{"mask", f.mask.string()}, {"object", ob["label"]}, {"centroid", ob["centroid"]},
                           {"score", ob["score"]}});
  }
  if (!folder && !frames.front().ok())  // one frame: its reason is the error
    throw qanet::UndefinedValue(frames.front().mask.string() + ": " + frames.front().error);
  for (const auto& f : frames)
    if (!f.ok()) std::fprintf(stderr, "qanet score: %s not scored: %s\n", f.mask.c_str(), f.error.c_str());
  if (seq.weight == 0) throw qanet::UndefinedValue("no mask in " + o.masks + " holds an object to score");
  // Per-object intervals: the per-object model's own residuals (qanet calibrate on objects).
  const ObjectInterval object_interval = [&](double v) -> std::optional<qanet::ScoreInterval> {
    if (!objects) return std::nullopt;
    return objects->interval(v, o.coverage);
  };
  if (objects) qanet::write_file_atomic(o.per_object, object_csv(frames, Dim, object_interval));

  const std::string metric = assessor.info().metric;
  // Conformal intervals (qa/interval.hpp), for models calibrated with residuals. A sequence
  // gets the frames' half-width: pooling does not shrink the systematic part of a model's error.
  auto interval = [&](double score) { return assessor.interval(score, o.coverage, opt.pixel_size); };
  auto interval_json = [&](double score) {
    const auto i = interval(score);
    return i ? json::array({i->low, i->high}) : json(nullptr);
  };
  auto interval_text = [&](double score) {
    const auto i = interval(score);
    if (!i) return std::string();
    char b[64];
    std::snprintf(b, sizeof b, " [%.4f, %.4f]", i->low, i->high);
    return std::string(b);
  };
  if (!o.report.empty()) {
    qanet::cli::ReportSettings rs;
    rs.model = model_path.string();
    rs.object_model = objects ? objects->path().string() : "";
    rs.metric = metric;
    rs.higher_is_better = hib;
    rs.sequence_score = folder ? seq.score : frames.front().score();
    rs.sequence_interval = interval_text(rs.sequence_score);
    rs.interval = interval_text;
    rs.flag_below = o.flag_below;
    qanet::cli::write_report<Dim>(o.report, frames, rs);
  }
  if (o.json) {
    json out;
    out["metric"] = metric;
    out["model"] = model_path.string();
    if (assessor.has_intervals()) out["coverage"] = o.coverage;
    if (!hib) out["pixel_size"] = opt.pixel_size;  // distances: px of the image times this
    if (!folder) {
      const auto& f = frames.front();
      out["score"] = f.score();
      if (assessor.has_intervals()) out["interval"] = interval_json(f.score());
      out["objects"] = f.objects();
      out["weight_objects"] = f.weight();  // its weight in a sequence
      out["image"] = f.image.string();
      out["mask"] = f.mask.string();
      out["scale"] = f.a2 ? f.a2->scale : f.a3->scale;
      if (metric == "nemhd") out["tau"] = qanet::Assessor<Dim>::nemhd_tau(out["scale"].get<double>());
      out["patches"] = f.a2 ? patch_list(*f.a2) : patch_list(*f.a3);
      out["trunk_passes"] = f.a2 ? f.a2->trunk_passes : f.a3->trunk_passes;  // 0: patch by patch
      if (objects) out["objects_scored"] = frame_objects_json(f, object_interval);
    } else {
      out["score"] = seq.score;
      if (assessor.has_intervals()) out["interval"] = interval_json(seq.score);
      out["objects"] = seq.objects;
      out["frames"] = json::array();
      for (const auto& f : frames) {
        json j = {{"frame", f.frame}, {"image", f.image.string()}, {"mask", f.mask.string()}};
        j["score"] = f.ok() ? json(f.score()) : json(nullptr);
        if (f.ok() && assessor.has_intervals()) j["interval"] = interval_json(f.score());
        j["objects"] = f.objects();
        if (f.ok()) j["weight"] = f.weight();  // the frame's weight in the sequence score
        if (f.ok()) j["scale"] = f.a2 ? f.a2->scale : f.a3->scale;
        if (f.ok() && metric == "nemhd") j["tau"] = qanet::Assessor<Dim>::nemhd_tau(j["scale"].get<double>());
        if (!f.ok()) j["error"] = f.error;
        if (f.ok() && objects) j["objects_scored"] = frame_objects_json(f, object_interval);
        out["frames"].push_back(j);
      }
    }
    if (!std::isnan(o.flag_below)) out["flagged"] = flagged;
    if (objects) out["object_model"] = objects->path().string();
    std::printf("%s\n", out.dump(2).c_str());
  } else {
    const std::string unit = hib ? "" : o.spacing.empty() ? " in px of the image" : " in units of --spacing";
    std::printf("qanet score (predicted %s%s, model %s)\n", metric.c_str(), unit.c_str(), model_path.filename().c_str());
    if (metric == "nemhd")
      std::printf("neMHD = exp(-MHD / tau), tau = 10 px at the model's object scale (%.1f px cells): 10 / scale px "
                  "of each image (JSON: tau)\n", assessor.target_diameter());
    if (assessor.has_intervals())
      std::printf("[low, high]: %g%% conformal interval of the true %s (qanet calibrate residuals)\n",
                  100 * o.coverage, metric.c_str());
    if (folder) {
      const int iw = assessor.has_intervals() ? 18 : 0;
      std::printf("%-7s %9s %*s %8s  %s\n", "frame", metric.c_str(), iw, iw ? "[low, high]" : "", "objects", "mask");
      for (const auto& f : frames)
        std::printf("%-7d %9s %*s %8lld  %s\n", f.frame, f.ok() ? std::to_string(f.score()).substr(0, 6).c_str() : "-",
                    iw, f.ok() ? interval_text(f.score()).c_str() : "", static_cast<long long>(f.objects()),
                    f.mask.c_str());
      std::printf("sequence (object-weighted): %.4f%s over %lld objects\n", seq.score,
                  interval_text(seq.score).c_str(), static_cast<long long>(seq.objects));
    } else {
      std::printf("%s: %.4f%s (%lld objects, %zu patches)\n", frames.front().mask.c_str(), frames.front().score(),
                  interval_text(frames.front().score()).c_str(),
                  static_cast<long long>(frames.front().objects()),
                  frames.front().a2 ? frames.front().a2->patches.size() : frames.front().a3->patches.size());
    }
    if (objects) {
      std::size_t n = 0, poor = 0;
      double sum = 0;
      for (const auto& f : frames)
        for (const auto& ob : frame_objects(f)) ++n, sum += ob["score"].get<double>(), poor += ob["score"].get<double>() < 0.5;
      std::printf("per object (predicted IoU with the true cell, model %s): %zu objects, mean %.4f, %zu below 0.5; "
                  "table in %s\n",
                  objects->path().filename().c_str(), n, n ? sum / static_cast<double>(n) : 0.0, poor,
                  o.per_object.c_str());
    }
    if (!std::isnan(o.flag_below)) {
      std::printf("%zu flagged for inspection (%s %g):\n", flagged.size(), hib ? "below" : "above", o.flag_below);
      for (const auto& f : flagged) {
        std::string where;
        if (f.contains("patch_origin")) where = " patch at " + f["patch_origin"].dump();
        if (f.contains("object")) where = " object " + f["object"].dump() + " at " + f["centroid"].dump();
        std::printf("  %s%s score %.4f\n", f["mask"].get<std::string>().c_str(), where.c_str(), f["score"].get<double>());
      }
    }
  }
  return 0;
}

int run(const Options& o) {
  const bool single = !o.image.empty() || !o.mask.empty();
  const bool folder = !o.images.empty() || !o.masks.empty();
  if (single == folder || (single && (o.image.empty() || o.mask.empty())) || (folder && (o.images.empty() || o.masks.empty())))
    throw qanet::InvalidArgument("give either --image FILE --mask FILE, or --images DIR --masks DIR");
  const fs::path model = qanet::cli::find_frame_model(o.model, o.metric);
  const int dim = qanet::nn::read_model_info(model).config.dim;
  return dim == 2 ? run_dim<2>(o, model) : run_dim<3>(o, model);
}

qanet::cli::RegisterCommand registration{
    "score", "Predict the quality (e.g. SEG) of segmentations without ground truth",
    [](CLI::App& app) {
      auto o = std::make_shared<Options>();
      app.add_option("--image", o->image, "Image (TIFF)");
      app.add_option("--mask", o->mask, "Its segmentation: a label TIFF");
      app.add_option("--images", o->images, "A CTC image folder (tTTT.tif)");
      app.add_option("--masks", o->masks, "A CTC result folder (maskTTT.tif), paired by frame number");
      app.add_option("--model", o->model, "Model file (default: $QANET_MODEL or the bundled 2D SEG model)");
      app.add_option("--metric", o->metric,
                     "The metric to predict (seg, mhd95, asd, nemhd): without --model, the bundled model of it; "
                     "with --model, checked against the model's")
          ->check(CLI::IsMember({"seg", "mhd95", "asd", "nemhd"}));
      app.add_option("--patch", o->patch, "Patch edge in px (default: the model's; 0: whole image at once)");
      app.add_option("--stride", o->stride, "Patch stride in px (default: half the patch)");
      auto* scale = app.add_option("--scale", o->scale, "Resample images by this factor (default: measured from the mask)");
      app.add_option("--diameter", o->diameter,
                     "The objects' typical in-plane diameter in px, when known (default: measured from the "
                     "mask's foreground)")
          ->check(CLI::PositiveNumber)
          ->excludes(scale);
      app.add_flag("--no-rescale", o->no_rescale, "Score at the image's own scale");
      app.add_flag("--patch-by-patch", o->patch_by_patch,
                   "Run the network on every patch alone instead of once per band of patches (same scores, slower; "
                   "for comparison)");
      app.add_flag("--count-weights", o->count_weights,
                   "Weight patches by the number of objects they touch (default: by the visible share of each object)");
      app.add_option("--flag-below", o->flag_below,
                     "List frames and patches (with --per-object also objects) of quality worse than this");
      app.add_option("--heatmap", o->heatmap,
                     "Write per-patch quality overlays (PNG) into this folder (with --per-object also each object's)");
      app.add_option("--report", o->report,
                     "Write a triage report (DIR/index.html, self-contained): frames, patches and objects from worst "
                     "to best, overlays of the worst frames, the scores over the sequence, the flagged items");
      app.add_option("--per-object", o->per_object,
                     "Also predict every object's IoU with its true cell; the table (CSV) goes to this file, the "
                     "JSON gets objects_scored");
      app.add_option("--object-model", o->object_model,
                     "Model of --per-object (default: $QANET_OBJECT_MODEL or the bundled per-object model; a frame "
                     "SEG model judges each object alone with the others hidden)");
      app.add_option("--spacing", o->spacing,
                     "Pixel size (one value, or z,y,x with y = x): the scores of a distance model (mhd95, asd) in "
                     "these units instead of px of the image");
      app.add_option("--coverage", o->coverage,
                     "Coverage of the score intervals of models calibrated with residuals (default 0.9)")
          ->check(CLI::Range(0.5, 0.999));
      app.add_flag("--json", o->json, "Print one JSON object");
      return [o] { return run(*o); };
    }};

}  // namespace
