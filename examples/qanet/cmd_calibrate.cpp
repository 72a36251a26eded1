// qanet calibrate: a linear recalibration of a model's output, fitted on frames with known
// true scores, stored in a copy of the model file. A network trained with a squared loss
// shrinks its predictions towards the mean where it is unsure (low scores come out too high,
// high ones too low); the least-squares line true ~ intercept + slope * raw undoes that. The
// Assessor applies it to every patch score. Fit it on data never used to test the model.
// It also stores the residuals that conformal intervals of scores need (qa/interval.hpp).
#include <cstdio>
#include <cmath>
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

struct Options {
  qanet::cli::TripleSources sources;
  std::string model, out;
};

template <int Dim>
int run_dim(const Options& o, const fs::path& model) {
  const qanet::Assessor<Dim> assessor(model);
  const std::string metric = qanet::cli::model_metric(assessor);
  qanet::AssessOptions raw;
  raw.calibrated = false;  // fit on the network's own output, not on an earlier recalibration
  const auto triples = qanet::cli::evaluate_triples(assessor, raw, metric, o.sources.find(), "qanet calibrate");

  // A per-object model is fitted on its objects (every object of every frame), a frame model on frames.
  const bool objects = assessor.per_object();
  std::vector<double> pred, truth;
  std::vector<int> fold;  // interval residuals: five folds by image (its perturbed copies stay together)
  for (const auto& t : triples) {
    const int f = static_cast<int>(
        qanet::stable_hash((t.image.parent_path().filename() / t.image.filename()).string()) % 5);
    if (objects) {
      pred.insert(pred.end(), t.object_predicted.begin(), t.object_predicted.end());
      truth.insert(truth.end(), t.object_truth.begin(), t.object_truth.end());
      fold.insert(fold.end(), t.object_truth.size(), f);
    } else {
      pred.push_back(t.predicted), truth.push_back(t.truth), fold.push_back(f);
    }
  }
  const char* unit = objects ? "objects" : "frames";
  const qanet::LinearFit fit = qanet::least_squares_line(pred, truth);
  if (pred.size() < 20)
    std::fprintf(stderr, "qanet calibrate: only %zu %s; the line will be uncertain (use more, or --perturbations)\n",
                 pred.size(), unit);
  if (!(fit.slope > 0))
    throw qanet::UndefinedValue("the model's output does not rise with the true score on these frames (slope " +
                                std::to_string(fit.slope) + "); nothing written");
  std::optional<qanet::ConformalResiduals> residuals;
  try {
    residuals = qanet::cross_fitted_residuals(pred, truth, fold, [&](double v) { return assessor.clamp_score(v); });
  } catch (const qanet::InvalidArgument& e) {
    std::fprintf(stderr, "qanet calibrate: no interval residuals stored (%s)\n", e.what());
  }
  qanet::nn::ModelInfo info;
  auto net = qanet::nn::load_model<float, Dim>(model, &info);
  if (!info.training.is_object()) info.training = nlohmann::json::object();
  info.training["calibration"] = {{"intercept", fit.intercept},
                                  {"slope", fit.slope},
                                  {objects ? "objects" : "frames", pred.size()},
                                  {"data", o.sources.describe()},
                                  {"command", qanet::cli::invocation()}};
  if (residuals) {
    nlohmann::json r = nlohmann::json::array();
    for (const double v : residuals->sorted) r.push_back(std::round(v * 1e6) / 1e6);  // 1e-6 is plenty
    info.training["calibration"]["residuals"] = r;
    info.training["calibration"]["residuals_method"] = "absolute, 5-fold cross-fitted, folds by image";
  }
  qanet::nn::save_model(o.out, net, info);

  std::vector<double> mapped;
  for (const double p : pred) mapped.push_back(assessor.clamp_score(fit(p)));
  std::printf("qanet calibrate: %s = %.4f + %.4f x raw output, fitted on %zu %s; written to %s\n", metric.c_str(),
              fit.intercept, fit.slope, pred.size(), unit, o.out.c_str());
  std::printf("  raw:        %s\n", qanet::cli::stats_line(qanet::cli::stats_json(pred, truth)).c_str());
  std::printf("  calibrated: %s (same frames, whole-frame map; check on other frames with qanet evaluate)\n",
              qanet::cli::stats_line(qanet::cli::stats_json(mapped, truth)).c_str());
  if (residuals) {
    auto width = [&](double c) {  // too few residuals for the coverage: the metric's whole range
      const double q = residuals->half_width(c);
      char b[32];
      std::snprintf(b, sizeof b, "%.3f", q);
      return std::isfinite(q) ? std::string(b) : std::string("the whole range");
    };
    std::printf("  intervals:  half-width %s at 80%%, %s at 90%%, %s at 95%% coverage (%zu cross-fitted residuals; "
                "qanet score prints them)\n",
                width(0.8).c_str(), width(0.9).c_str(), width(0.95).c_str(), residuals->sorted.size());
  }
  return 0;
}

int run(const Options& o) {
  const fs::path model = qanet::cli::find_model(o.model);
  return qanet::nn::read_model_info(model).config.dim == 2 ? run_dim<2>(o, model) : run_dim<3>(o, model);
}

qanet::cli::RegisterCommand registration{
    "calibrate", "Fit a linear recalibration of a model's output on frames with known scores; write the model with it",
    [](CLI::App& app) {
      auto o = std::make_shared<Options>();
      app.add_option("--out", o->out, "The recalibrated model file (written atomically)")->required();
      app.add_option("--model", o->model, "Model file (default: $QANET_MODEL or the bundled model)");
      o->sources.add_options(app);
      return [o] { return run(*o); };
    }};

}  // namespace
