#pragma once
// The QANet training loop (SPEC §5): AdamW with a cosine schedule and linear warm-up, MSE on
// the exact metric of perturbed masks, validation on a fixed held-out set, the best model kept,
// and checkpoints (weights, optimiser moments, step) from which a run resumes exactly.

#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "qanet/core/parallel.hpp"
#include "qanet/nn/loss.hpp"
#include "qanet/nn/model_file.hpp"
#include "qanet/nn/network.hpp"
#include "qanet/nn/optim.hpp"
#include "qanet/qa/training_data.hpp"

namespace qanet {

struct TrainerOptions {
  Index batch = 32;
  long steps = 1000;
  long warmup = -1;          // steps of linear warm-up; -1: 10% of the steps (the reference)
  nn::AdamWOptions adamw;    // lr 1e-3, weight decay 1e-4, betas 0.9 / 0.999
  double lr_floor = 2e-8;
  double clip = 0;           // global gradient-norm clipping; 0: off
  std::uint64_t seed = 1;
  long validate_every = 100; // steps
  long log_every = 10;       // steps between progress reports
  // Polyak averaging: > 0 keeps an exponential moving average of the weights and BatchNorm
  // statistics (decay min(ema, (1 + t) / (10 + t)) at step t, the usual warm-up), and
  // validation, the best model and average() use the average instead of the raw weights,
  // which wander with every noisy small batch. 0: off.
  double ema = 0;
};

// What the callbacks see.
struct TrainProgress {
  long step = 0, steps = 0;  // steps done, total
  double loss = 0;           // mean training loss since the last report
  double lr = 0;
  double samples_per_s = 0;
  double seconds = 0;        // since this run started
  std::optional<double> val_mse;
  double best_val_mse = std::numeric_limits<double>::infinity();
  bool improved = false;     // this validation is the best so far
};

// A fixed validation set, encoded once. target is [n, outputs]: the score, then (models with
// an object-count output) the GT objects in view / nn::object_count_unit.
struct ValidationSet {
  nn::Tensor<float> image, seg, target;
  Index size() const { return target.rank() ? target.dim(0) : 0; }
};

// The targets of one sample for a network of `outputs` outputs.
inline void set_targets(nn::Tensor<float>& target, Index i, Index outputs, double score, double objects) {
  target[i * outputs] = static_cast<float>(score);
  if (outputs == 2) target[i * outputs + 1] = static_cast<float>(objects / nn::object_count_unit);
}

// A target without a value (NaN: the score of a view of false positives alone) takes the
// prediction itself, so that the squared error gives that output no gradient from the sample.
inline void fill_undefined_targets(nn::Tensor<float>& target, const nn::Tensor<float>& prediction) {
  for (Index i = 0; i < target.numel(); ++i)
    if (std::isnan(target[i])) target[i] = prediction[i];
}

template <int Dim>
ValidationSet make_validation_set(const TrainingData<Dim>& data, std::uint64_t seed, Index n, nn::InputEncoding enc,
                                  Index outputs = 1) {
  ValidationSet v;
  const Shape<Dim> p = data.options().patch;
  std::array<Index, Dim> sp;
  for (int a = 0; a < Dim; ++a) sp[a] = p[a];
  v.image.reshape(nn::activation_shape<Dim>(n, 1, sp));
  v.seg.reshape(v.image.shape());
  v.target.reshape({n, outputs});
  parallel_for_each_index(n, 1, [&](Index i) {
    double t = 0, objects = 0;
    const auto s = data.sample(seed, static_cast<std::uint64_t>(i), &t, outputs == 2 ? &objects : nullptr);
    fill_network_inputs(v.image, v.seg, i, s.image.cview(), s.mask.cview(), enc, data.options().convention.normalisation);
    set_targets(v.target, i, outputs, t, objects);
  });
  return v;
}

// The network's score output (inference mode) for every sample of a validation set.
template <int Dim>
std::vector<double> predict(nn::Network<float, Dim>& net, const ValidationSet& v, Index chunk = 64) {
  std::vector<double> out;
  const Index n = v.size();
  out.reserve(static_cast<std::size_t>(n));
  const Index per = v.image.numel() / std::max<Index>(n, 1), k = net.config().outputs;
  nn::Tensor<float> image, seg;
  for (Index b = 0; b < n; b += chunk) {
    const Index m = std::min(chunk, n - b);
    nn::TensorShape s = v.image.shape();
    s[0] = m;
    image.reshape(s);
    seg.reshape(s);
    std::copy_n(v.image.data() + b * per, m * per, image.data());
    std::copy_n(v.seg.data() + b * per, m * per, seg.data());
    const auto& y = net.forward(image, seg, nn::Mode::infer);
    for (Index i = 0; i < m; ++i) out.push_back(static_cast<double>(y[i * k]));
  }
  return out;
}

template <int Dim>
class Trainer {
 public:
  Trainer(nn::Network<float, Dim>& net, const TrainingData<Dim>& data, TrainerOptions opt)
      : net_(net), data_(data), opt_(opt), adamw_(net.params(), opt.adamw) {
    if (opt_.batch < 1 || opt_.steps < 1) throw InvalidArgument("trainer: batch and steps must be >= 1");
    // Both are divisors in run(): 0 would crash (integer division by zero), not just log less.
    if (opt_.validate_every < 1 || opt_.log_every < 1)
      throw InvalidArgument("trainer: validate_every and log_every must be >= 1");
    if (opt_.warmup < 0) opt_.warmup = opt_.steps / 10;
    if (!(opt_.ema >= 0 && opt_.ema < 1)) throw InvalidArgument("trainer: ema must lie in [0, 1)");
    if ((net.config().outputs == 2) != data.options().count_objects)
      throw InvalidArgument("trainer: a network with an object-count output needs training data that counts objects, and only it");
    if (opt_.ema > 0) {
      for (const auto& p : net_.params()) average_.emplace_back(*p.value);
      for (const auto& b : net_.buffers()) average_.emplace_back(*b.value);
    }
    std::array<Index, Dim> sp;
    for (int a = 0; a < Dim; ++a) sp[a] = data.options().patch[a];
    image_.reshape(nn::activation_shape<Dim>(opt_.batch, 1, sp));
    seg_.reshape(image_.shape());
    target_.reshape({opt_.batch, net.config().outputs});
    net_.set_need_input_grad(false);
  }

