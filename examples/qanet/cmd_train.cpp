// qanet train: trains a QANet model on perturbed masks of real annotated data and/or the
// simulator (SPEC §5), with a validation split by sequence, progress, a CSV log, atomic
// checkpoints and exact resumption.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "command.hpp"
#include "qanet/io/atomic_file.hpp"
#include "qanet/io/svg_plot.hpp"
#include "qanet/nn/model_file.hpp"
#include "qanet/qa/trainer.hpp"

namespace {

namespace fs = std::filesystem;

struct Options {
  std::string out, metric = "seg", preset = "small", architecture = "ribcage", resume, init;
  std::string encoding = "trinary";  // the segmentation channel: trinary (SPEC §2) or binary
  int dim = 2;
  std::vector<std::string> data, val_sequences;
  long simulate = -1;  // simulated samples per epoch; -1: as many as real frames (or 256 without)
  long epochs = 0, steps = 0;
  long batch = 32;
  std::uint64_t seed = 1;
  double diameter = -1, lr = 1e-3, clip = 0, checkpoint_minutes = 5;
  double shift_probability = 0.3;  // share of masks with one systematic boundary offset
  double segmenter_errors = 0.5;   // share of masks made by a segmenter-like error
  double clean_masks = 0.05;       // share of masks that are the ground truth itself
  double scale_jitter = 1.3;       // real crops zoomed by up to this factor either way
  double gamma_jitter = 1.0;       // real crops' contrast curves: powers in [1/g, g]
  bool judged_scale = true;        // masks judged at the scale scoring measures on them
  bool whole_object_seg = true;    // SEG targets from whole objects (with a judged scale)
  bool count_objects = false;      // a second output: the GT objects in view (scoring's weights)
  double false_positive_views = 0; // share of masks with false positives judged around one
  std::string part = "all";        // of images/ + masks/ data: which part of the hash split
  double ema = 0;                  // weight averaging decay; 0: off
  long val_samples = 256, validate_every = 0;
  bool quiet = false, replot = false;
};

std::string hms(double s) {
  char b[32];
  const long t = static_cast<long>(s);
  std::snprintf(b, sizeof b, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  return b;
}

// A run killed after its last checkpoint logged steps that the resumed run does again: keep the
// header and the lines up to the checkpoint's step (complete lines only), rewritten atomically,
// so that the log holds each step once.
void trim_training_log(const fs::path& log, long step) {
  std::ifstream in(log, std::ios::binary);
  if (!in) throw qanet::IoError("cannot read the training log " + log.string());
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string kept;
  for (std::size_t start = 0, end; (end = text.find('\n', start)) != std::string::npos; start = end + 1) {
    const std::string line = text.substr(start, end - start + 1);
    const bool header = start == 0;
    if (header || std::strtol(line.c_str(), nullptr, 10) <= step) kept += line;
  }
  if (kept != text) qanet::write_file_atomic(log, kept);
}

// OUT.curve.svg from OUT.log.csv: training loss and validation MSE against the step.
void write_training_curve(const fs::path& log, const fs::path& svg) {
  std::ifstream in(log);
  if (!in) throw qanet::IoError("cannot read the training log " + log.string());
  qanet::PlotSeries loss{{}, {}, "training loss (mean since the last line)", "#1f77b4", true};
  qanet::PlotSeries val{{}, {}, "validation MSE", "#d62728", true};
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string x; std::getline(ss, x, ',');) f.push_back(x);
    if (f.size() < 4) continue;
    const double step = std::stod(f[0]);
    loss.x.push_back(step), loss.y.push_back(std::stod(f[2]));
    if (!f[3].empty()) val.x.push_back(step), val.y.push_back(std::stod(f[3]));
  }
  qanet::PlotOptions po;
  po.title = "qanet train: " + log.filename().string();
  po.x_label = "step";
  po.y_label = "mean squared error";
  po.y_min = 0;
  qanet::write_file_atomic(svg, qanet::svg_plot({loss, val}, po));
}

