// qanet demo: the whole idea in one command, on built-in synthetic data. Simulates microscopy
// images with known ground truth, makes segmentations of them at several error severities,
// scores each with the bundled model WITHOUT looking at the ground truth, and compares the
// predictions with the true SEG; writes a small report with plots and heat maps.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <tbb/parallel_for.h>

#include "command.hpp"
#include "evaluation.hpp"
#include "heatmap.hpp"
#include "model_lookup.hpp"
#include "qanet/io.hpp"
#include "qanet/metrics.hpp"
#include "qanet/perturb.hpp"
#include "qanet/qa/assessor.hpp"
#include "qanet/simulate.hpp"

namespace {

namespace fs = std::filesystem;

struct Options {
  std::string out = "qanet-demo", model;
  int frames = 4;
  std::uint64_t seed = 20261127;  // never used in training (the bundled model trained on seed 1 streams)
};

struct Case {
  int frame = 0;
  double severity = 0, truth = 0, predicted = 0;
  qanet::Index objects = 0;
};

int run(const Options& o) {
  const fs::path model = qanet::cli::find_model(o.model);
  const qanet::Assessor<2> assessor(model);
  if (assessor.info().metric != "seg" && assessor.info().metric != "SEG")
    throw qanet::InvalidArgument("the demo needs a SEG model; " + model.string() + " predicts " + assessor.info().metric);
  const std::vector<double> severities{0.0, 0.1, 0.25, 0.4, 0.55, 0.7, 0.85, 1.0};
  std::printf("qanet demo: %d simulated 420x420 images x %zu segmentations of growing error severity,\n"
              "scored by %s without ground truth, then compared with their true SEG.\n\n",
              o.frames, severities.size(), model.filename().c_str());

  qanet::SimulationOptions<2> sim;  // SIM+-like defaults
  std::vector<qanet::SimulatedImage<2>> images(static_cast<std::size_t>(o.frames));
  tbb::parallel_for(0, o.frames, [&](int f) { images[f] = qanet::simulate_image(sim, o.seed, static_cast<std::uint64_t>(f)); });

  std::vector<Case> cases;
  for (int f = 0; f < o.frames; ++f)
    for (double s : severities) cases.push_back({f, s});
  std::vector<qanet::LabelImage<2>> masks(cases.size());
  std::vector<qanet::Assessment<2>> assessments(cases.size());
  tbb::parallel_for(std::size_t{0}, cases.size(), [&](std::size_t i) {
    Case& c = cases[i];
    const auto& img = images[static_cast<std::size_t>(c.frame)];
    qanet::PerturbOptions po;
    masks[i] = qanet::perturb_labels_at(img.labels.cview(), po, c.severity, o.seed + 1000 * i).labels;
    c.truth = *qanet::evaluate_frame(img.labels, masks[i], qanet::MetricOptions{10.0, false, {}}).seg;
    try {
      assessments[i] = assessor.assess(img.image.cview(), masks[i].cview());
      c.predicted = assessments[i].score;
      c.objects = assessments[i].objects;
    } catch (const qanet::UndefinedValue&) {  // everything erased: nothing to score
      c.predicted = NAN;
    }
  });

  std::printf("%-6s %-9s %8s %10s %8s %8s\n", "image", "severity", "objects", "true SEG", "predicted", "error");
  std::vector<double> pred, truth;
  for (const Case& c : cases) {
    std::printf("%-6d %-9.2f %8lld %10.3f %9s %8s\n", c.frame, c.severity, static_cast<long long>(c.objects), c.truth,
                std::isnan(c.predicted) ? "-" : std::to_string(c.predicted).substr(0, 5).c_str(),
                std::isnan(c.predicted) ? "-" : (c.predicted >= c.truth ? "+" + std::to_string(c.predicted - c.truth).substr(0, 5) : std::to_string(c.predicted - c.truth).substr(0, 6)).c_str());
    if (!std::isnan(c.predicted)) pred.push_back(c.predicted), truth.push_back(c.truth);
  }
  const auto stats = qanet::cli::stats_json(pred, truth);
  std::printf("\n%s\n", qanet::cli::stats_line(stats).c_str());

  // The report: plots, one heat map per severity of the first image, and a page that links them.
  const fs::path out = o.out;
  qanet::cli::write_evaluation_plots(out, pred, truth, "seg");
  std::string md = "# qanet demo\n\nModel: `" + model.string() + "` (predicts SEG without ground truth).\n\n" +
                   std::to_string(o.frames) + " simulated images (seed " + std::to_string(o.seed) + "), each segmented " +
                   std::to_string(severities.size()) + " times with growing error severity.\n\n" +
                   "**" + qanet::cli::stats_line(stats) + "**\n\n![predicted against true](scatter.svg)\n" +
                   "![hit rate](hit_rate.svg)\n\n| image | severity | objects | true SEG | predicted |\n|---|---|---|---|---|\n";
  for (const Case& c : cases) {
    char row[160];
    std::snprintf(row, sizeof row, "| %d | %.2f | %lld | %.3f | %.3f |\n", c.frame, c.severity,
                  static_cast<long long>(c.objects), c.truth, c.predicted);
    md += row;
  }
  md += "\nHeat maps of image 0 (red: poor, green: good; white: the mask's outlines):\n\n";
  for (std::size_t i = 0; i < cases.size(); ++i) {
    if (cases[i].frame != 0 || std::isnan(cases[i].predicted)) continue;
    char name[64];
    std::snprintf(name, sizeof name, "heatmap_severity_%.2f.png", cases[i].severity);
    qanet::Image<float, 2> img = qanet::Image<float, 2>::from_view(images[0].image.cview());
    qanet::cli::write_picture(out / name, qanet::cli::patch_overlay(img, masks[i], assessments[i], true));
    char line[160];
    std::snprintf(line, sizeof line, "![severity %.2f: true %.3f, predicted %.3f](%s)\n", cases[i].severity,
                  cases[i].truth, cases[i].predicted, name);
    md += line;
  }
  qanet::write_file_atomic(out / "report.md", md);
  std::printf("report: %s (scatter.svg, hit_rate.svg, heat maps)\n", (out / "report.md").c_str());
  return 0;
}

qanet::cli::RegisterCommand registration{
    "demo", "Simulate images, segment them with errors, and predict their quality with the bundled model",
    [](CLI::App& app) {
      auto o = std::make_shared<Options>();
      app.add_option("--out", o->out, "Report folder");
      app.add_option("--model", o->model, "Model file (default: $QANET_MODEL or the bundled model)");
      app.add_option("--frames", o->frames, "Simulated images")->check(CLI::Range(1, 100));
      app.add_option("--seed", o->seed, "Seed of the simulated images and their errors");
      return [o] { return run(*o); };
    }};

}  // namespace