  long step() const { return step_; }
  double best_val_mse() const { return best_; }
  const TrainerOptions& options() const { return opt_; }

  // Mean squared error of the network's score (inference mode) on a validation set (the
  // object-count output of a model that has one is trained, not validated: models stay
  // comparable by their scores).
  double validate(const ValidationSet& v) {
    const auto y = predict(net_, v);
    const Index k = v.target.dim(1);
    double sum = 0;
    std::size_t n = 0;
    for (std::size_t i = 0; i < y.size(); ++i) {
      const double t = v.target[static_cast<Index>(i) * k];
      if (std::isnan(t)) continue;  // a view of false positives alone: no score to compare
      sum += (y[i] - t) * (y[i] - t), ++n;
    }
    return sum / static_cast<double>(std::max<std::size_t>(n, 1));
  }

  // Runs from the current step to opt.steps. on_progress is called every log_every steps and
  // after each validation; on_best after a validation that improved (save the model there);
  // on_checkpoint between steps whenever it likes (it returns quickly when it has nothing to do).
  void run(const ValidationSet* val, const std::function<void(const TrainProgress&)>& on_progress,
           const std::function<void()>& on_best = {}, const std::function<void()>& on_checkpoint = {}) {
    using clock = std::chrono::steady_clock;
    const auto t0 = clock::now();
    auto last = t0;
    long samples_since = 0;
    nn::MseLoss<float> mse;
    const auto params = net_.params();
    while (step_ < opt_.steps) {
      load_batch(step_);
      const double lr = nn::cosine_lr(step_, opt_.steps, opt_.warmup, opt_.adamw.lr, opt_.lr_floor);
      adamw_.set_lr(lr);
      net_.zero_grad();
      const auto& y = net_.forward(image_, seg_, nn::Mode::train);
      fill_undefined_targets(target_, y);
      const double loss = mse.forward(y, target_);
      if (!std::isfinite(loss))
        throw Error("training diverged at step " + std::to_string(step_) + " (loss " + std::to_string(loss) +
                    "); lower the learning rate or enable --clip");
      net_.backward(mse.backward());
      if (opt_.clip > 0) nn::clip_grad_norm(params, opt_.clip);
      adamw_.step();
      ++step_;
      update_average();
      loss_sum_ += loss, ++loss_n_, samples_since += opt_.batch;

      const bool validate_now = val && (step_ % opt_.validate_every == 0 || step_ == opt_.steps);
      if (step_ % opt_.log_every == 0 || validate_now || step_ == opt_.steps) {
        const auto now = clock::now();
        TrainProgress p;
        p.step = step_, p.steps = opt_.steps, p.lr = lr;
        p.loss = loss_sum_ / static_cast<double>(std::max<long>(loss_n_, 1));
        p.samples_per_s = static_cast<double>(samples_since) / std::max(1e-9, std::chrono::duration<double>(now - last).count());
        p.seconds = std::chrono::duration<double>(now - t0).count();
        with_average([&] {  // the averaged weights are the ones validated and kept
          if (validate_now) {
            p.val_mse = validate(*val);
            p.improved = *p.val_mse < best_;
            if (p.improved) best_ = *p.val_mse;
          }
          p.best_val_mse = best_;
          on_progress(p);
          if (p.improved && on_best) on_best();
        });
        loss_sum_ = 0, loss_n_ = 0, samples_since = 0;
        last = clock::now();
      }
      if (on_checkpoint) on_checkpoint();
    }
  }

