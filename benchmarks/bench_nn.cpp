// Google Benchmark of the nn engine: the three convolution passes at RibCage shapes (with
// GFLOP/s counters), the inference block (direct and Winograd) and whole training / inference
// steps of the small preset.
#include <benchmark/benchmark.h>

#include "qanet/core/random.hpp"
#include "qanet/nn.hpp"

namespace {

using namespace qanet;
using namespace qanet::nn;

Tensor<float> random_tensor(const TensorShape& s, std::uint64_t seed) {
  Tensor<float> t(s);
  Rng rng(seed);
  for (float& v : t) v = static_cast<float>(rng.uniform(-1, 1));
  return t;
}

// Args: in channels, out channels, input edge, batch, Winograd (1) or im2col + GEMM (0).
void conv_args(benchmark::internal::Benchmark* b) {
  for (int w : {1, 0}) {
    b->Args({2, 32, 256, 8, w});     // spine block 0 (paper; never Winograd: 2 input channels)
    b->Args({96, 64, 127, 8, w});    // spine block 1 (paper)
    b->Args({32, 64, 127, 8, w});    // image rib block 1 (paper)
    b->Args({384, 256, 30, 8, w});   // spine block 3 (paper)
  }
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

double conv_flops(const benchmark::State& st) {
  const double ci = st.range(0), co = st.range(1), o = st.range(2) - 2, n = st.range(3);
  return 2.0 * ci * co * 9 * o * o * n;
}

void BM_conv_forward(benchmark::State& st) {
  Conv<float, 2> conv(st.range(0), st.range(1), 0);
  conv.set_winograd(st.range(4) != 0);
  const Tensor<float> x = random_tensor({st.range(3), st.range(0), st.range(2), st.range(2)}, 1);
  for (auto _ : st) benchmark::DoNotOptimize(conv.forward(x).data());
  st.counters["GFLOP/s"] = benchmark::Counter(conv_flops(st) * st.iterations() / 1e9, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_conv_forward)->Apply(conv_args);

void BM_conv_backward(benchmark::State& st, bool data) {
  Conv<float, 2> conv(st.range(0), st.range(1), 0);
  conv.set_need_input_grad(data);
  conv.set_winograd(st.range(4) != 0);
  const Tensor<float> x = random_tensor({st.range(3), st.range(0), st.range(2), st.range(2)}, 1);
  const Tensor<float> dy = random_tensor(conv.forward(x).shape(), 2);
  for (auto _ : st) benchmark::DoNotOptimize(conv.backward(dy).data());
  // Without the data gradient this is conv_backward_filter alone; with it, both passes.
  st.counters["GFLOP/s"] = benchmark::Counter((data ? 2 : 1) * conv_flops(st) * st.iterations() / 1e9,
                                              benchmark::Counter::kIsRate);
}
void BM_conv_backward_filter(benchmark::State& st) { BM_conv_backward(st, false); }
void BM_conv_backward_filter_and_data(benchmark::State& st) { BM_conv_backward(st, true); }
BENCHMARK(BM_conv_backward_filter)->Apply(conv_args);
BENCHMARK(BM_conv_backward_filter_and_data)->Apply(conv_args);

// The inference block (conv + BatchNorm + LeakyReLU + pool, Block::predict) at the small
// model's shapes when scoring a 1024^2 frame (one band, batch 1): im2col + GEMM against
// Winograd F(2x2, 3x3). Args: in channels, out channels, input edge, winograd (0/1). The
// GFLOP/s counter counts the direct convolution's FLOPs, so the two paths compare by it.
void BM_block_predict(benchmark::State& st) {
  Block<float, 2> block(st.range(0), st.range(1), 0);
  block.set_winograd(st.range(3) != 0);
  const Tensor<float> x = random_tensor({1, st.range(0), st.range(2), st.range(2)}, 1);
  Tensor<float> z;
  for (auto _ : st) benchmark::DoNotOptimize(block.predict({&x}, z).data());
  const double o = static_cast<double>(st.range(2) - 2);
  st.counters["GFLOP/s"] = benchmark::Counter(2.0 * st.range(0) * st.range(1) * 9 * o * o * st.iterations() / 1e9,
                                              benchmark::Counter::kIsRate);
}
BENCHMARK(BM_block_predict)
    ->ArgsProduct({{16}, {32}, {400}, {0, 1}})
    ->ArgsProduct({{48}, {32}, {400}, {0, 1}})
    ->ArgsProduct({{32}, {64}, {200}, {0, 1}})
    ->ArgsProduct({{96}, {64}, {200}, {0, 1}})
    ->ArgsProduct({{64}, {128}, {100}, {0, 1}})
    ->ArgsProduct({{192}, {128}, {100}, {0, 1}})
    ->ArgsProduct({{8}, {16}, {400}, {0, 1}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Args: batch, Winograd (1) or im2col + GEMM (0). Small RibCage 2D on 128x128.
void BM_small_train_step(benchmark::State& st) {
  Network<float, 2> net(model_preset(Architecture::ribcage, "small", 2), 1);
  net.set_need_input_grad(false);
  net.set_winograd(st.range(1) != 0);
  const Index n = st.range(0);
  const Tensor<float> x = random_tensor({n, 1, 128, 128}, 1), s = random_tensor({n, 1, 128, 128}, 2),
                      t = random_tensor({n, 1}, 3);
  MseLoss<float> mse;
  AdamW<float> opt(net.params());
  for (auto _ : st) {
    net.zero_grad();
    mse.forward(net.forward(x, s, Mode::train), t);
    net.backward(mse.backward());
    opt.step();
  }
  st.counters["samples/s"] = benchmark::Counter(static_cast<double>(n * st.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_small_train_step)->Args({8, 1})->Args({8, 0})->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_small_inference(benchmark::State& st) {
  Network<float, 2> net(model_preset(Architecture::ribcage, "small", 2), 1);
  const Index n = st.range(0);
  const Tensor<float> x = random_tensor({n, 1, 128, 128}, 1), s = random_tensor({n, 1, 128, 128}, 2);
  for (auto _ : st) benchmark::DoNotOptimize(net.forward(x, s, Mode::infer).data());
  st.counters["samples/s"] = benchmark::Counter(static_cast<double>(n * st.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_small_inference)->Arg(8)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
