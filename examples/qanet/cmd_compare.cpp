// qanet compare: the QANet paper's Table 3 protocol. For several segmentation results of the
// same images: the predicted pooled SEG of every result folder, the cross-method baseline (the
// mean of each result's pooled SEG measured against every other result taken as the ground
// truth, what one can do without a quality model) and, with annotations (--gt), the true
// pooled SEG and the relative error of both estimates.
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <tbb/parallel_for.h>

#include "command.hpp"
#include "model_lookup.hpp"
#include "qanet/io.hpp"
#include "qanet/metrics.hpp"
#include "sequence_score.hpp"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

struct Options {
  std::string images, gt, model, csv;
  std::vector<std::string> results;
  bool json = false;
};

// Pooled SEG of frames the CTC way (pool_frames); NaN where no frame holds a reference object.
double pooled_seg(const std::vector<qanet::FrameMetrics>& frames) {
  const auto seg = qanet::pool_frames(frames).seg;
  return seg ? *seg : NAN;
}

template <int Dim>
qanet::FrameMetrics seg_of(const qanet::LabelImage<Dim>& reference,
                           const qanet::LabelImage<Dim>& result, const fs::path& ref_file,
                           const fs::path& result_file) {
  if (reference.shape() != result.shape())
    throw qanet::InvalidArgument(result_file.string() + " (" + result.shape().str() + ") and " + ref_file.string() +
                                 " (" + reference.shape().str() + ") differ in shape");
  qanet::MetricOptions mo;
  mo.boundary = false;
  return qanet::evaluate_frame(reference.cview(), result.cview(), mo);
}

// Undefined values are NaN (and null in the JSON).
double relative_error(double estimate, double truth) { return truth > 0 ? std::abs(estimate - truth) / truth : NAN; }

json opt_json(double v) { return std::isnan(v) ? json(nullptr) : json(v); }