template <int Dim>
int train(const Options& o, const std::string& command_line) {
  using namespace qanet;
  nn::ModelConfig cfg = nn::model_preset(nn::parse_architecture(o.architecture), o.preset, Dim);
  cfg.encoding = nn::parse_encoding(o.encoding);
  if (o.count_objects) {
    if (!o.judged_scale) throw InvalidArgument("--count-objects needs --judged-scale true");
    cfg.outputs = 2;
  }
  if (o.false_positive_views > 0 && !o.count_objects)
    throw InvalidArgument("--false-positive-views needs --count-objects true (it trains the object count)");
  Shape<Dim> patch;
  for (int a = 0; a < Dim; ++a) patch[a] = cfg.patch[static_cast<std::size_t>(a)];
  // Objects are brought to about a third of the patch edge (in-plane), so every patch shows a
  // few whole cells and their neighbours.
  const double diameter = o.diameter >= 0 ? o.diameter : static_cast<double>(patch[Dim - 1]) / 3.2;

  // Real frames, split by sequence.
  std::vector<AnnotatedFile> files;
  for (const auto& d : o.data) {
    auto f = files_in_part(find_annotated_files(d), parse_data_part(o.part));
    files.insert(files.end(), f.begin(), f.end());
  }
  std::set<std::string> sequences;
  for (const auto& f : files) sequences.insert(f.sequence);
  std::set<std::string> val_seq(o.val_sequences.begin(), o.val_sequences.end());
  for (const auto& v : val_seq)
    if (!sequences.count(v)) throw InvalidArgument("--val-sequence " + v + " is not among the training sequences");
  if (val_seq.empty() && sequences.size() >= 3) {
    // About 15% of the sequences, at least one, chosen from the seed (a stable hash: the same
    // split on every machine).
    std::vector<std::string> all(sequences.begin(), sequences.end());
    std::sort(all.begin(), all.end(), [&](const auto& a, const auto& b) {
      return mix64(stable_hash(a) ^ o.seed) < mix64(stable_hash(b) ^ o.seed);
    });
    const std::size_t n = std::max<std::size_t>(1, static_cast<std::size_t>(std::lround(0.15 * static_cast<double>(all.size()))));
    val_seq.insert(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n));
  }
  std::vector<AnnotatedFrame<Dim>> train_frames, val_frames;
  for (std::size_t i = 0; i < files.size(); ++i) {
    const auto& f = files[i];
    if (!o.quiet) std::fprintf(stderr, "\rqanet train: reading annotated frame %zu/%zu", i + 1, files.size());
    auto frame = read_annotated_frame<Dim>(f);
    (val_seq.count(f.sequence) ? val_frames : train_frames).push_back(std::move(frame));
  }
  if (!o.quiet && !files.empty()) std::fprintf(stderr, "\n");
  const long real = static_cast<long>(train_frames.size());
  const long simulate = o.simulate >= 0 ? o.simulate : (real > 0 ? real : 256);
  if (real == 0 && simulate == 0) throw InvalidArgument("nothing to train on: give --data DIR or --simulate N > 0");

  TrainingDataOptions<Dim> dopt;
  dopt.patch = patch;
  dopt.metric = o.metric;
  dopt.target_diameter = diameter;
  dopt.simulate = simulate > 0;
  dopt.simulate_fraction = static_cast<double>(simulate) / static_cast<double>(simulate + real);
  dopt.perturb.boundary_shift_probability = o.shift_probability;
  dopt.segmenter_error_probability = o.segmenter_errors;
  dopt.clean_probability = o.clean_masks;
  dopt.scale_jitter = o.scale_jitter;
  dopt.judged_scale = o.judged_scale;
  dopt.whole_object_seg = o.whole_object_seg;
  dopt.count_objects = o.count_objects;
  dopt.false_positive_views = o.false_positive_views;
  dopt.gamma_jitter = o.gamma_jitter;
  TrainingData<Dim> data(std::move(train_frames), dopt);
  for (const auto& s : data.skipped()) std::fprintf(stderr, "qanet train: skipped %s\n", s.c_str());

  const long epoch_samples = static_cast<long>(data.real_frames()) + simulate;
  const long steps_per_epoch = std::max<long>(1, (epoch_samples + o.batch - 1) / o.batch);
  TrainerOptions topt;
  topt.batch = o.batch;
  topt.steps = o.steps > 0 ? o.steps : (o.epochs > 0 ? o.epochs : 100) * steps_per_epoch;
  topt.seed = o.seed;
  topt.adamw.lr = o.lr;
  topt.clip = o.clip;
  topt.ema = o.ema;
  topt.validate_every = o.validate_every > 0 ? o.validate_every : std::min<long>(steps_per_epoch, 200);
  topt.log_every = std::max<long>(1, std::min<long>(10, topt.validate_every));

  // Validation: held-out sequences (real only) plus simulated samples from a seed of their own.
  ValidationSet val;
  {
    std::vector<ValidationSet> parts;
    const std::uint64_t vseed = mix64(o.seed ^ 0x9a1dULL);
    if (!val_frames.empty()) {
      auto vo = dopt;
      vo.simulate = false;
      TrainingData<Dim> vdata(std::move(val_frames), vo);
      parts.push_back(make_validation_set(vdata, vseed, o.val_samples, cfg.encoding, cfg.outputs));
    }
    if (simulate > 0) {
      auto vo = dopt;
      TrainingData<Dim> vdata({}, vo);
      parts.push_back(make_validation_set(vdata, vseed + 1, o.val_samples, cfg.encoding, cfg.outputs));
    }
    Index n = 0;
    for (const auto& p : parts) n += p.size();
    if (n > 0) {
      val.image.reshape(nn::TensorShape::from([&] {
        auto s = parts.front().image.shape().vec();
        s[0] = n;
        return s;
      }()));
      val.seg.reshape(val.image.shape());
      val.target.reshape({n, cfg.outputs});
      Index at = 0, vat = 0;
      for (const auto& p : parts) {
        std::copy(p.image.begin(), p.image.end(), val.image.data() + at);
        std::copy(p.seg.begin(), p.seg.end(), val.seg.data() + at);
        std::copy(p.target.begin(), p.target.end(), val.target.data() + vat);
        at += p.image.numel(), vat += p.target.numel();
      }
    }
  }

  nn::Network<float, Dim> net(cfg, o.seed);
  if (!o.init.empty()) {
    // Fine-tuning: start from the weights and statistics of an existing model of this architecture.
    auto start = nn::load_model<float, Dim>(o.init);
    const auto& c = start.config();
    if (c.architecture != cfg.architecture || c.encoding != cfg.encoding || c.widths != cfg.widths || c.head != cfg.head || c.padding != cfg.padding)
      throw InvalidArgument("--init " + o.init + ": the model is not a " + o.architecture + " " + o.preset + " " +
                            std::to_string(Dim) + "D model with " + o.encoding + " input");
    auto dst = net.params();
    auto src = start.params();
    for (std::size_t k = 0; k < dst.size(); ++k) {
      nn::Tensor<float>& d = *dst[k].value;
      const nn::Tensor<float>& from = *src[k].value;
      if (d.shape() == from.shape()) {
        d.assign(from);
      } else {
        // A score-only model starting one with an object-count output: the last layer's score
        // row (the leading rows) is copied, the count row keeps its fresh initialisation.
        if (k + 2 < dst.size() || c.outputs != 1 || d.dim(0) != 2 || from.dim(0) != 1)
          throw InvalidArgument("--init " + o.init + ": tensor " + dst[k].name + " has shape " + from.shape().str() +
                                ", this model needs " + d.shape().str());
        std::copy(from.begin(), from.end(), d.begin());
      }
    }
    auto dbuf = net.buffers();
    auto sbuf = start.buffers();
    for (std::size_t k = 0; k < dbuf.size(); ++k) dbuf[k].value->assign(*sbuf[k].value);
  }
  Trainer<Dim> trainer(net, data, topt);
  const fs::path out = o.out, ckpt = o.out + ".ckpt", log = o.out + ".log.csv", curve = o.out + ".curve.svg";
  if (!o.resume.empty()) {
    trainer.load_checkpoint(o.resume);
    std::fprintf(stderr, "qanet train: resumed %s at step %ld\n", o.resume.c_str(), trainer.step());
  }

  nn::ModelInfo info;
  info.metric = o.metric;
  dopt.convention.store(info);
  nlohmann::json summary = {{"command", command_line},
                            {"scale_measure", info.training["scale_measure"]},
                            {"segmenter_errors", o.segmenter_errors},
                            {"clean_masks", o.clean_masks},
                            {"scale_jitter", o.scale_jitter},
                            {"gamma_jitter", o.gamma_jitter},
                            {"judged_scale", o.judged_scale},
                            {"whole_object_seg", o.whole_object_seg && o.judged_scale && o.metric == "seg"},
                            {"count_objects", o.count_objects},
                            {"false_positive_views", o.false_positive_views},
                            {"part", o.part},
                            {"target_diameter", diameter},
                            {"data", o.data},
                            {"train_sequences", nlohmann::json::array()},
                            {"val_sequences", std::vector<std::string>(val_seq.begin(), val_seq.end())},
                            {"real_frames", data.real_frames()},
                            {"simulated_per_epoch", simulate},
                            {"steps", topt.steps},
                            {"batch", topt.batch},
                            {"seed", o.seed},
                            {"lr", o.lr},
                            {"init", o.init},
                            {"val_samples", val.size()}};
  for (const auto& s : sequences)
    if (!val_seq.count(s)) summary["train_sequences"].push_back(s);

  std::fprintf(stderr,
               "qanet train: %s %s %dD (%s input), %lld parameters, patch %s, diameter %.1f px, %zu real frames + %ld simulated "
               "per epoch, %ld steps of %ld (%ld per epoch), validation %lld samples\n",
               o.architecture.c_str(), o.preset.c_str(), Dim, o.encoding.c_str(), static_cast<long long>(net.param_count()), patch.str().c_str(),
               diameter, data.real_frames(), simulate, topt.steps, topt.batch, steps_per_epoch,
               static_cast<long long>(val.size()));

  if (out.has_parent_path()) fs::create_directories(out.parent_path());
  for (const fs::path& f : {out, ckpt, log, curve, fs::path(o.out + ".last.safetensors")}) qanet::remove_stale_temporaries(f);
  bool append = false;
  if (!o.resume.empty() && fs::exists(log)) {
    trim_training_log(log, trainer.step());
    append = fs::file_size(log) > 0;  // not even a whole header: start the log anew
  }
  std::ofstream csv(log, append ? std::ios::app : std::ios::trunc);
  if (!csv) throw IoError("cannot write the training log " + log.string());
  if (!append) csv << "step,epoch,loss,val_mse,best_val_mse,lr,samples_per_s,seconds\n";

  auto last_ckpt = std::chrono::steady_clock::now();
  double elapsed_before = 0;
  auto on_progress = [&](const TrainProgress& p) {
    const double epoch = static_cast<double>(p.step) / static_cast<double>(steps_per_epoch);
    csv << p.step << ',' << epoch << ',' << p.loss << ',' << (p.val_mse ? std::to_string(*p.val_mse) : "") << ','
        << (std::isfinite(p.best_val_mse) ? std::to_string(p.best_val_mse) : "") << ',' << p.lr << ','
        << p.samples_per_s << ',' << elapsed_before + p.seconds << '\n';
    csv.flush();
    if (p.val_mse) write_training_curve(log, curve);
    if (o.quiet) return;
    const double left = static_cast<double>(p.steps - p.step) * static_cast<double>(topt.batch) / std::max(p.samples_per_s, 1e-9);
    std::fprintf(stderr, "epoch %.2f step %ld/%ld loss %.5f%s lr %.2e %.1f samples/s elapsed %s left %s\n", epoch,
                 p.step, p.steps, p.loss,
                 p.val_mse ? (" val_mse " + std::to_string(*p.val_mse) + (p.improved ? " *" : "")).c_str() : "", p.lr,
                 p.samples_per_s, hms(p.seconds).c_str(), hms(left).c_str());
  };
  auto save_best = [&]() {
    summary["best_val_mse"] = trainer.best_val_mse();
    summary["best_step"] = trainer.step();
    info.training = summary;
    nn::save_model(out, net, info);
  };
  auto checkpoint = [&]() {
    const auto now = std::chrono::steady_clock::now();
    if (std::chrono::duration<double>(now - last_ckpt).count() < o.checkpoint_minutes * 60) return;
    info.training = summary;
    trainer.save_checkpoint(ckpt, info);
    last_ckpt = now;
  };
  trainer.run(val.size() > 0 ? &val : nullptr, on_progress, save_best, checkpoint);
  info.training = summary;
  trainer.save_checkpoint(ckpt, info);
  trainer.with_average([&] {
    if (val.size() == 0) save_best();  // nothing to select on: the last model
    // The model at the end of the schedule too, for comparison with the one chosen on validation.
    summary["last_step"] = trainer.step();
    info.training = summary;
    nn::save_model(o.out + ".last.safetensors", net, info);
  });
  std::fprintf(stderr, "qanet train: done; best validation MSE %.6f; model %s, checkpoint %s, log %s\n",
               trainer.best_val_mse(), out.c_str(), ckpt.c_str(), log.c_str());
  return 0;
}