  // Runs f with the averaged weights in the network (with the raw ones when averaging is off),
  // then puts the raw weights back, even when f throws.
  template <typename F>
  void with_average(F&& f) {
    if (average_.empty()) return f();
    swap_average();
    struct Back {
      Trainer* t;
      ~Back() { t->swap_average(); }
    } back{this};
    f();
  }

  // Checkpoint: the model file's tensors and metadata plus the optimiser moments and the step.
  void save_checkpoint(const std::filesystem::path& path, nn::ModelInfo info) {
    info.config = net_.config();
    nn::SafetensorsFile f;
    f.metadata = nn::detail::model_metadata(info);
    f.metadata["checkpoint_step"] = std::to_string(step_);
    // Doubles in full (to_string keeps 6 decimals): a resumed run compares its validations with
    // the best one, and a rounded best changes which model it keeps.
    f.metadata["checkpoint_best_val_mse"] = std::isfinite(best_) ? exact_decimal(best_) : "inf";
    f.metadata["checkpoint_loss_sum"] = exact_decimal(loss_sum_);  // the next report's mean
    f.metadata["checkpoint_loss_count"] = std::to_string(loss_n_);
    f.metadata["checkpoint_seed"] = std::to_string(opt_.seed);
    f.metadata["checkpoint_steps"] = std::to_string(opt_.steps);
    f.metadata["checkpoint_batch"] = std::to_string(opt_.batch);
    f.metadata["checkpoint_data"] = data_settings();
    if (opt_.ema > 0) f.metadata["checkpoint_ema"] = exact_decimal(opt_.ema);
    const auto params = net_.params();
    for (std::size_t k = 0; k < params.size(); ++k) {
      f.tensors[params[k].name].assign(*params[k].value);
      nn::Tensor<float> m(params[k].value->shape()), v(params[k].value->shape());
      std::copy(adamw_.first_moments()[k].begin(), adamw_.first_moments()[k].end(), m.data());
      std::copy(adamw_.second_moments()[k].begin(), adamw_.second_moments()[k].end(), v.data());
      f.tensors["adamw.m." + params[k].name] = std::move(m);
      f.tensors["adamw.v." + params[k].name] = std::move(v);
    }
    for (const auto& b : net_.buffers()) f.tensors[b.name].assign(*b.value);
    const auto names = state_names();
    for (std::size_t k = 0; k < average_.size(); ++k) f.tensors["average." + names[k]].assign(average_[k]);
    nn::write_safetensors(path, f);
  }

