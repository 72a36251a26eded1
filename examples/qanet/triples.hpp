#pragma once
// Shared by `qanet evaluate` and `qanet calibrate`: (image, result, ground truth) triples with
// the true score of each result and the model's prediction for it. Results come from a CTC
// dataset's NN_RES* folders, or are made on the fly: K perturbed copies (SPEC §6 pipeline) of
// every annotated frame that qa/datasets.hpp finds, so that any annotated data can serve.

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <numeric>
#include <string>
#include <vector>

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <tbb/parallel_for.h>

#include "qanet/io.hpp"
#include "qanet/metrics.hpp"
#include "qanet/perturb.hpp"
#include "qanet/qa/assessor.hpp"
#include "qanet/qa/datasets.hpp"
#include "qanet/qa/training_data.hpp"

namespace qanet::cli {

struct Triple {
  std::filesystem::path image, gt, result;  // result empty: a perturbed copy of gt (perturb_seed)
  std::uint64_t perturb_seed = 0;
  int segmenter_error = -1;  // >= 0: the mask is this SegmenterError of gt (seeded by perturb_seed)
  std::string folder;  // what per-folder pooling groups by: a result folder, or "SEQ (perturbed k)"
  double truth = NAN, predicted = NAN;
  Index gt_objects = 0, objects = 0;
  double weight = 0;  // the frame's weight in a predicted sequence score (Assessment::weight_objects)
  double pooled_sum = 0;  // the per-object sum the pooled metric adds (SEG: sum of Jaccard)
  // Per-object models (metric iou): every mask object's true and predicted IoU, by label; truth
  // and predicted are then their means over the frame's objects.
  std::vector<double> object_truth, object_predicted;
  std::string error;

  std::string name() const {
    return result.empty() ? gt.string() + " perturbed (seed " + std::to_string(perturb_seed) + ")" : result.string();
  }
};

// The triples of a CTC dataset folder: NN/tTTT.tif, NN_GT/SEG/man_segTTT.tif, NN_RES*/maskTTT.tif.
inline std::vector<Triple> find_result_triples(const std::filesystem::path& root) {
  namespace fs = std::filesystem;
  std::vector<Triple> out;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) throw IoError("evaluation data " + root.string() + ": not a folder");
  for (const auto& seq : fs::directory_iterator(root)) {
    const std::string nn = seq.path().filename().string();
    if (!seq.is_directory() || nn.size() != 2 || !std::isdigit(static_cast<unsigned char>(nn[0]))) continue;
    const fs::path seg = root / (nn + "_GT") / "SEG";
    if (!fs::is_directory(seg, ec)) continue;
    const auto images = list_ctc_images(seq.path());
    const auto gts = list_ctc_gt_frames(seg);
    std::vector<fs::path> results;
    for (const auto& e : fs::directory_iterator(root))
      if (e.is_directory() && e.path().filename().string().rfind(nn + "_RES", 0) == 0) results.push_back(e.path());
    std::sort(results.begin(), results.end());
    for (const auto& r : results)
      for (const auto& [t, mask] : list_ctc_results(r)) {
        const auto g = gts.find(t);
        const auto i = images.find(t);
        if (g == gts.end() || i == images.end()) continue;
        Triple tr;
        tr.image = i->second, tr.gt = g->second, tr.result = mask, tr.folder = r.string();
        out.push_back(tr);
      }
  }
  return out;
}

