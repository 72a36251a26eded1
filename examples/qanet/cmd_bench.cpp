// qanet bench: parameter count and training / inference throughput of a network on random data.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <memory>

#include <nlohmann/json.hpp>
#include <tbb/global_control.h>

#include "command.hpp"
#include "qanet/core/random.hpp"
#include "qanet/nn.hpp"

namespace {

struct BenchOptions {
  std::string preset = "paper";
  std::string architecture = "ribcage";
  int dim = 2;
  long size = 0;  // 0: the preset's patch
  long batch = 8;
  long steps = 3;
  int threads = 0;
  bool json = false;
  bool winograd = true;  // Winograd F(2x2, 3x3) for the wide 2D 3x3 convolutions
};

double peak_rss_mb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;  // kilobytes on Linux
}

template <int Dim>
int run_dim(const BenchOptions& o) {
  using namespace qanet::nn;
  ModelConfig cfg = model_preset(parse_architecture(o.architecture), o.preset, Dim);
  Network<float, Dim> net(cfg, 1);
  net.set_winograd(o.winograd);
  nlohmann::ordered_json out;
  out["architecture"] = o.architecture;
  out["preset"] = o.preset;
  out["dim"] = Dim;
  out["params"] = net.param_count();
  if (o.steps <= 0) {
    if (o.json) std::printf("%s\n", out.dump().c_str());
    else std::printf("params %lld\n", static_cast<long long>(net.param_count()));
    return 0;
  }
  if (o.batch < 2) throw qanet::InvalidArgument("bench: --batch must be at least 2 (BatchNorm training)");
  std::array<qanet::Index, Dim> sp{};
  for (int a = 0; a < Dim; ++a) sp[a] = o.size > 0 ? o.size : cfg.patch[a];
  if (Dim == 3 && o.size > 0) sp[0] = std::max<qanet::Index>(o.size / 8, net.min_input_extent());
  const TensorShape in = activation_shape<Dim>(o.batch, 1, sp);
  Tensor<float> image(in), seg(in), target({o.batch, 1});
  qanet::Rng rng(2);
  for (float& v : image) v = static_cast<float>(rng.uniform());
  for (float& v : seg) v = static_cast<float>(rng.uniform_int(0, 2)) / 2.0f;
  for (float& v : target) v = static_cast<float>(rng.uniform());
  net.set_need_input_grad(false);
  MseLoss<float> mse;
  AdamW<float> opt(net.params());
  auto train_step = [&] {
    net.zero_grad();
    mse.forward(net.forward(image, seg, Mode::train), target);
    net.backward(mse.backward());
    opt.step();
  };
  using clock = std::chrono::steady_clock;
  train_step();  // warm-up: buffers are allocated here
  auto t0 = clock::now();
  for (long s = 0; s < o.steps; ++s) train_step();
  const double train_s = std::chrono::duration<double>(clock::now() - t0).count();
  // Inference as scoring runs it (Network::predict: running statistics, no backward state), the
  // counterpart of PyTorch's eval() + no_grad().
  net.predict(image, seg);
  t0 = clock::now();
  for (long s = 0; s < o.steps; ++s) net.predict(image, seg);
  const double infer_s = std::chrono::duration<double>(clock::now() - t0).count();
  std::string shape;
  for (int a = 0; a < Dim; ++a) shape += (a ? "x" : "") + std::to_string(sp[a]);
  out["shape"] = shape;
  out["batch"] = o.batch;
  out["steps"] = o.steps;
  out["winograd"] = o.winograd;
  out["threads"] = o.threads;
  out["train_samples_per_s"] = static_cast<double>(o.batch * o.steps) / train_s;
  out["infer_samples_per_s"] = static_cast<double>(o.batch * o.steps) / infer_s;
  out["peak_rss_mb"] = peak_rss_mb();
  if (o.json) {
    std::printf("%s\n", out.dump().c_str());
  } else {
    std::printf("%s %s %dD, %s batch %ld, %lld parameters\n", o.architecture.c_str(), o.preset.c_str(), Dim,
                shape.c_str(), o.batch, static_cast<long long>(net.param_count()));
    std::printf("train  %.3f samples/s (%.3f s per step)\n", out["train_samples_per_s"].get<double>(), train_s / o.steps);
    std::printf("infer  %.3f samples/s\n", out["infer_samples_per_s"].get<double>());
    std::printf("peak memory %.0f MB\n", peak_rss_mb());
  }
  return 0;
}

int run(const BenchOptions& o) {
  std::unique_ptr<tbb::global_control> limit;
  if (o.threads > 0)
    limit = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism,
                                                  static_cast<std::size_t>(o.threads));
  return o.dim == 3 ? run_dim<3>(o) : run_dim<2>(o);
}

qanet::cli::RegisterCommand reg{
    "bench", "Training and inference speed of a network on random data", [](CLI::App& app) {
      auto o = std::make_shared<BenchOptions>();
      app.add_option("--preset", o->preset, "paper or small")->check(CLI::IsMember({"paper", "small"}));
      app.add_option("--arch", o->architecture, "ribcage, siamese or naive")
          ->check(CLI::IsMember({"ribcage", "siamese", "naive"}));
      app.add_option("--dim", o->dim, "2 or 3")->check(CLI::IsMember({2, 3}));
      app.add_option("--size", o->size, "patch edge in pixels (default: the preset's patch; 3D depth = size/8)")
          ->check(CLI::NonNegativeNumber);
      app.add_option("--batch", o->batch, "batch size")->check(CLI::PositiveNumber);
      app.add_option("--steps", o->steps, "timed steps (0: print the parameter count only)")->check(CLI::NonNegativeNumber);
      app.add_option("--threads", o->threads, "worker threads (default: all cores)")->check(CLI::NonNegativeNumber);
      app.add_flag("--json", o->json, "print one JSON object");
      app.add_option("--winograd", o->winograd,
                     "Winograd F(2x2, 3x3) for the 2D 3x3 convolutions where it pays (inference from 32 input "
                     "channels, training from 64; default true; false: im2col + GEMM everywhere)");
      return [o] { return run(*o); };
    }};

}  // namespace
