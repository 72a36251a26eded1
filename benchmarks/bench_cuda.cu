// GPU throughput of qanet's CUDA backend: training samples/s (zero_grad + forward + MSE +
// backward + fused AdamW) and inference samples/s (forward with running statistics) for one
// model, batch and math mode. Prints one JSON object per line (read by gpu_check.sh and
// torch_gpu_compare.py). Without a usable device it prints the reason and exits 0.
//
// Usage: bench_cuda [--arch ribcage] [--preset paper] [--dim 2] [--batch 32] [--math tf32|fp32]
//                   [--algo benchmark|heuristic] [--warmup 3] [--steps 10] [--size N]
//   --size overrides the preset's patch (2D: N x N; 3D: N/8 x N x N, at least 16 slices).

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "qanet/cuda.hpp"

using namespace qanet;

namespace {

struct Args {
  std::string arch = "ribcage", preset = "paper", math = "tf32", algo = "benchmark";
  int dim = 2, batch = 32, warmup = 3, steps = 10;
  long size = 0;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    auto next = [&](const char* name) -> std::string {
      if (i + 1 >= argc) throw InvalidArgument(std::string("bench_cuda: ") + name + " needs a value");
      return argv[++i];
    };
    const std::string k = argv[i];
    if (k == "--arch") a.arch = next("--arch");
    else if (k == "--preset") a.preset = next("--preset");
    else if (k == "--dim") a.dim = std::stoi(next("--dim"));
    else if (k == "--batch") a.batch = std::stoi(next("--batch"));
    else if (k == "--math") a.math = next("--math");
    else if (k == "--algo") a.algo = next("--algo");
    else if (k == "--warmup") a.warmup = std::stoi(next("--warmup"));
    else if (k == "--steps") a.steps = std::stoi(next("--steps"));
    else if (k == "--size") a.size = std::stol(next("--size"));
    else throw InvalidArgument("bench_cuda: unknown option " + k);
  }
  if (a.math != "tf32" && a.math != "fp32")
    throw InvalidArgument("bench_cuda: --math must be tf32 or fp32 (bf16 is not implemented in qanet yet)");
  return a;
}

nn::Tensor<float> random_host(const nn::TensorShape& s, std::uint64_t seed, bool trinary) {
  nn::Tensor<float> t(s);
  Rng rng(seed);
  for (float& v : t) v = trinary ? 0.5f * static_cast<float>(rng.uniform_int(0, 2)) : static_cast<float>(rng.uniform(0, 1));
  return t;
}

double seconds_between(cudaEvent_t a, cudaEvent_t b) {
  float ms = 0;
  QANET_CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
  return ms / 1000.0;
}

template <int Dim>
int run(const Args& a) {
  nn::ModelConfig cfg = nn::model_preset(nn::parse_architecture(a.arch), a.preset, Dim);
  if (a.size > 0) cfg.patch = Dim == 2 ? std::vector<Index>{a.size, a.size} : std::vector<Index>{std::max<long>(16, a.size / 8), a.size, a.size};
  cuda::Context ctx;
  ctx.set_math(a.math == "tf32" ? cuda::Math::tf32 : cuda::Math::fp32);
  ctx.set_algo_search(a.algo == "benchmark" ? cuda::AlgoSearch::benchmark : cuda::AlgoSearch::heuristic);
  cuda::Network<Dim> net(ctx, cfg, 1);
  net.set_need_input_grad(false);
  cuda::AdamW opt(ctx, net.flat_values(), net.flat_grads());
  cuda::MseLoss loss(ctx);
  nn::TensorShape s;
  s.rank = 2 + Dim;
  s.dims[0] = a.batch;
  s.dims[1] = 1;
  for (int d = 0; d < Dim; ++d) s.dims[2 + d] = cfg.patch[d];
  cuda::DTensor image, seg, target;
  image.upload(random_host(s, 1, false), ctx.stream());
  seg.upload(random_host(s, 2, true), ctx.stream());
  target.upload(random_host({a.batch, 1}, 3, false), ctx.stream());

  double last_loss = 0;
  auto train_step = [&] {
    net.zero_grad();
    last_loss = loss.forward(net.forward(image, seg, nn::Mode::train), target);  // waits: like loss.item()
    net.backward(loss.backward());
    opt.step();
  };
  auto infer_step = [&] { net.forward(image, seg, nn::Mode::infer); };

  cudaEvent_t e0, e1;
  QANET_CUDA_CHECK(cudaEventCreate(&e0));
  QANET_CUDA_CHECK(cudaEventCreate(&e1));
  const auto wall0 = std::chrono::steady_clock::now();
  for (int i = 0; i < a.warmup; ++i) train_step();  // includes the algorithm search
  ctx.synchronize();
  const double warmup_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  QANET_CUDA_CHECK(cudaEventRecord(e0, ctx.stream()));
  for (int i = 0; i < a.steps; ++i) train_step();
  QANET_CUDA_CHECK(cudaEventRecord(e1, ctx.stream()));
  QANET_CUDA_CHECK(cudaEventSynchronize(e1));
  const double train_s = seconds_between(e0, e1);
  for (int i = 0; i < a.warmup; ++i) infer_step();
  QANET_CUDA_CHECK(cudaEventRecord(e0, ctx.stream()));
  for (int i = 0; i < a.steps; ++i) infer_step();
  QANET_CUDA_CHECK(cudaEventRecord(e1, ctx.stream()));
  QANET_CUDA_CHECK(cudaEventSynchronize(e1));
  const double infer_s = seconds_between(e0, e1);
  std::size_t free_b = 0, total_b = 0;
  QANET_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);

  std::string patch;
  for (std::size_t i = 0; i < cfg.patch.size(); ++i) patch += (i ? "x" : "") + std::to_string(cfg.patch[i]);
  std::printf(
      "{\"impl\": \"qanet\", \"device\": \"%s\", \"arch\": \"%s\", \"preset\": \"%s\", \"dim\": %d, \"patch\": \"%s\", "
      "\"batch\": %d, \"math\": \"%s\", \"algo\": \"%s\", \"params\": %lld, \"steps\": %d, \"warmup_s\": %.3f, "
      "\"train_samples_per_s\": %.3f, \"infer_samples_per_s\": %.3f, \"device_memory_used_mib\": %.0f, \"last_loss\": %.6g}\n",
      cuda::device_probe().name.c_str(), a.arch.c_str(), a.preset.c_str(), Dim, patch.c_str(), a.batch, a.math.c_str(),
      a.algo.c_str(), static_cast<long long>(net.param_count()), a.steps, warmup_s, a.steps * a.batch / train_s,
      a.steps * a.batch / infer_s, static_cast<double>(total_b - free_b) / (1024.0 * 1024.0), last_loss);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Args a = parse(argc, argv);
    if (!cuda::available()) {
      std::printf("{\"impl\": \"qanet\", \"skipped\": \"no usable CUDA device (%s)\"}\n", cuda::unavailable_reason().c_str());
      return 0;
    }
    return a.dim == 3 ? run<3>(a) : run<2>(a);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_cuda: %s\n", e.what());
    return 1;
  }
}
