// Every GPU op, forward and backward, against its CPU twin (nn/) on random inputs, 2D and 3D.
// Parameter gradients start from the same non-zero values on both devices, so the tests also
// check that backward ADDS into them. Tolerances: fp32 on both sides, only the summation order
// differs (Context::Math::fp32 forbids TF32).

#include "cuda_test_util.hpp"

using namespace qanet;
using qanet::testing::check_close;
using qanet::testing::random_host;
using qanet::testing::to_device;

namespace {

constexpr double tol = 2e-5;       // element-wise ops and small reductions
constexpr double tol_conv = 1e-4;  // long sums (convolutions, batch statistics)

template <int Dim>
nn::TensorShape act_shape(Index n, Index c) {
  // Odd extents: max pooling must drop the last row/column/slice (floor).
  if constexpr (Dim == 2) return {n, c, 19, 17};
  else return {n, c, 7, 9, 8};
}

// Copies a CPU parameter (value and gradient) to the GPU layer's.
void set_param(cuda::Context& ctx, cuda::DeviceParam& d, nn::Parameter<float>& h, std::uint64_t seed) {
  h.value = random_host(h.value.shape(), seed);
  h.grad = random_host(h.grad.shape(), seed + 1000);
  d.value.upload(h.value, ctx.stream());
  d.grad.upload(h.grad, ctx.stream());
}

template <int Dim>
void conv_case(cuda::Context& ctx, Index pad) {
  const nn::TensorShape xs = act_shape<Dim>(3, 4);
  nn::Conv<float, Dim> cpu(4, 5, pad);
  cuda::Conv<Dim> gpu(ctx, 4, 5, pad);
  set_param(ctx, gpu.weight, cpu.weight, 1);
  set_param(ctx, gpu.bias, cpu.bias, 2);
  const nn::Tensor<float> x = random_host(xs, 3);
  const cuda::DTensor dx_in = to_device(ctx, x);
  const std::string what = "conv " + std::to_string(Dim) + "D pad " + std::to_string(pad);
  const auto& y = cpu.forward(x);
  check_close(ctx, gpu.forward(dx_in), y, tol_conv, what + " conv_forward");
  const nn::Tensor<float> dy = random_host(y.shape(), 4);
  const cuda::DTensor ddy = to_device(ctx, dy);
  const auto& dx = cpu.backward(dy);
  check_close(ctx, gpu.backward(ddy), dx, tol_conv, what + " conv_backward_data");
  check_close(ctx, gpu.weight.grad, cpu.weight.grad, tol_conv, what + " conv_backward_filter (weight)");
  check_close(ctx, gpu.bias.grad, cpu.bias.grad, tol_conv, what + " conv_backward_filter (bias)");
}

template <int Dim>
void batchnorm_case(cuda::Context& ctx, nn::Mode mode) {
  const nn::TensorShape xs = act_shape<Dim>(3, 6);
  nn::BatchNorm<float> cpu(6);
  cuda::BatchNorm gpu(ctx, 6);
  set_param(ctx, gpu.weight, cpu.weight, 11);
  set_param(ctx, gpu.bias, cpu.bias, 12);
  cpu.running_mean = random_host({6}, 13);
  cpu.running_var = random_host({6}, 14, 0.5, 2.0);
  gpu.running_mean.upload(cpu.running_mean, ctx.stream());
  gpu.running_var.upload(cpu.running_var, ctx.stream());
  // A mean far from 0 makes a one-pass variance lose digits if it were done in float.
  const nn::Tensor<float> x = random_host(xs, 15, 2.0, 5.0);
  const cuda::DTensor gx = to_device(ctx, x);
  const std::string what = std::string("batchnorm ") + std::to_string(Dim) + "D " + (mode == nn::Mode::train ? "train" : "infer");
  const auto& y = cpu.forward(x, mode);
  check_close(ctx, gpu.forward(gx, mode), y, tol_conv, what + " forward");
  check_close(ctx, gpu.running_mean, cpu.running_mean, tol, what + " running_mean");
  check_close(ctx, gpu.running_var, cpu.running_var, tol, what + " running_var (unbiased)");
  const nn::Tensor<float> dy = random_host(y.shape(), 16);
  const cuda::DTensor gdy = to_device(ctx, dy);
  const auto& dx = cpu.backward(dy);
  check_close(ctx, gpu.backward(gdy), dx, tol_conv, what + " backward dx");
  check_close(ctx, gpu.weight.grad, cpu.weight.grad, tol_conv, what + " weight grad");
  check_close(ctx, gpu.bias.grad, cpu.bias.grad, tol_conv, what + " bias grad");
}

template <int Dim>
void elementwise_cases(cuda::Context& ctx) {
  const nn::TensorShape xs = act_shape<Dim>(2, 3);
  const nn::Tensor<float> x = random_host(xs, 21);
  const cuda::DTensor gx = to_device(ctx, x);
  const std::string d = std::to_string(Dim) + "D";
  {
    nn::LeakyRelu<float> cpu(0.01);
    cuda::LeakyRelu gpu(ctx, 0.01);
    const auto& y = cpu.forward(x);
    check_close(ctx, gpu.forward(gx), y, tol, "leaky_relu forward " + d);
    const nn::Tensor<float> dy = random_host(y.shape(), 22);
    const cuda::DTensor gdy = to_device(ctx, dy);
    check_close(ctx, gpu.backward(gdy), cpu.backward(dy), tol, "leaky_relu backward " + d);
  }
  {
    nn::Relu<float> cpu;
    cuda::Relu gpu(ctx);
    const auto& y = cpu.forward(x);
    check_close(ctx, gpu.forward(gx), y, tol, "relu forward " + d);
    const nn::Tensor<float> dy = random_host(y.shape(), 23);
    const cuda::DTensor gdy = to_device(ctx, dy);
    check_close(ctx, gpu.backward(gdy), cpu.backward(dy), tol, "relu backward " + d);
  }
  {
    nn::MaxPool<float, Dim> cpu;
    cuda::MaxPool<Dim> gpu(ctx);
    const auto& y = cpu.forward(x);
    const cuda::DTensor& gy = gpu.forward(gx);
    CHECK(gy.shape() == y.shape());
    check_close(ctx, gy, y, tol, "maxpool forward " + d);
    const nn::Tensor<float> dy = random_host(y.shape(), 24);
    const cuda::DTensor gdy = to_device(ctx, dy);
    check_close(ctx, gpu.backward(gdy), cpu.backward(dy), tol, "maxpool backward " + d);
  }
  {
    nn::GlobalAvgPool<float, Dim> cpu;
    cuda::GlobalAvgPool<Dim> gpu(ctx);
    const auto& y = cpu.forward(x);
    check_close(ctx, gpu.forward(gx), y, tol, "global_avg_pool forward " + d);
    const nn::Tensor<float> dy = random_host(y.shape(), 25);
    const cuda::DTensor gdy = to_device(ctx, dy);
    check_close(ctx, gpu.backward(gdy), cpu.backward(dy), tol, "global_avg_pool backward " + d);
  }
  {
    const nn::Tensor<float> b = random_host(act_shape<Dim>(2, 5), 26), c = random_host(act_shape<Dim>(2, 1), 27);
    const cuda::DTensor gb = to_device(ctx, b), gc = to_device(ctx, c);
    nn::Concat<float> cpu;
    cuda::Concat gpu(ctx);
    const auto& y = cpu.forward({&x, &b, &c});
    check_close(ctx, gpu.forward({&gx, &gb, &gc}), y, tol, "concat " + d);
    const nn::Tensor<float> dy = random_host(y.shape(), 28);
    const cuda::DTensor gdy = to_device(ctx, dy);
    const auto& parts = cpu.backward(dy);
    const auto& gparts = gpu.backward(gdy);
    REQUIRE(gparts.size() == 3);
    for (int k = 0; k < 3; ++k) check_close(ctx, gparts[k], parts[k], tol, "split " + d + " part " + std::to_string(k));
  }
}

// The fused GPU Block against nn::Block (conv -> BatchNorm -> LeakyReLU -> max-pool).
template <int Dim>
void block_case(cuda::Context& ctx, nn::Mode mode, Index pad) {
  nn::Block<float, Dim> cpu(2, 3, pad);
  cuda::Block<Dim> gpu(ctx, 2, 3, pad);
  set_param(ctx, gpu.conv.weight, cpu.conv.weight, 61);
  set_param(ctx, gpu.conv.bias, cpu.conv.bias, 62);
  set_param(ctx, gpu.bn.weight, cpu.bn.weight, 63);  // gammas of both signs
  set_param(ctx, gpu.bn.bias, cpu.bn.bias, 64);
  cpu.bn.running_mean = random_host({3}, 65);
  cpu.bn.running_var = random_host({3}, 66, 0.5, 2.0);
  gpu.bn.running_mean.upload(cpu.bn.running_mean, ctx.stream());
  gpu.bn.running_var.upload(cpu.bn.running_var, ctx.stream());
  const nn::Tensor<float> x = random_host(act_shape<Dim>(3, 2), 67);
  const cuda::DTensor gx = to_device(ctx, x);
  const std::string what = "block " + std::to_string(Dim) + "D pad " + std::to_string(pad) + (mode == nn::Mode::train ? " train" : " infer");
  const auto& y = cpu.forward(x, mode);
  check_close(ctx, gpu.forward(gx, mode), y, tol_conv, what + " forward");
  check_close(ctx, gpu.bn.running_var, cpu.bn.running_var, tol, what + " running_var");
  const nn::Tensor<float> dy = random_host(y.shape(), 68);
  const cuda::DTensor gdy = to_device(ctx, dy);
  check_close(ctx, gpu.backward(gdy), cpu.backward(dy), 1e-3, what + " dx");
  check_close(ctx, gpu.conv.weight.grad, cpu.conv.weight.grad, 1e-3, what + " conv weight grad");
  check_close(ctx, gpu.bn.weight.grad, cpu.bn.weight.grad, 1e-3, what + " bn weight grad");
  check_close(ctx, gpu.bn.bias.grad, cpu.bn.bias.grad, 1e-3, what + " bn bias grad");
}

}  // namespace