// K perturbed copies of every annotated frame under `root` (any layout of qa/datasets.hpp).
// The seeds depend on `seed`, the sequence name (e.g. Fluo-N2DH-SIM+/01), the file name and k
// only, so the same data gives the same masks wherever it lies.
// With segmenter_errors, every frame also gets one mask of each segmenter-like error mode
// (perturb/segmenter_errors.hpp) at a strength drawn from the same seed; with clean_copies,
// the ground truth itself as a mask (a perfect segmentation, the limit good segmenters approach).
inline std::vector<Triple> perturbed_triples(const std::filesystem::path& root, int k_max, std::uint64_t seed,
                                             DataPart part = DataPart::all, bool segmenter_errors = false,
                                             bool clean_copies = false) {
  std::vector<Triple> out;
  for (const auto& f : files_in_part(find_annotated_files(root), part)) {
    const std::uint64_t h = stable_hash(f.sequence + "/" + f.labels.filename().string());
    if (clean_copies) {
      Triple tr;
      tr.image = f.image, tr.gt = f.labels, tr.result = f.labels;
      tr.folder = f.sequence + " (ground truth)";
      out.push_back(tr);
    }
    for (int k = 1; k <= k_max; ++k) {
      Triple tr;
      tr.image = f.image, tr.gt = f.labels;
      tr.perturb_seed = Rng::derive(seed, {0xca1b, h, static_cast<std::uint64_t>(k)})();
      tr.folder = f.sequence + " (perturbed " + std::to_string(k) + ")";
      out.push_back(tr);
    }
    for (int m = 0; segmenter_errors && m < segmenter_error_count; ++m) {
      Triple tr;
      tr.image = f.image, tr.gt = f.labels;
      tr.perturb_seed = Rng::derive(seed, {0x5e9e, h, static_cast<std::uint64_t>(m)})();
      tr.segmenter_error = m;
      tr.folder = f.sequence + " (" + segmenter_error_name(static_cast<SegmenterError>(m)) + ")";
      out.push_back(tr);
    }
  }
  return out;
}

// Where the triples come from: the --data, --gt, --perturbations and --seed options.
struct TripleSources {
  std::vector<std::string> data, gt;
  int perturbations = 5;
  std::uint64_t seed = 1;
  std::string part = "all";
  bool segmenter_errors = false;
  bool clean_copies = false;

  void add_options(CLI::App& app) {
    app.add_option("--data", data, "CTC dataset folders with NN/, NN_GT/SEG and NN_RES* (e.g. from qanet simulate)")
        ->check(CLI::ExistingDirectory);
    app.add_option("--gt", gt,
                   "Annotated data (CTC dataset or sequence, or images/ and masks/): use --perturbations "
                   "perturbed copies of every annotated frame")
        ->check(CLI::ExistingDirectory);
    app.add_option("--perturbations", perturbations, "Perturbed copies per frame of --gt data (default 5)")
        ->check(CLI::PositiveNumber);
    app.add_option("--seed", seed, "Seed of the perturbations of --gt data");
    app.add_option("--part", part,
                   "Of --gt data in the images/ + masks/ layout, only the images of this part of the hash split "
                   "(train, calibration, test; default all)")
        ->check(CLI::IsMember({"all", "train", "calibration", "test"}));
    app.add_flag("--segmenter-errors", segmenter_errors,
                 "Also one mask per segmenter-like error mode (missed dim cells, fragments, merges, specks, "
                 "iso-level outlines, holes, thresholds, watersheds) of every --gt frame");
    app.add_flag("--clean-copies", clean_copies,
                 "Also the ground truth itself of every --gt frame as a mask (a perfect segmentation: good "
                 "segmenters come close to it, and a calibration without any fits the top of the range badly)");
  }

  std::vector<Triple> find() const {
    if (data.empty() && gt.empty())
      throw InvalidArgument("give --data (results with ground truth) or --gt (annotated frames to perturb)");
    std::vector<Triple> out;
    for (const auto& d : data) {
      auto t = find_result_triples(d);
      out.insert(out.end(), t.begin(), t.end());
    }
    for (const auto& d : gt) {
      auto t = perturbed_triples(d, perturbations, seed, parse_data_part(part), segmenter_errors, clean_copies);
      out.insert(out.end(), t.begin(), t.end());
    }
    return out;
  }

  // One line per source, for provenance.
  std::vector<std::string> describe() const {
    std::vector<std::string> out;
    for (const auto& d : data) out.push_back(std::filesystem::path(d).lexically_normal().string());
    for (const auto& d : gt)
      out.push_back(std::filesystem::path(d).lexically_normal().string() + " (" + std::to_string(perturbations) +
                    " perturbations" + (segmenter_errors ? " + segmenter errors" : "") +
                    (clean_copies ? " + the ground truth" : "") + ", seed " +
                    std::to_string(seed) + (part != "all" ? ", part " + part : "") + ")");
    return out;
  }
};

