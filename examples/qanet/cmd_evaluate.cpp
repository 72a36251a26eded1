// qanet evaluate: how well a model predicts the true quality, on (image, result, ground truth)
// triples: a CTC dataset with NN/, NN_GT/SEG and NN_RES* folders (as `qanet simulate
// --perturbations K` writes), or perturbed copies of any annotated frames (--gt). Prints the
// paper's Table 1 statistics over frames, and per result folder the predicted against the true
// pooled score.
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "command.hpp"
#include "evaluation.hpp"
#include "model_lookup.hpp"
#include "triples.hpp"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

struct Options {
  qanet::cli::TripleSources sources;
  std::string model, metric, plots;
  bool json = false;
  double coverage = 0.9;
};

// How often the conformal intervals of a model calibrated with residuals hold the truth.
struct CoverageCount {
  std::size_t covered = 0, n = 0;
  double width = 0;
  void add(const std::optional<qanet::ScoreInterval>& i, double truth) {
    if (!i) return;
    covered += i->contains(truth), ++n, width += i->width();
  }
  json to_json() const {
    return {{"n", n}, {"covered", n ? double(covered) / double(n) : NAN}, {"mean_width", n ? width / double(n) : NAN}};
  }
};

template <int Dim>
int run_dim(const Options& o, const fs::path& model) {
  const qanet::Assessor<Dim> assessor(model);
  const std::string metric = qanet::cli::model_metric(assessor);
  const auto triples = qanet::cli::evaluate_triples(assessor, {}, metric, o.sources.find(), "qanet evaluate");

  std::vector<double> pred, truth;
  std::map<std::string, std::vector<const qanet::cli::Triple*>> folders;
  for (const auto& t : triples) {
    pred.push_back(t.predicted);
    truth.push_back(t.truth);
    folders[t.folder].push_back(&t);
  }
  json out = qanet::cli::stats_json(pred, truth);
  out["metric"] = metric;
  out["model"] = model.string();
  // Per result folder: the pooled true score (CTC: over all GT objects) against the predicted
  // sequence score (object-weighted mean over frames).
  out["folders"] = json::array();
  double worst = 0;
  CoverageCount frame_cover, folder_cover;
  for (const auto& t : triples) frame_cover.add(assessor.interval(t.predicted, o.coverage), t.truth);
  for (const auto& [folder, v] : folders) {
    double tsum = 0, tn = 0, psum = 0, pn = 0;
    for (const auto* t : v) {
      tsum += t->pooled_sum, tn += static_cast<double>(t->gt_objects);
      psum += t->predicted * t->weight, pn += t->weight;
    }
    const double tv = tsum / tn, pv = psum / pn;
    worst = std::max(worst, std::abs(pv - tv));
    folder_cover.add(assessor.interval(pv, o.coverage), tv);
    out["folders"].push_back({{"result", folder}, {"frames", v.size()}, {"true", tv}, {"predicted", pv},
                              {"error", pv - tv}});
  }
  out["worst_folder_error"] = worst;
  if (assessor.has_intervals())
    out["intervals"] = {{"coverage", o.coverage}, {"frames", frame_cover.to_json()}, {"folders", folder_cover.to_json()}};
  out["samples"] = json::array();
  for (const auto& t : triples)
    out["samples"].push_back({{"result", t.name()}, {"true", t.truth}, {"predicted", t.predicted}});
  if (!o.plots.empty()) qanet::cli::write_evaluation_plots(o.plots, pred, truth, metric);

  if (o.json) {
    std::printf("%s\n", out.dump(2).c_str());
  } else {
    std::printf("qanet evaluate: model %s, predicted %s on %zu frames\n", model.c_str(), metric.c_str(), pred.size());
    std::printf("  %s\n", qanet::cli::stats_line(out).c_str());
    std::printf("per result folder (pooled):\n  %-50s %7s %9s %9s %8s\n", "result", "frames", "true", "predicted", "error");
    for (const auto& f : out["folders"])
      std::printf("  %-50s %7zu %9.4f %9.4f %+8.4f\n", f["result"].get<std::string>().c_str(), f["frames"].get<std::size_t>(),
                  f["true"].get<double>(), f["predicted"].get<double>(), f["error"].get<double>());
    if (assessor.has_intervals()) {
      const json& fr = out["intervals"]["frames"];
      const json& fo = out["intervals"]["folders"];
      std::printf("%g%% intervals hold the truth for %.1f%% of %zu frames (mean width %.3f) and %.1f%% of %zu folders\n",
                  100 * o.coverage, 100 * fr["covered"].get<double>(), fr["n"].get<std::size_t>(),
                  fr["mean_width"].get<double>(), 100 * fo["covered"].get<double>(), fo["n"].get<std::size_t>());
    }
    if (!o.plots.empty()) std::printf("plots: %s/scatter.svg, %s/hit_rate.svg\n", o.plots.c_str(), o.plots.c_str());
  }
  return 0;
}

int run(const Options& o) {
  const fs::path model = qanet::cli::find_frame_model(o.model, o.metric);
  return qanet::nn::read_model_info(model).config.dim == 2 ? run_dim<2>(o, model) : run_dim<3>(o, model);
}

qanet::cli::RegisterCommand registration{
    "evaluate", "Compare a model's predictions with the true scores of results with ground truth",
    [](CLI::App& app) {
      auto o = std::make_shared<Options>();
      o->sources.add_options(app);
      app.add_option("--model", o->model, "Model file (default: $QANET_MODEL or the bundled model)");
      app.add_option("--metric", o->metric,
                     "The metric to predict (seg, mhd95, asd, nemhd): without --model, the bundled model of it; "
                     "with --model, checked against the model's")
          ->check(CLI::IsMember({"seg", "mhd95", "asd", "nemhd"}));
      app.add_option("--plots", o->plots, "Write scatter.svg and hit_rate.svg into this folder");
      app.add_option("--coverage", o->coverage,
                     "Coverage of the score intervals checked, for models calibrated with residuals (default 0.9)")
          ->check(CLI::Range(0.5, 0.999));
      app.add_flag("--json", o->json, "Print one JSON object");
      return [o] { return run(*o); };
    }};

}  // namespace
