// qanet metrics: exact quality metrics of a segmentation against its ground truth (SPEC §7),
// for one label image or a Cell Tracking Challenge folder (pooled the CTC way).
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <tbb/parallel_for.h>

#include "command.hpp"
#include "spacing.hpp"
#include "qanet/io.hpp"
#include "qanet/metrics.hpp"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

struct Options {
  std::string gt, pred;
  std::string spacing;
  double tau = 10.0;
  int plane = -1;
  bool json = false;
  bool per_object = false;
  bool seg_only = false;
  bool skip_missing = false;
};

struct FrameResult {
  int frame = -1;
  int plane = -1;
  fs::path gt, pred;
  qanet::FrameMetrics metrics;
};

// Reads and evaluates one ground-truth / result pair; errors name both files.
FrameResult evaluate_pair(const fs::path& gt, const fs::path& pred, int plane,
                          const qanet::MetricOptions& options) {
  FrameResult r;
  r.gt = gt;
  r.pred = pred;
  r.plane = plane;
  const qanet::TiffInfo gi = qanet::tiff_info(gt), pi = qanet::tiff_info(pred);
  try {
    if (plane >= 0) {
      if (gi.dim != 2 || pi.dim != 3)
        throw qanet::InvalidArgument("a single-plane ground truth must be 2D and its result 3D (got " +
                                     std::to_string(gi.dim) + "D and " + std::to_string(pi.dim) + "D)");
      r.metrics = qanet::evaluate_plane(qanet::read_labels<2>(gt), qanet::read_labels<3>(pred), plane, options);
    } else if (gi.dim != pi.dim) {
      throw qanet::InvalidArgument("ground truth is " + std::to_string(gi.dim) + "D but the result is " +
                                   std::to_string(pi.dim) + "D (for a 2D annotation of one plane of a 3D "
                                   "result, use --plane Z)");
    } else if (gi.dim == 2) {
      r.metrics = qanet::evaluate_frame(qanet::read_labels<2>(gt), qanet::read_labels<2>(pred), options);
    } else {
      r.metrics = qanet::evaluate_frame(qanet::read_labels<3>(gt), qanet::read_labels<3>(pred), options);
    }
  } catch (const qanet::IoError&) {
    throw;  // already names its file
  } catch (const qanet::InvalidArgument& e) {
    throw qanet::InvalidArgument(gt.string() + " vs " + pred.string() + ": " + e.what());
  }
  return r;
}

