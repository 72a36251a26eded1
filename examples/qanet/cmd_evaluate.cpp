// qanet evaluate: how well a model predicts the true quality, on (image, result, ground truth)
// triples: a CTC dataset with NN/, NN_GT/SEG and NN_RES* folders (as `qanet simulate
// --perturbations K` writes). Prints the paper's Table 1 statistics over frames, and per result
// folder the predicted against the true pooled score.
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <tbb/parallel_for.h>

#include "command.hpp"
#include "evaluation.hpp"
#include "model_lookup.hpp"
#include "qanet/io.hpp"
#include "qanet/metrics.hpp"
#include "qanet/qa/assessor.hpp"
#include "qanet/qa/training_data.hpp"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

struct Options {
  std::vector<std::string> data;
  std::string model, plots;
  bool json = false;
};

struct Triple {
  fs::path image, gt, result;
  std::string folder;  // the result folder, e.g. 02_RES_TDG-run1
  int frame = 0;
  double truth = NAN, predicted = NAN;
  qanet::Index gt_objects = 0, objects = 0;
  double pooled_sum = 0;  // the per-object sum the pooled metric adds (SEG: sum of Jaccard)
  std::string error;
};

std::vector<Triple> find_triples(const fs::path& root) {
  std::vector<Triple> out;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) throw qanet::IoError("evaluation data " + root.string() + ": not a folder");
  for (const auto& seq : fs::directory_iterator(root)) {
    const std::string nn = seq.path().filename().string();
    if (!seq.is_directory() || nn.size() != 2 || !std::isdigit(static_cast<unsigned char>(nn[0]))) continue;
    const fs::path seg = root / (nn + "_GT") / "SEG";
    if (!fs::is_directory(seg, ec)) continue;
    const auto images = qanet::list_ctc_images(seq.path());
    const auto gts = qanet::list_ctc_gt_frames(seg);
    std::vector<fs::path> results;
    for (const auto& e : fs::directory_iterator(root))
      if (e.is_directory() && e.path().filename().string().rfind(nn + "_RES", 0) == 0) results.push_back(e.path());
    std::sort(results.begin(), results.end());
    for (const auto& r : results)
      for (const auto& [t, mask] : qanet::list_ctc_results(r)) {
        const auto g = gts.find(t);
        const auto i = images.find(t);
        if (g == gts.end() || i == images.end()) continue;
        Triple tr;
        tr.image = i->second, tr.gt = g->second, tr.result = mask, tr.folder = r.filename().string(), tr.frame = t;
        out.push_back(tr);
      }
  }
  return out;
}

template <int Dim>
void evaluate_triple(const qanet::Assessor<Dim>& assessor, const std::string& metric, Triple& t) {
  const auto image = qanet::read_tiff_as<float, Dim>(t.image);
  const auto gt = qanet::read_labels<Dim>(t.gt);
  const auto mask = qanet::read_labels<Dim>(t.result);
  qanet::MetricOptions mo;
  mo.boundary = metric != "seg";
  const auto m = qanet::evaluate_frame(gt, mask, mo);
  t.gt_objects = m.gt_objects;
  const auto v = qanet::metric_value(m, metric);
  if (!v) {
    t.error = "true " + metric + " undefined";
    return;
  }
  t.truth = *v;
  t.pooled_sum = *v * static_cast<double>(m.gt_objects);
  try {
    const auto a = assessor.assess(image.cview(), mask.cview());
    t.predicted = a.score;
    t.objects = a.objects;
  } catch (const qanet::UndefinedValue& e) {
    t.error = e.what();
  }
}

template <int Dim>
int run_dim(const Options& o, const fs::path& model) {
  const qanet::Assessor<Dim> assessor(model);
  std::string metric = assessor.info().metric;
  for (auto& c : metric) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::vector<Triple> triples;
  for (const auto& d : o.data) {
    auto t = find_triples(d);
    triples.insert(triples.end(), t.begin(), t.end());
  }
  if (triples.empty())
    throw qanet::IoError("no (image, result, ground truth) triple found: want NN/tTTT.tif, NN_GT/SEG/man_segTTT.tif "
                         "and NN_RES*/maskTTT.tif");
  std::atomic<std::size_t> done{0};
  const bool progress = isatty(fileno(stderr));
  tbb::parallel_for(std::size_t{0}, triples.size(), [&](std::size_t i) {
    evaluate_triple<Dim>(assessor, metric, triples[i]);
    if (progress) std::fprintf(stderr, "\rqanet evaluate: %zu/%zu", ++done, triples.size());
  });
  if (progress) std::fprintf(stderr, "\n");

  std::vector<double> pred, truth;
  std::map<std::string, std::pair<std::vector<const Triple*>, int>> folders;
  for (const auto& t : triples) {
    if (!t.error.empty()) {
      std::fprintf(stderr, "qanet evaluate: skipped %s: %s\n", t.result.c_str(), t.error.c_str());
      continue;
    }
    pred.push_back(t.predicted);
    truth.push_back(t.truth);
    folders[t.result.parent_path().string()].first.push_back(&t);
  }
  if (pred.size() < 2) throw qanet::UndefinedValue("fewer than two frames could be evaluated");
  json out = qanet::cli::stats_json(pred, truth);
  out["metric"] = metric;
  out["model"] = model.string();
  // Per result folder: the pooled true score (CTC: over all GT objects) against the predicted
  // sequence score (object-weighted mean over frames).
  out["folders"] = json::array();
  double worst = 0;
  for (const auto& [folder, v] : folders) {
    double tsum = 0, tn = 0, psum = 0, pn = 0;
    for (const Triple* t : v.first) {
      tsum += t->pooled_sum, tn += static_cast<double>(t->gt_objects);
      psum += t->predicted * static_cast<double>(t->objects), pn += static_cast<double>(t->objects);
    }
    const double tv = tsum / tn, pv = psum / pn;
    worst = std::max(worst, std::abs(pv - tv));
    out["folders"].push_back({{"result", folder}, {"frames", v.first.size()}, {"true", tv}, {"predicted", pv},
                              {"error", pv - tv}});
  }
  out["worst_folder_error"] = worst;
  out["samples"] = json::array();
  for (const auto& t : triples)
    if (t.error.empty())
      out["samples"].push_back({{"result", t.result.string()}, {"true", t.truth}, {"predicted", t.predicted}});
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
    if (!o.plots.empty()) std::printf("plots: %s/scatter.svg, %s/hit_rate.svg\n", o.plots.c_str(), o.plots.c_str());
  }
  return 0;
}

int run(const Options& o) {
  const fs::path model = qanet::cli::find_model(o.model);
  return qanet::nn::read_model_info(model).config.dim == 2 ? run_dim<2>(o, model) : run_dim<3>(o, model);
}

qanet::cli::RegisterCommand registration{
    "evaluate", "Compare a model's predictions with the true scores of results with ground truth",
    [](CLI::App& app) {
      auto o = std::make_shared<Options>();
      app.add_option("--data", o->data, "CTC dataset folders with NN/, NN_GT/SEG and NN_RES* (e.g. from qanet simulate)")
          ->required()
          ->check(CLI::ExistingDirectory);
      app.add_option("--model", o->model, "Model file (default: $QANET_MODEL or the bundled model)");
      app.add_option("--plots", o->plots, "Write scatter.svg and hit_rate.svg into this folder");
      app.add_flag("--json", o->json, "Print one JSON object");
      return [o] { return run(*o); };
    }};

}  // namespace
