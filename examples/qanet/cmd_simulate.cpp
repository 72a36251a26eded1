// qanet simulate: a synthetic Cell Tracking Challenge folder (images, exact ground truth) and,
// with --perturbations K, K perturbed "results" per frame with the exact value of every metric.
#include <atomic>
#include <cstdio>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include <tbb/parallel_for.h>

#include "command.hpp"
#include "qanet/io.hpp"
#include "qanet/metrics.hpp"
#include "qanet/perturb.hpp"
#include "qanet/simulate.hpp"
#include "sim_common.hpp"

namespace {

namespace fs = std::filesystem;

struct Options {
  std::string out;
  int frames = 10;
  int dim = 2;
  std::string size;   // X,Y[,Z]
  std::string cells;  // MIN,MAX
  std::uint64_t seed = 1;
  int perturbations = 0;
  double snr = 0, blur = -1, radius = 0, crowding = -1, z_spacing = 0;
  int bit_depth = 16;
  bool quiet = false;
};

std::vector<qanet::Index> parse_list(const std::string& text, const char* what) {
  std::vector<qanet::Index> v;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      std::size_t used = 0;
      const long long x = std::stoll(item, &used);
      if (used != item.size() || x < 0) throw std::invalid_argument(item);
      v.push_back(x);
    } catch (const std::exception&) {
      throw qanet::InvalidArgument(std::string(what) + ": '" + text + "' is not a list of non-negative integers");
    }
  }
  return v;
}

template <int Dim>
qanet::SimulationOptions<Dim> simulation_options(const Options& o) {
  qanet::SimulationOptions<Dim> s;
  if (!o.size.empty()) {
    const auto v = parse_list(o.size, "--size");
    if (static_cast<int>(v.size()) != Dim)
      throw qanet::InvalidArgument("--size: " + std::to_string(Dim) + " values expected for --dim " +
                                   std::to_string(Dim) + " (X,Y" + (Dim == 3 ? ",Z" : "") + "), got '" + o.size + "'");
    for (int a = 0; a < Dim; ++a) s.shape[a] = v[Dim - 1 - a];  // X,Y,Z -> numpy order
  }
  if (!o.cells.empty()) {
    const auto v = parse_list(o.cells, "--cells");
    if (v.size() != 2 || v[0] < 1 || v[1] < v[0])
      throw qanet::InvalidArgument("--cells: MIN,MAX with 1 <= MIN <= MAX expected, got '" + o.cells + "'");
    s.cells_min = v[0];
    s.cells_max = v[1];
  }
  if (o.snr > 0) s.snr = o.snr;
  if (o.blur >= 0) s.psf_sigma = o.blur;
  if (o.radius > 0) s.radius_median = o.radius;
  if (o.crowding >= 0) s.touching_fraction = o.crowding;
  if constexpr (Dim == 3)
    if (o.z_spacing > 0) s.spacing[0] = o.z_spacing;
  s.bit_depth = o.bit_depth;
  s.validate();
  return s;
}

std::string frame_name(int t) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%03d", t);
  return buf;
}