json optional_json(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

json summary_json(const qanet::MetricSummary& s) {
  return {{"seg", optional_json(s.seg)},       {"gt_objects", s.gt_objects},
          {"pred_objects", s.pred_objects},    {"matched", s.matched},
          {"unmatched_gt", s.unmatched_gt},    {"unmatched_pred", s.unmatched_pred},
          {"hd", optional_json(s.hd)},         {"mhd", optional_json(s.mhd)},
          {"mhd95", optional_json(s.mhd95)},   {"asd", optional_json(s.asd)},
          {"nemhd", optional_json(s.nemhd)}};
}

json objects_json(const qanet::FrameMetrics& f) {
  json list = json::array();
  for (const auto& o : f.objects) {
    json j = {{"gt_label", o.gt_label}, {"gt_size", o.gt_size},
              {"pred_label", o.matched() ? json(o.pred_label) : json(nullptr)},
              {"intersection", o.intersection}, {"jaccard", o.jaccard}};
    if (o.boundary) {
      j["hd"] = o.boundary->hd;
      j["mhd"] = o.boundary->mhd;
      j["mhd95"] = o.boundary->mhd95;
      j["asd"] = o.boundary->asd;
      j["nemhd"] = o.boundary->nemhd;
    }
    list.push_back(j);
  }
  return list;
}

std::string fmt(const std::optional<double>& v, const char* spec = "%.4f") {
  if (!v) return "undefined";
  char buf[64];
  std::snprintf(buf, sizeof buf, spec, *v);
  return buf;
}

void print_table(const qanet::MetricSummary& s, const std::vector<FrameResult>& frames, bool folder) {
  if (folder) {
    std::printf("%-7s %-5s %8s %6s %7s %8s %8s %8s %8s %8s\n", "frame", "plane", "SEG", "GT",
                "matched", "HD", "MHD", "MHD95", "ASD", "neMHD");
    for (const auto& f : frames) {
      const auto& m = f.metrics;
      std::printf("%-7d %-5s %8s %6lld %7lld %8s %8s %8s %8s %8s\n", f.frame,
                  f.plane >= 0 ? std::to_string(f.plane).c_str() : "-", fmt(m.seg).c_str(),
                  static_cast<long long>(m.gt_objects), static_cast<long long>(m.matched),
                  fmt(m.hd, "%.3f").c_str(), fmt(m.mhd, "%.3f").c_str(), fmt(m.mhd95, "%.3f").c_str(),
                  fmt(m.asd, "%.3f").c_str(), fmt(m.nemhd).c_str());
    }
    std::printf("\npooled over %zu frame(s) (CTC: means over all ground-truth objects):\n", frames.size());
  }
  std::printf("  SEG     %s\n", fmt(s.seg).c_str());
  std::printf("  objects %lld ground truth, %lld predicted, %lld matched, %lld missed, %lld false positive\n",
              static_cast<long long>(s.gt_objects), static_cast<long long>(s.pred_objects),
              static_cast<long long>(s.matched), static_cast<long long>(s.unmatched_gt),
              static_cast<long long>(s.unmatched_pred));
  std::printf("  HD      %s\n  MHD     %s\n  MHD95   %s\n  ASD     %s   (means over matched pairs)\n",
              fmt(s.hd).c_str(), fmt(s.mhd).c_str(), fmt(s.mhd95).c_str(), fmt(s.asd).c_str());
  std::printf("  neMHD   %s   (tau %g; missed objects count 0)\n", fmt(s.nemhd).c_str(),
              frames.empty() ? 10.0 : frames.front().metrics.tau);
}

int run(const Options& opt) {
  qanet::MetricOptions options;
  options.tau = opt.tau;
  options.boundary = !opt.seg_only;
  options.spacing = qanet::cli::parse_spacing(opt.spacing);

  const auto gt_kind = qanet::classify_ctc_path(opt.gt);
  const auto pred_kind = qanet::classify_ctc_path(opt.pred);
  const bool folder = gt_kind != qanet::CtcPathKind::file;
  if (folder != (pred_kind != qanet::CtcPathKind::file))
    throw qanet::InvalidArgument("--gt and --pred must both be label images or both be folders (got " +
                                 std::string(qanet::ctc_path_kind_name(gt_kind)) + " and " +
                                 qanet::ctc_path_kind_name(pred_kind) + ")");

  std::vector<FrameResult> frames;
  if (!folder) {
    frames.push_back(evaluate_pair(opt.gt, opt.pred, opt.plane, options));
  } else {
    std::vector<qanet::CtcPair> pairs;
    if (opt.skip_missing) {
      // Only the annotated frames that have a result; the others are named, not silently dropped.
      const auto results = qanet::list_ctc_results(opt.pred);
      for (const auto& g : qanet::list_ctc_gt(qanet::ctc_seg_folder(opt.gt))) {
        const auto r = results.find(g.frame);
        if (r == results.end())
          std::fprintf(stderr, "qanet metrics: skipped %s (no result for frame %d)\n", g.path.c_str(), g.frame);
        else
          pairs.push_back({g.frame, g.plane, g.path, r->second});
      }
      if (pairs.empty())
        throw qanet::InvalidArgument("no annotated frame of " + opt.gt + " has a result in " + opt.pred);
    } else {
      pairs = qanet::pair_ctc_frames(opt.gt, opt.pred);
    }
    frames.resize(pairs.size());
    std::mutex progress_mutex;
    std::size_t done = 0;
    const bool progress = isatty(fileno(stderr)) && pairs.size() > 1;
    // Frames are independent: decode and evaluate them in parallel.
    tbb::parallel_for(std::size_t{0}, pairs.size(), [&](std::size_t i) {
      frames[i] = evaluate_pair(pairs[i].gt, pairs[i].result, pairs[i].plane, options);
      frames[i].frame = pairs[i].frame;
      if (progress) {
        std::lock_guard<std::mutex> lock(progress_mutex);
        std::fprintf(stderr, "\rqanet metrics: %zu/%zu frames", ++done, pairs.size());
      }
    });
    if (progress) std::fprintf(stderr, "\n");
  }

  std::vector<qanet::FrameMetrics> metrics;
  for (const auto& f : frames) metrics.push_back(f.metrics);
  const qanet::SequenceMetrics pooled = qanet::pool_frames(metrics);
  if (!pooled.seg)
    std::fprintf(stderr, "qanet metrics: SEG is undefined: the ground truth holds no object\n");

  if (opt.json) {
    json out = summary_json(pooled);
    out["tau"] = opt.tau;
    out["spacing"] = frames.front().metrics.spacing;
    if (folder) {
      out["gt"] = opt.gt;
      out["pred"] = opt.pred;
      out["frames"] = json::array();
      for (const auto& f : frames) {
        json j = summary_json(f.metrics);
        j["frame"] = f.frame;
        j["plane"] = f.plane >= 0 ? json(f.plane) : json(nullptr);
        j["gt"] = f.gt.string();
        j["pred"] = f.pred.string();
        if (opt.per_object) j["objects"] = objects_json(f.metrics);
        out["frames"].push_back(j);
      }
    } else {
      out["gt"] = opt.gt;
      out["pred"] = opt.pred;
      if (opt.per_object) out["objects"] = objects_json(frames.front().metrics);
    }
    std::printf("%s\n", out.dump(2).c_str());
  } else {
    std::printf("qanet metrics: %s vs %s\n", opt.gt.c_str(), opt.pred.c_str());
    print_table(pooled, frames, folder);
  }
  return 0;
}

qanet::cli::RegisterCommand registration{
    "metrics", "Exact quality metrics (SEG, HD, MHD, MHD95, ASD, neMHD) of a segmentation against its ground truth",
    [](CLI::App& app) {
      auto opt = std::make_shared<Options>();
      app.add_option("--gt", opt->gt, "Ground truth: a label TIFF, or a CTC NN_GT or NN_GT/SEG folder")->required();
      app.add_option("--pred", opt->pred, "Result: a label TIFF, or a CTC NN_RES folder (maskTTT.tif)")->required();
      app.add_option("--spacing", opt->spacing, "Voxel size in z,y,x order (numpy), or one value; default 1");
      app.add_option("--tau", opt->tau, "neMHD = exp(-MHD / tau)")->check(CLI::PositiveNumber);
      app.add_option("--plane", opt->plane, "Compare a 2D ground truth with plane Z of a 3D result")
          ->check(CLI::NonNegativeNumber);
      app.add_flag("--json", opt->json, "Print one JSON object (undefined values as null)");
      app.add_flag("--per-object", opt->per_object, "With --json: one record per ground-truth object");
      app.add_flag("--skip-missing", opt->skip_missing,
                   "Folders: evaluate only annotated frames that have a result (CTC counts every one)");
      app.add_flag("--seg-only", opt->seg_only, "SEG and counts only (skips the boundary metrics)");
      return [opt] { return run(*opt); };
    }};

}  // namespace