  // Restores weights, statistics, moments and step from a checkpoint of the same run settings.
  void load_checkpoint(const std::filesystem::path& path) {
    const std::string what = path.string();
    nn::SafetensorsFile f = nn::read_safetensors(path);
    auto meta = [&](const char* key) -> std::string {
      auto it = f.metadata.find(key);
      if (it == f.metadata.end()) throw IoError(what + ": not a qanet training checkpoint ('" + key + "' missing)");
      return it->second;
    };
    const long step = std::stol(meta("checkpoint_step"));
    if (std::stoull(meta("checkpoint_seed")) != opt_.seed || std::stol(meta("checkpoint_steps")) != opt_.steps ||
        std::stol(meta("checkpoint_batch")) != opt_.batch)
      throw InvalidArgument(what + ": checkpoint of a run with seed " + meta("checkpoint_seed") + ", " +
                            meta("checkpoint_steps") + " steps, batch " + meta("checkpoint_batch") +
                            "; resume with the same settings");
    const auto ema = f.metadata.find("checkpoint_ema");
    if ((ema == f.metadata.end()) != (opt_.ema == 0) || (ema != f.metadata.end() && std::stod(ema->second) != opt_.ema))
      throw InvalidArgument(what + ": checkpoint of a run with weight averaging " +
                            (ema == f.metadata.end() ? std::string("off") : ema->second) + "; resume with the same settings");
    // The training stream must be the same too (metric, patch, scale, simulation share).
    if (auto it = f.metadata.find("checkpoint_data"); it != f.metadata.end() && it->second != data_settings())
      throw InvalidArgument(what + ": checkpoint of a run with training data " + it->second + ", this run has " +
                            data_settings() + "; resume with the same settings");
    auto take = [&](const std::string& name, nn::Tensor<float>& dst) {
      auto it = f.tensors.find(name);
      if (it == f.tensors.end() || it->second.shape() != dst.shape())
        throw IoError(what + ": tensor '" + name + "' missing or of another shape (checkpoint of another model?)");
      dst.assign(it->second);
    };
    const auto params = net_.params();
    for (std::size_t k = 0; k < params.size(); ++k) {
      take(params[k].name, *params[k].value);
      nn::Tensor<float> m(params[k].value->shape()), v(params[k].value->shape());
      take("adamw.m." + params[k].name, m);
      take("adamw.v." + params[k].name, v);
      adamw_.first_moments()[k].assign(m.begin(), m.end());
      adamw_.second_moments()[k].assign(v.begin(), v.end());
    }
    for (const auto& b : net_.buffers()) take(b.name, *b.value);
    const auto names = state_names();
    for (std::size_t k = 0; k < average_.size(); ++k) take("average." + names[k], average_[k]);
    const std::string best = meta("checkpoint_best_val_mse");
    best_ = best == "inf" ? std::numeric_limits<double>::infinity() : std::stod(best);
    // Checkpoints from before the loss sum was kept resume with a fresh one.
    const auto sum = f.metadata.find("checkpoint_loss_sum"), count = f.metadata.find("checkpoint_loss_count");
    loss_sum_ = sum != f.metadata.end() ? std::stod(sum->second) : 0.0;
    loss_n_ = count != f.metadata.end() ? std::stol(count->second) : 0;
    step_ = step;
    adamw_.set_step_count(step);
  }

 private:
  // A decimal that reads back as the same double.
  static std::string exact_decimal(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return buf;
  }