TEST_CASE("cuda: fused Block (conv, BatchNorm, LeakyReLU, max-pool) matches nn::Block") {
  QANET_REQUIRE_GPU();
  cuda::Context ctx;
  for (nn::Mode m : {nn::Mode::train, nn::Mode::infer}) {
    block_case<2>(ctx, m, 0);
    block_case<3>(ctx, m, 1);
  }
}

TEST_CASE("cuda: convolution forward, backward-data, backward-filter match the CPU (2D, 3D, valid and same)") {
  QANET_REQUIRE_GPU();
  cuda::Context ctx;
  for (Index pad : {0, 1}) {
    conv_case<2>(ctx, pad);
    conv_case<3>(ctx, pad);
  }
}

TEST_CASE("cuda: convolution algorithm search by benchmark gives the same results") {
  QANET_REQUIRE_GPU();
  cuda::Context ctx;
  ctx.set_algo_search(cuda::AlgoSearch::benchmark);
  conv_case<2>(ctx, 0);
  conv_case<3>(ctx, 1);
}

TEST_CASE("cuda: batch normalisation (training and inference) matches the CPU") {
  QANET_REQUIRE_GPU();
  cuda::Context ctx;
  for (nn::Mode m : {nn::Mode::train, nn::Mode::infer}) {
    batchnorm_case<2>(ctx, m);
    batchnorm_case<3>(ctx, m);
  }
}