// Fills truth and prediction (or error) of one triple.
template <int Dim>
void evaluate_triple(const Assessor<Dim>& assessor, const AssessOptions& opt, const std::string& metric, Triple& t) {
  const auto image = read_tiff_as<float, Dim>(t.image);
  const auto gt = read_labels<Dim>(t.gt);
  LabelImage<Dim> mask;
  if (!t.result.empty()) {
    mask = read_labels<Dim>(t.result);
  } else if (t.segmenter_error >= 0) {
    const double strength = Rng(t.perturb_seed).uniform();
    mask = segmenter_error<Dim>(image.cview(), gt.cview(), static_cast<SegmenterError>(t.segmenter_error), strength,
                                t.perturb_seed);
  } else {
    mask = perturb_labels(gt.cview(), PerturbOptions{}, t.perturb_seed).labels;
  }
  if (metric == per_object_metric) {
    try {
      for (const auto& o : predicted_object_ious(gt, mask)) t.object_truth.push_back(o.iou);
      for (const auto& o : assessor.assess_objects(image.cview(), mask.cview(), opt))
        t.object_predicted.push_back(o.score);
    } catch (const UndefinedValue& e) {
      t.error = e.what();
      return;
    }
    if (t.object_truth.size() != t.object_predicted.size()) throw Error("per-object scores and truths differ in number");
    const double n = static_cast<double>(t.object_truth.size());
    t.truth = std::accumulate(t.object_truth.begin(), t.object_truth.end(), 0.0) / n;
    t.predicted = std::accumulate(t.object_predicted.begin(), t.object_predicted.end(), 0.0) / n;
    t.objects = static_cast<Index>(t.object_truth.size());
    t.weight = n;
    return;
  }
  // The frame's scale, measured once: neMHD's truth takes the tau of it, and assess() reuses it.
  AssessOptions frame_opt = opt;
  frame_opt.scale = assessor.scale_for(image.cview(), mask.cview(), opt);
  MetricOptions mo;
  mo.boundary = metric != "seg";
  if (metric == "nemhd") mo.tau = Assessor<Dim>::nemhd_tau(frame_opt.scale);
  const auto m = evaluate_frame(gt, mask, mo);
  t.gt_objects = m.gt_objects;
  const auto v = metric_value(m, metric);
  if (!v) {
    t.error = "true " + metric + " undefined";
    return;
  }
  t.truth = *v;
  t.pooled_sum = *v * static_cast<double>(m.gt_objects);
  try {
    const auto a = assessor.assess(image.cview(), mask.cview(), frame_opt);
    t.predicted = a.score;
    t.objects = a.objects;
    t.weight = a.weight_objects;
  } catch (const UndefinedValue& e) {
    t.error = e.what();
  }
}

// Evaluates all triples in parallel (progress on a terminal); reports and drops the failed ones.
template <int Dim>
std::vector<Triple> evaluate_triples(const Assessor<Dim>& assessor, const AssessOptions& opt, const std::string& metric,
                                     std::vector<Triple> triples, const char* command) {
  if (triples.empty())
    throw IoError("no (image, result, ground truth) triple found: want NN/tTTT.tif, NN_GT/SEG/man_segTTT.tif "
                  "and NN_RES*/maskTTT.tif, or annotated data with --gt");
  std::atomic<std::size_t> done{0};
  const bool progress = isatty(fileno(stderr));
  tbb::parallel_for(std::size_t{0}, triples.size(), [&](std::size_t i) {
    evaluate_triple<Dim>(assessor, opt, metric, triples[i]);
    if (progress) std::fprintf(stderr, "\r%s: %zu/%zu", command, ++done, triples.size());
  });
  if (progress) std::fprintf(stderr, "\n");
  std::vector<Triple> ok;
  for (auto& t : triples) {
    if (t.error.empty())
      ok.push_back(std::move(t));
    else
      std::fprintf(stderr, "%s: skipped %s: %s\n", command, t.name().c_str(), t.error.c_str());
  }
  if (ok.size() < 2) throw UndefinedValue("fewer than two frames could be evaluated");
  return ok;
}

// The model's metric name, lower case (as metric_value wants it).
template <int Dim>
std::string model_metric(const Assessor<Dim>& assessor) {
  std::string metric = assessor.info().metric;
  for (auto& c : metric) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return metric;
}

}  // namespace qanet::cli