  // What defines the training stream besides the seed (checked on resumption).
  std::string data_settings() const {
    const auto& d = data_.options();
    nlohmann::json j{{"metric", d.metric},
                     {"patch", d.patch.str()},
                     {"target_diameter", d.target_diameter},
                     {"simulate", d.simulate},
                     {"simulate_fraction", d.simulate_fraction},
                     {"real_frames", data_.real_frames()}};
    // Named only when on, so checkpoints written before the mode existed still resume.
    if (d.perturb.boundary_shift_probability > 0) j["boundary_shift_probability"] = d.perturb.boundary_shift_probability;
    if (d.segmenter_error_probability > 0) j["segmenter_error_probability"] = d.segmenter_error_probability;
    if (d.clean_probability > 0) j["clean_probability"] = d.clean_probability;
    if (d.scale_jitter > 1) j["scale_jitter"] = d.scale_jitter;
    if (d.judged_scale) j["judged_scale"] = true;
    if (d.whole_object_seg) j["whole_object_seg"] = true;
    if (d.count_objects) j["count_objects"] = true;
    if (d.false_positive_views > 0) j["false_positive_views"] = d.false_positive_views;
    if (d.gamma_jitter > 1) j["gamma_jitter"] = d.gamma_jitter;
    if (d.convention.normalisation == Normalisation::per_image) j["normalisation"] = "per image";
    if (d.convention.scale != ScaleMeasure::object_median) j["scale_measure"] = scale_measure_name(d.convention.scale);
    return j.dump();
  }

  // Names of the weights and statistics, in the order of average_.
  std::vector<std::string> state_names() const {
    std::vector<std::string> n;
    for (const auto& p : net_.params()) n.push_back(p.name);
    for (const auto& b : net_.buffers()) n.push_back(b.name);
    return n;
  }

  void update_average() {
    if (average_.empty()) return;
    const double d = std::min(opt_.ema, (1.0 + static_cast<double>(step_)) / (10.0 + static_cast<double>(step_)));
    const float keep = static_cast<float>(d), take = static_cast<float>(1.0 - d);
    std::size_t k = 0;
    auto blend = [&](const nn::Tensor<float>& now) {
      float* a = average_[k++].data();
      const float* x = now.data();
      for (Index i = 0; i < now.numel(); ++i) a[i] = keep * a[i] + take * x[i];
    };
    for (const auto& p : net_.params()) blend(*p.value);
    for (const auto& b : net_.buffers()) blend(*b.value);
  }

  void swap_average() {
    std::size_t k = 0;
    auto swap = [&](nn::Tensor<float>& now) {
      float* a = average_[k++].data();
      float* x = now.data();
      for (Index i = 0; i < now.numel(); ++i) std::swap(a[i], x[i]);
    };
    for (const auto& p : net_.params()) swap(*p.value);
    for (const auto& b : net_.buffers()) swap(*b.value);
  }

  // Batch of step s: samples s*B .. s*B+B-1 of the training stream, made in parallel.
  void load_batch(long s) {
    const std::uint64_t first = static_cast<std::uint64_t>(s) * static_cast<std::uint64_t>(opt_.batch);
    const auto enc = net_.config().encoding;
    const Index k = net_.config().outputs;
    parallel_for_each_index(opt_.batch, 1, [&](Index i) {
      double t = 0, objects = 0;
      const auto smp = data_.sample(opt_.seed, first + static_cast<std::uint64_t>(i), &t, k == 2 ? &objects : nullptr);
      fill_network_inputs(image_, seg_, i, smp.image.cview(), smp.mask.cview(), enc, data_.options().convention.normalisation);
      set_targets(target_, i, k, t, objects);
    });
  }

  nn::Network<float, Dim>& net_;
  const TrainingData<Dim>& data_;
  TrainerOptions opt_;
  nn::AdamW<float> adamw_;
  nn::Tensor<float> image_, seg_, target_;
  std::vector<nn::Tensor<float>> average_;  // weights then statistics (opt.ema > 0)
  long step_ = 0;
  double best_ = std::numeric_limits<double>::infinity();
  double loss_sum_ = 0;  // training loss since the last report, and its steps
  long loss_n_ = 0;
};

}  // namespace qanet