TEST_CASE("cuda: LeakyReLU, ReLU, max pooling, global average pooling, concat and split match the CPU") {
  QANET_REQUIRE_GPU();
  cuda::Context ctx;
  elementwise_cases<2>(ctx);
  elementwise_cases<3>(ctx);
}

TEST_CASE("cuda: fully connected layer (cuBLAS) matches the CPU") {
  QANET_REQUIRE_GPU();
  cuda::Context ctx;
  nn::Linear<float> cpu(37, 13);
  cuda::Linear gpu(ctx, 37, 13);
  set_param(ctx, gpu.weight, cpu.weight, 31);
  set_param(ctx, gpu.bias, cpu.bias, 32);
  const nn::Tensor<float> x = random_host({5, 37}, 33);
  const cuda::DTensor gx = to_device(ctx, x);
  const auto& y = cpu.forward(x);
  check_close(ctx, gpu.forward(gx), y, tol, "linear forward");
  const nn::Tensor<float> dy = random_host(y.shape(), 34);
  const cuda::DTensor gdy = to_device(ctx, dy);
  check_close(ctx, gpu.backward(gdy), cpu.backward(dy), tol, "linear backward dx");
  check_close(ctx, gpu.weight.grad, cpu.weight.grad, tol, "linear weight grad");
  check_close(ctx, gpu.bias.grad, cpu.bias.grad, tol, "linear bias grad");
}

TEST_CASE("cuda: MSE loss and fused AdamW match the CPU") {
  QANET_REQUIRE_GPU();
  cuda::Context ctx;
  const nn::Tensor<float> p = random_host({7, 1}, 41), t = random_host({7, 1}, 42);
  const cuda::DTensor gp = to_device(ctx, p), gt = to_device(ctx, t);
  nn::MseLoss<float> cpu;
  cuda::MseLoss gpu(ctx);
  const double lc = cpu.forward(p, t), lg = gpu.forward(gp, gt);
  CHECK(lg == doctest::Approx(lc).epsilon(1e-6));
  check_close(ctx, gpu.backward(), cpu.backward(), tol, "mse gradient");

  // Three AdamW steps with changing gradients, weight decay on.
  nn::AdamWOptions opt;
  opt.lr = 1e-2;
  opt.weight_decay = 1e-2;
  nn::Parameter<float> hp;
  hp.value = random_host({1000}, 43);
  hp.grad = random_host({1000}, 44);
  cuda::DTensor dv = to_device(ctx, hp.value), dg = to_device(ctx, hp.grad);
  nn::AdamW<float> ha({{"p", &hp.value, &hp.grad}}, opt);
  cuda::AdamW da(ctx, dv, dg, opt);
  for (int s = 0; s < 3; ++s) {
    hp.grad = random_host({1000}, 45 + s);
    dg.upload(hp.grad, ctx.stream());
    ha.step();
    da.step();
  }
  check_close(ctx, dv, hp.value, 1e-6, "adamw parameters after 3 steps");
}

TEST_CASE("cuda: layers reject bad shapes with the layer's name") {
  QANET_REQUIRE_GPU();
  cuda::Context ctx;
  cuda::Conv<2> conv(ctx, 3, 4);
  const cuda::DTensor x = to_device(ctx, random_host({1, 2, 8, 8}, 51));
  CHECK_THROWS_WITH_AS(conv.forward(x), doctest::Contains("cuda::Conv"), InvalidArgument);
  cuda::BatchNorm bn(ctx, 5);
  CHECK_THROWS_WITH_AS(bn.forward(x), doctest::Contains("cuda::BatchNorm"), InvalidArgument);
}