qanet::cli::RegisterCommand registration{
    "train", "Train a QANet model on perturbed masks of annotated data and/or simulated images",
    [](CLI::App& app) {
      auto o = std::make_shared<Options>();
      app.add_option("--out", o->out,
                     "Model file (safetensors; the best on validation); also OUT.last.safetensors, OUT.ckpt, "
                     "OUT.log.csv and OUT.curve.svg")->required();
      app.add_option("--metric", o->metric,
                     "Target metric (iou: a per-object model, each object's IoU with its true cell; needs "
                     "--judged-scale true)")
          ->check(CLI::IsMember({"seg", "mhd95", "asd", "nemhd", "iou"}));
      app.add_option("--preset", o->preset, "Model size")->check(CLI::IsMember({"small", "paper"}));
      app.add_option("--architecture", o->architecture, "ribcage (QANet), siamese or naive (ablations)")
          ->check(CLI::IsMember({"ribcage", "siamese", "naive"}));
      app.add_option("--encoding", o->encoding,
                     "Segmentation input: trinary (background / interior / boundary, the default) or binary "
                     "(foreground only; an ablation)")
          ->check(CLI::IsMember({"trinary", "binary"}));
      app.add_option("--dim", o->dim, "2 or 3")->check(CLI::IsMember({2, 3}));
      app.add_option("--data", o->data, "Annotated data: CTC dataset folders (NN, NN_GT/SEG) or images/ + masks/")
          ->check(CLI::ExistingDirectory);
      app.add_option("--val-sequence", o->val_sequences,
                     "Hold out this sequence (e.g. Fluo-C2DL-MSC/02) for validation; default about 15% of them");
      app.add_option("--simulate", o->simulate, "Simulated samples per epoch (default: as many as real frames, or 256)");
      auto* ep = app.add_option("--epochs", o->epochs, "Epochs (default 100)")->check(CLI::PositiveNumber);
      app.add_option("--steps", o->steps, "Optimisation steps (instead of --epochs)")->check(CLI::PositiveNumber)->excludes(ep);
      app.add_option("--batch", o->batch, "Batch size")->check(CLI::PositiveNumber);
      app.add_option("--seed", o->seed, "Seed of initialisation, samples and split");
      app.add_option("--lr", o->lr, "Peak learning rate (AdamW)")->check(CLI::PositiveNumber);
      app.add_option("--clip", o->clip, "Clip the gradient norm to this (0: off)")->check(CLI::NonNegativeNumber);
      app.add_option("--diameter", o->diameter, "Object diameter (px) images are rescaled to; 0: no rescaling");
      app.add_option("--shift-probability", o->shift_probability,
                     "Share of masks whose cells are all grown or shrunk by one offset (a threshold error) "
                     "instead of the per-cell box morphology")
          ->check(CLI::Range(0.0, 1.0));
      app.add_option("--segmenter-errors", o->segmenter_errors,
                     "Share of masks made by segmenter-like errors of the image (missed dim cells, fragments, "
                     "merges, specks, iso-level outlines, holes, thresholds, watersheds) instead of SPEC perturbations")
          ->check(CLI::Range(0.0, 1.0));
      app.add_option("--clean-masks", o->clean_masks, "Share of masks that are the ground truth itself (SEG 1)")
          ->check(CLI::Range(0.0, 1.0));
      app.add_option("--scale-jitter", o->scale_jitter,
                     "Real crops are zoomed by a factor drawn log-uniformly in [1/J, J] around the target scale "
                     "(1: off), so the model does not trust the measured scale")
          ->check(CLI::Range(1.0, 4.0));
      app.add_option("--gamma-jitter", o->gamma_jitter,
                     "Real crops' intensities are raised to a power drawn log-uniformly in [1/G, G] (between the "
                     "crop's darkest and brightest values) before the mask is made, so the model meets contrast "
                     "curves of other microscopes (1: off, the default)")
          ->check(CLI::Range(1.0, 4.0));
      app.add_option("--judged-scale", o->judged_scale,
                     "Judge each training mask at the scale scoring measures on that mask (true, the default), not "
                     "at its ground truth's: masks of cores or fragments are then seen zoomed in, as scoring sees them");
      app.add_option("--whole-object-seg", o->whole_object_seg,
                     "With a judged scale and SEG: the target of a patch is the mean Jaccard of its GT objects, each "
                     "measured whole and weighted by its share inside the patch (true, the default), not the patch's "
                     "own SEG, which judges cells cut by the patch edge by their slivers and so scores frames too low");
      app.add_option("--count-objects", o->count_objects,
                     "Give the model a second output, the ground-truth objects each patch shows (counted by their "
                     "visible shares), which scoring uses as the patch's weight instead of the mask's objects: SEG "
                     "averages over the true objects, and masks that merge or miss cells or add specks miscount them "
                     "(default false; needs --judged-scale true)");
      app.add_option("--false-positive-views", o->false_positive_views,
                     "With --count-objects: the share of masks with false positives (objects that touch no cell) "
                     "judged in a patch centred on one of them; a patch of false positives alone teaches the count "
                     "output that it shows no cell (scoring's weight 0), its score is not trained (default 0)")
          ->check(CLI::Range(0.0, 1.0));
      app.add_option("--part", o->part,
                     "Of --data in the images/ + masks/ layout, only the images of this part of the hash split "
                     "(train, calibration, test; default all); CTC sequences are taken whole")
          ->check(CLI::IsMember({"all", "train", "calibration", "test"}));
      app.add_option("--ema", o->ema,
                     "Keep, validate and save a moving average of the weights with this decay (e.g. 0.999; 0: off)")
          ->check(CLI::Range(0.0, 0.9999999));
      app.add_option("--val-samples", o->val_samples, "Validation samples per source")->check(CLI::PositiveNumber);
      app.add_option("--validate-every", o->validate_every, "Steps between validations (default: one epoch, at most 200)");
      app.add_option("--checkpoint-minutes", o->checkpoint_minutes, "Minutes between checkpoints");
      app.add_option("--resume", o->resume, "Continue from a checkpoint (OUT.ckpt) of the same settings")
          ->check(CLI::ExistingFile);
      app.add_option("--init", o->init, "Start from this model's weights (fine-tuning)")->check(CLI::ExistingFile);
      app.add_flag("--quiet", o->quiet, "No progress lines");
      app.add_flag("--replot", o->replot, "Only redraw OUT.curve.svg from OUT.log.csv");
      return [o] {
        if (o->replot) {
          write_training_curve(o->out + ".log.csv", o->out + ".curve.svg");
          return 0;
        }
        const std::string& cmd = qanet::cli::invocation();
        return o->dim == 2 ? train<2>(*o, cmd) : train<3>(*o, cmd);
      };
    }};

}  // namespace