template <int Dim>
int run_dim(const Options& o, const fs::path& model_path) {
  const qanet::Assessor<Dim> assessor(model_path);
  if (assessor.info().metric != "seg" && assessor.info().metric != "SEG")
    throw qanet::InvalidArgument("qanet compare needs a SEG model; " + model_path.string() + " predicts " +
                                 assessor.info().metric);
  const std::size_t n = o.results.size();
  // 1. The predicted sequence score of every result folder, as `qanet score` gives it.
  std::vector<std::vector<qanet::cli::FrameScore>> scored(n);
  std::vector<qanet::cli::SequenceScore> predicted(n);
  for (std::size_t i = 0; i < n; ++i) {
    scored[i] = qanet::cli::pair_result_frames(o.images, o.results[i]);
    qanet::cli::score_frames<Dim>(assessor, scored[i], {}, "", "qanet compare");
    for (const auto& f : scored[i])
      if (!f.ok()) std::fprintf(stderr, "qanet compare: %s not scored: %s\n", f.mask.c_str(), f.error.c_str());
    predicted[i] = qanet::cli::pool_frame_scores(scored[i]);
  }

  // 2. Every frame number any result or the annotation holds, with each folder's file for it.
  std::vector<std::map<int, fs::path>> masks(n);
  std::set<int> frames;
  for (std::size_t i = 0; i < n; ++i) {
    for (const auto& f : scored[i]) masks[i][f.frame] = f.mask;
    for (const auto& [t, m] : masks[i]) frames.insert(t);
  }
  const auto gt = o.gt.empty() ? std::map<int, fs::path>{} : qanet::list_ctc_gt_frames(o.gt);
  if (!o.gt.empty() && gt.empty()) throw qanet::IoError("no man_segTTT.tif file in " + o.gt);
  for (const auto& [t, g] : gt) frames.insert(t);

  // 3. Pairwise pooled SEG: result i judged against result j as the reference, over the frames
  // both hold; and against the annotation over the annotated frames the result holds (as
  // `qanet evaluate` does: a result folder of a few frames is judged on those).
  std::vector<std::vector<std::vector<qanet::FrameMetrics>>> cross(n, std::vector<std::vector<qanet::FrameMetrics>>(n));
  std::vector<std::vector<qanet::FrameMetrics>> truth(n);
  std::mutex m;
  const std::vector<int> frame_list(frames.begin(), frames.end());
  tbb::parallel_for(std::size_t{0}, frame_list.size(), [&](std::size_t k) {
    const int t = frame_list[k];
    std::vector<std::optional<qanet::LabelImage<Dim>>> lab(n);
    for (std::size_t i = 0; i < n; ++i)
      if (masks[i].count(t)) lab[i] = qanet::read_labels<Dim>(masks[i].at(t));
    std::vector<std::vector<qanet::FrameMetrics>> pair(n, std::vector<qanet::FrameMetrics>(n));
    std::vector<std::optional<qanet::FrameMetrics>> vs_gt(n);
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < n; ++j)
        if (i != j && lab[i] && lab[j]) pair[i][j] = seg_of<Dim>(*lab[j], *lab[i], masks[j].at(t), masks[i].at(t));
    const auto g = gt.find(t);
    if (g != gt.end()) {
      const auto reference = qanet::read_labels<Dim>(g->second);
      for (std::size_t i = 0; i < n; ++i)
        if (lab[i]) vs_gt[i] = seg_of<Dim>(reference, *lab[i], g->second, masks[i].at(t));
    }
    const std::lock_guard<std::mutex> lock(m);
    for (std::size_t i = 0; i < n; ++i) {
      for (std::size_t j = 0; j < n; ++j)
        if (i != j && lab[i] && lab[j]) cross[i][j].push_back(std::move(pair[i][j]));
      if (vs_gt[i]) truth[i].push_back(std::move(*vs_gt[i]));
    }
  });

  json out;
  out["metric"] = "seg";
  out["model"] = model_path.string();
  out["results"] = json::array();
  std::vector<double> qanet_rel, baseline_rel;
  for (std::size_t i = 0; i < n; ++i) {
    double sum = 0;
    int count = 0;
    for (std::size_t j = 0; j < n; ++j)
      if (const double v = pooled_seg(cross[i][j]); i != j && !std::isnan(v)) sum += v, ++count;
    const double baseline = count ? sum / count : NAN;
    const double pred = predicted[i].weight > 0 ? predicted[i].score : NAN;
    json r = {{"result", o.results[i]}, {"frames", scored[i].size()}, {"predicted", opt_json(pred)},
              {"baseline", opt_json(baseline)}};
    if (const auto iv = std::isnan(pred) ? std::nullopt : assessor.interval(pred, 0.9)) r["interval_90"] = {iv->low, iv->high};
    if (!o.gt.empty()) {
      const double t = pooled_seg(truth[i]);
      const double qe = relative_error(pred, t), be = relative_error(baseline, t);
      r["true"] = opt_json(t);
      r["annotated_frames"] = truth[i].size();
      r["qanet_relative_error"] = opt_json(qe);
      r["baseline_relative_error"] = opt_json(be);
      if (!std::isnan(qe)) qanet_rel.push_back(qe);
      if (!std::isnan(be)) baseline_rel.push_back(be);
    }
    out["results"].push_back(r);
  }
  auto mean = [](const std::vector<double>& v) {
    double s = 0;
    for (const double x : v) s += x;
    return v.empty() ? json(nullptr) : json(s / static_cast<double>(v.size()));
  };
  if (!o.gt.empty()) {
    out["gt"] = o.gt;
    out["mean_qanet_relative_error"] = mean(qanet_rel);
    out["mean_baseline_relative_error"] = mean(baseline_rel);
  }

  auto cell = [](const json& v, const char* f) {
    if (v.is_null()) return std::string("-");
    char b[32];
    std::snprintf(b, sizeof b, f, v.get<double>());
    return std::string(b);
  };
  if (!o.csv.empty()) {
    std::ostringstream c;
    c << "result,frames,predicted,baseline" << (o.gt.empty() ? "" : ",true,qanet_relative_error,baseline_relative_error")
      << "\n";
    for (const auto& r : out["results"]) {
      c << '"' << r["result"].get<std::string>() << "\"," << r["frames"].get<std::size_t>() << ','
        << cell(r["predicted"], "%.6f") << ',' << cell(r["baseline"], "%.6f");
      if (!o.gt.empty())
        c << ',' << cell(r["true"], "%.6f") << ',' << cell(r["qanet_relative_error"], "%.6f") << ','
          << cell(r["baseline_relative_error"], "%.6f");
      c << "\n";
    }
    qanet::write_file_atomic(o.csv, c.str());
  }
  if (o.json) {
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  std::printf("qanet compare (model %s): predicted pooled SEG and the cross-method baseline\n",
              model_path.filename().c_str());
  auto pct = [&](const json& v) { return v.is_null() ? std::string("-") : cell(json(100 * v.get<double>()), "%.1f%%"); };
  std::printf("%-40s %7s %9s %9s", "result", "frames", "predicted", "baseline");
  if (!o.gt.empty()) std::printf(" %9s %10s %10s", "true", "qanet err", "base err");
  std::printf("\n");
  for (const auto& r : out["results"]) {
    std::printf("%-40s %7zu %9s %9s", r["result"].get<std::string>().c_str(), r["frames"].get<std::size_t>(),
                cell(r["predicted"], "%.4f").c_str(), cell(r["baseline"], "%.4f").c_str());
    if (!o.gt.empty())
      std::printf(" %9s %10s %10s", cell(r["true"], "%.4f").c_str(), pct(r["qanet_relative_error"]).c_str(),
                  pct(r["baseline_relative_error"]).c_str());
    std::printf("\n");
  }
  if (!o.gt.empty())
    std::printf("mean relative error: qanet %s, cross-method baseline %s\n", pct(out["mean_qanet_relative_error"]).c_str(),
                pct(out["mean_baseline_relative_error"]).c_str());
  return 0;
}

int run(const Options& o) {
  if (o.results.size() < 2)
    throw qanet::InvalidArgument("give at least two --results folders (the baseline judges each by the others)");
  const fs::path model = qanet::cli::find_model(o.model);
  return qanet::nn::read_model_info(model).config.dim == 2 ? run_dim<2>(o, model) : run_dim<3>(o, model);
}

qanet::cli::RegisterCommand registration{
    "compare",
    "Compare segmentation results of the same images: predicted pooled SEG, the cross-method baseline and, with "
    "--gt, the truth (the QANet paper's Table 3)",
    [](CLI::App& app) {
      auto o = std::make_shared<Options>();
      app.add_option("--images", o->images, "The CTC image folder (tTTT.tif)")->required()->check(CLI::ExistingDirectory);
      app.add_option("--results", o->results, "Two or more CTC result folders (maskTTT.tif)")
          ->required()
          ->check(CLI::ExistingDirectory);
      app.add_option("--gt", o->gt, "The annotation (a CTC SEG folder of man_segTTT.tif) for true scores")
          ->check(CLI::ExistingDirectory);
      app.add_option("--model", o->model, "Model file (default: $QANET_MODEL or the bundled 2D SEG model)");
      app.add_option("--csv", o->csv, "Also write the table as CSV (atomically)");
      app.add_flag("--json", o->json, "Print one JSON object");
      return [o] { return run(*o); };
    }};

}  // namespace
