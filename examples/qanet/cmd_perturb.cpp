// qanet perturb: one realistically wrong segmentation of a ground-truth label image (SPEC §6).
#include <cstdio>
#include <memory>
#include <string>

#include "command.hpp"
#include "qanet/io.hpp"
#include "qanet/metrics.hpp"
#include "qanet/perturb.hpp"
#include "sim_common.hpp"

namespace {

struct Options {
  std::string gt, out;
  std::uint64_t seed = 1;
  double severity = -1;
};

template <int Dim>
int run_dim(const Options& o) {
  const auto gt = qanet::read_labels<Dim>(o.gt);
  const qanet::PerturbOptions popt;
  const auto r = o.severity >= 0 ? qanet::perturb_labels_at(gt.cview(), popt, o.severity, o.seed)
                                 : qanet::perturb_labels(gt.cview(), popt, o.seed);
  qanet::cli::write_label_tiff(o.out, r.labels);
  const auto& rec = r.record;
  std::printf("severity %.3f: morphology identity/erosion/dilation/opening/closing %lld/%lld/%lld/%lld/%lld, "
              "%s, merged %lld, split %lld, dropped %lld, spurious %lld\n",
              rec.severity, (long long)rec.morphology[0], (long long)rec.morphology[1],
              (long long)rec.morphology[2], (long long)rec.morphology[3], (long long)rec.morphology[4],
              rec.deformed ? "deformed" : "not deformed", (long long)rec.merged, (long long)rec.split,
              (long long)rec.dropped, (long long)rec.spurious);
  qanet::MetricOptions mo;
  mo.boundary = false;
  const auto m = qanet::evaluate_frame(gt.cview(), r.labels.cview(), mo);
  if (m.seg)
    std::printf("SEG %.4f (%lld GT objects, %lld result objects) -> %s\n", *m.seg, (long long)m.gt_objects,
                (long long)m.pred_objects, o.out.c_str());
  else
    std::printf("SEG undefined (the ground truth holds no object) -> %s\n", o.out.c_str());
  return 0;
}

int run(const Options& o) {
  if (o.severity > 1.0) throw qanet::InvalidArgument("--severity must lie in [0, 1]");
  const qanet::TiffInfo info = qanet::tiff_info(o.gt);
  return info.dim == 3 ? run_dim<3>(o) : run_dim<2>(o);
}

qanet::cli::RegisterCommand reg{
    "perturb", "A realistically wrong segmentation of a ground truth (SPEC 6 perturbation pipeline)",
    [](CLI::App& app) {
      auto o = std::make_shared<Options>();
      app.add_option("--gt", o->gt, "Ground-truth label image (TIFF, 2D or 3D)")->required()->check(CLI::ExistingFile);
      app.add_option("--out", o->out, "Output label image (TIFF, written atomically)")->required();
      app.add_option("--seed", o->seed, "Random seed (same seed: same mask)");
      app.add_option("--severity", o->severity, "Fixed severity in [0, 1] (default: drawn per seed)");
      return [o] { return run(*o); };
    }};

}  // namespace