template <int Dim>
int run_dim(const Options& o) {
  const auto sim = simulation_options<Dim>(o);
  if (o.frames < 1) throw qanet::InvalidArgument("--frames must be >= 1");
  if (o.perturbations < 0) throw qanet::InvalidArgument("--perturbations must be >= 0");
  const fs::path out(o.out);
  const qanet::PerturbOptions popt;
  struct Row {
    int frame, k;
    qanet::PerturbRecord rec;
    qanet::FrameMetrics m;
  };
  std::vector<std::vector<Row>> rows(static_cast<std::size_t>(o.frames));
  std::atomic<int> done{0};
  std::mutex print;
  tbb::parallel_for(0, o.frames, [&](int t) {
    const auto s = qanet::simulate_image(sim, o.seed, static_cast<std::uint64_t>(t));
    const std::string tt = frame_name(t);
    if (o.bit_depth == 8) {
      qanet::Image<std::uint8_t, Dim> b(s.image.shape(), 0, s.image.spacing());
      for (qanet::Index i = 0; i < b.size(); ++i) b[i] = static_cast<std::uint8_t>(s.image[i]);
      qanet::write_tiff(out / "01" / ("t" + tt + ".tif"), b);
    } else {
      qanet::write_tiff(out / "01" / ("t" + tt + ".tif"), s.image);
    }
    qanet::cli::write_label_tiff(out / "01_GT" / "SEG" / ("man_seg" + tt + ".tif"), s.labels);
    for (int k = 1; k <= o.perturbations; ++k) {
      const std::uint64_t ps = qanet::Rng::derive(o.seed, {0x9e57, static_cast<std::uint64_t>(t),
                                                           static_cast<std::uint64_t>(k)})();
      auto r = qanet::perturb_labels(s.labels.cview(), popt, ps);
      qanet::cli::write_label_tiff(out / ("01_RES_p" + std::to_string(k)) / ("mask" + tt + ".tif"), r.labels);
      rows[t].push_back({t, k, r.record, qanet::evaluate_frame(s.labels.cview(), r.labels.cview())});
    }
    const int n = ++done;
    if (!o.quiet) {
      std::lock_guard<std::mutex> lock(print);
      std::fprintf(stderr, "\rqanet simulate: %d/%d frames", n, o.frames);
      if (n == o.frames) std::fprintf(stderr, "\n");
    }
  });
  if (o.perturbations > 0) {
    std::ostringstream csv;
    csv << "result,frame,severity,gt_objects,pred_objects,matched,unmatched_gt,unmatched_pred,"
           "seg,hd,mhd,mhd95,asd,nemhd\n";
    for (int k = 1; k <= o.perturbations; ++k)
      for (const auto& fr : rows)
        for (const Row& r : fr) {
          if (r.k != k) continue;
          char sev[32];
          std::snprintf(sev, sizeof sev, "%.4f", r.rec.severity);
          csv << "01_RES_p" << k << ",mask" << frame_name(r.frame) << ".tif," << sev << "," << r.m.gt_objects << ","
              << r.m.pred_objects << "," << r.m.matched << "," << r.m.unmatched_gt << "," << r.m.unmatched_pred << ","
              << qanet::cli::csv_value(r.m.seg) << "," << qanet::cli::csv_value(r.m.hd) << ","
              << qanet::cli::csv_value(r.m.mhd) << "," << qanet::cli::csv_value(r.m.mhd95) << ","
              << qanet::cli::csv_value(r.m.asd) << "," << qanet::cli::csv_value(r.m.nemhd) << "\n";
        }
    qanet::write_file_atomic(out / "01_RES_metrics.csv", csv.str());
  }
  if (!o.quiet)
    std::printf("wrote %d frame(s) of %s to %s%s\n", o.frames, sim.shape.str().c_str(), out.string().c_str(),
                o.perturbations ? (" with " + std::to_string(o.perturbations) +
                                   " perturbed result(s) each and 01_RES_metrics.csv").c_str()
                                : "");
  return 0;
}

int run(const Options& o) { return o.dim == 3 ? run_dim<3>(o) : run_dim<2>(o); }

qanet::cli::RegisterCommand reg{
    "simulate", "Synthetic microscopy with exact ground truth (and perturbed results with exact scores)",
    [](CLI::App& app) {
      auto o = std::make_shared<Options>();
      app.add_option("--out", o->out, "Output folder (CTC layout: 01/, 01_GT/SEG/, 01_RES_pK/)")->required();
      app.add_option("--frames", o->frames, "Number of frames")->check(CLI::PositiveNumber);
      app.add_option("--dim", o->dim, "2 or 3")->check(CLI::IsMember({2, 3}));
      app.add_option("--size", o->size, "X,Y or X,Y,Z (default 420,420; 3D 256,256,48)");
      app.add_option("--cells", o->cells, "MIN,MAX cells per frame (default: SIM+ density)");
      app.add_option("--seed", o->seed, "Random seed (same seed: same files)");
      app.add_option("--perturbations", o->perturbations,
                     "K perturbed results per frame (01_RES_p1..pK) and 01_RES_metrics.csv")
          ->check(CLI::NonNegativeNumber);
      app.add_option("--snr", o->snr, "Median cell signal / background noise sd (default 6.5)");
      app.add_option("--blur", o->blur, "PSF sigma in pixels (default 2.4)");
      app.add_option("--radius", o->radius, "Median cell radius in pixels (default 25.3)");
      app.add_option("--crowding", o->crowding, "Fraction of cells placed against another (default 0.05)");
      app.add_option("--z-spacing", o->z_spacing, "3D: z voxel size relative to x/y (default 2)");
      app.add_option("--bit-depth", o->bit_depth, "8 or 16")->check(CLI::IsMember({8, 16}));
      app.add_flag("--quiet", o->quiet, "No progress output");
      return [o] { return run(*o); };
    }};

}  // namespace
