#pragma once
// Shared by `qanet evaluate` and `qanet demo`: predicted against true scores, the paper's
// Table 1 statistics (SPEC §8) and the two plots (scatter, hit-rate curve) as SVG.

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "qanet/io/atomic_file.hpp"
#include "qanet/io/svg_plot.hpp"
#include "qanet/metrics/regression.hpp"

namespace qanet::cli {

inline nlohmann::json stats_json(const std::vector<double>& predicted, const std::vector<double>& truth) {
  const RegressionStats s = regression_stats(predicted, truth);
  auto opt = [](const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); };
  return {{"n", s.n},       {"pearson", opt(s.pearson)}, {"spearman", opt(s.spearman)}, {"mae", s.mae},
          {"rmse", s.rmse}, {"bias", s.bias},            {"auc", s.hit_auc}};
}

inline std::string stats_line(const nlohmann::json& j) {
  auto f = [&](const char* k) {
    if (j[k].is_null()) return std::string("undefined");
    char b[32];
    std::snprintf(b, sizeof b, "%.3f", j[k].get<double>());
    return std::string(b);
  };
  return "n " + std::to_string(j["n"].get<long long>()) + "  Pearson " + f("pearson") + "  Spearman " +
         f("spearman") + "  MAE " + f("mae") + "  RMSE " + f("rmse") + "  bias " + f("bias") + "  hit-rate AUC " +
         f("auc");
}

// scatter.svg (predicted against true, with y = x) and hit_rate.svg (h(t) on [0, 1]).
inline void write_evaluation_plots(const std::filesystem::path& dir, const std::vector<double>& predicted,
                                   const std::vector<double>& truth, const std::string& metric) {
  const bool unit = unit_interval_metric(metric);
  PlotOptions so;
  so.title = "Predicted against true " + metric + " (n = " + std::to_string(truth.size()) + ")";
  so.x_label = "true " + metric;
  so.y_label = "predicted " + metric;
  so.diagonal = true;
  if (unit) so.x_min = so.y_min = 0, so.x_max = so.y_max = 1;
  write_file_atomic(dir / "scatter.svg", svg_plot({{truth, predicted, "", "#1f77b4", false}}, so));
  PlotSeries h{{}, {}, "", "#d62728", true};
  const double tmax = unit ? 1.0 : 10.0;
  for (int k = 0; k <= 200; ++k) {
    const double t = tmax * k / 200.0;
    h.x.push_back(t);
    h.y.push_back(hit_rate(predicted, truth, t));
  }
  PlotOptions ho;
  ho.title = "Hit rate: fraction with |predicted - true| < t";
  ho.x_label = "tolerance t";
  ho.y_label = "hit rate";
  ho.x_min = 0, ho.x_max = tmax, ho.y_min = 0, ho.y_max = 1;
  write_file_atomic(dir / "hit_rate.svg", svg_plot({h}, ho));
}

}  // namespace qanet::cli
