// The CUDA kernels run on the host (kernel_emulation.hpp: one thread per block) against the
// CPU layers of nn/: checks index arithmetic, reductions and the BatchNorm / AdamW / MSE
// formulas on a machine without a GPU. The GPU tests (test_cuda_ops, test_cuda_models) check
// the real launches.

#include <doctest/doctest.h>

#include "kernel_emulation.hpp"
#include "qanet/cuda/kernels/block.cuh"
#include "qanet/core/random.hpp"
#include "qanet/nn.hpp"

using namespace qanet;
namespace d = qanet::cuda::detail;
using cuda::emu::launch;

namespace {

nn::Tensor<float> rnd(const nn::TensorShape& s, std::uint64_t seed, double lo = -1, double hi = 1) {
  nn::Tensor<float> t(s);
  Rng rng(seed);
  for (float& v : t) v = static_cast<float>(rng.uniform(lo, hi));
  return t;
}

double rel(const float* a, const nn::Tensor<float>& b, double floor = 1e-30) {
  double diff = 0, scale = 0;
  for (Index i = 0; i < b.numel(); ++i) {
    diff = std::max(diff, std::abs(static_cast<double>(a[i]) - b[i]));
    scale = std::max(scale, std::abs(static_cast<double>(b[i])));
  }
  return diff / std::max(scale, floor);
}
double rel(const nn::Tensor<float>& a, const nn::Tensor<float>& b) {
  REQUIRE(a.shape() == b.shape());
  return rel(a.data(), b);
}

template <int Dim>
nn::TensorShape shape(Index n, Index c) {
  if constexpr (Dim == 2) return {n, c, 9, 11};
  else return {n, c, 5, 7, 6};
}

template <int Dim>
void pool_case() {
  const nn::Tensor<float> x = rnd(shape<Dim>(2, 3), 1);
  nn::MaxPool<float, Dim> cpu;
  const auto& y = cpu.forward(x);
  const Index d = Dim == 3 ? x.dim(2) : 1, h = x.dim(Dim), w = x.dim(Dim + 1);
  const int kd = Dim == 3 ? 2 : 1;
  const Index planes = 6;
  nn::Tensor<float> gy(y.shape());
  std::vector<int> arg(static_cast<std::size_t>(y.numel()));
  launch(dim3(1), d::maxpool_forward_kernel, x.data(), gy.data(), arg.data(), planes, d, h, w, d / kd, h / 2, w / 2, kd);
  CHECK(rel(gy, y) == 0.0);
  const nn::Tensor<float> dy = rnd(y.shape(), 2);
  nn::Tensor<float> gdx(x.shape(), 99.f);
  launch(dim3(1), d::maxpool_backward_kernel, dy.data(), arg.data(), gdx.data(), planes, d, h, w, d / kd, h / 2, w / 2, kd);
  CHECK(rel(gdx, cpu.backward(dy)) == 0.0);
}

template <int Dim>
void gap_case() {
  const nn::Tensor<float> x = rnd(shape<Dim>(2, 3), 3);
  nn::GlobalAvgPool<float, Dim> cpu;
  const auto& y = cpu.forward(x);
  nn::Tensor<float> gy(y.shape());
  const Index s = x.shape().tail(2);
  launch(dim3(6), d::global_avg_pool_forward_kernel, x.data(), gy.data(), s);
  CHECK(rel(gy, y) < 1e-6);
  const nn::Tensor<float> dy = rnd(y.shape(), 4);
  nn::Tensor<float> gdx(x.shape());
  launch(dim3(1), d::global_avg_pool_backward_kernel, dy.data(), gdx.data(), x.numel(), s);
  CHECK(rel(gdx, cpu.backward(dy)) == 0.0);
}

// The launch sequence of cuda::BatchNorm, on host memory.
void batchnorm_case(const nn::TensorShape& xs, nn::Mode mode) {
  const Index n = xs[0], c = xs[1], s = xs.tail(2), m = n * s;
  nn::BatchNorm<float> cpu(c);
  cpu.weight.value = rnd({c}, 5, 0.5, 1.5);
  cpu.bias.value = rnd({c}, 6);
  cpu.running_mean = rnd({c}, 7);
  cpu.running_var = rnd({c}, 8, 0.5, 2);
  nn::Tensor<float> rm = cpu.running_mean, rv = cpu.running_var;
  const nn::Tensor<float> x = rnd(xs, 9, 2, 5);
  const int splits = d::channel_splits(n, c, s);
  std::vector<double2> partial(static_cast<std::size_t>(splits * c)), sums(static_cast<std::size_t>(c));
  std::vector<double> mean(c), inv(c);
  std::vector<float> coef(static_cast<std::size_t>(5 * c));
  if (mode == nn::Mode::train) {
    launch(dim3(splits, c), d::channel_partial_sums_kernel<d::ChannelSum::stats>, x.data(), (const float*)nullptr,
           (const double*)nullptr, n, c, s, partial.data());
    launch(dim3(c), d::channel_sums_finish_kernel, (const double2*)partial.data(), splits, c, sums.data());
    launch(dim3(c), d::bn_train_finish_kernel, (const double2*)sums.data(), x.data(), c, s, double(m), 0.1, 1e-5,
           cpu.weight.value.data(), cpu.bias.value.data(), rm.data(), rv.data(), mean.data(), inv.data(), coef.data(),
           coef.data() + c);
  } else {
    launch(dim3(c), d::bn_infer_finish_kernel, c, 1e-5, cpu.weight.value.data(), cpu.bias.value.data(), rm.data(), rv.data(),
           mean.data(), inv.data(), coef.data(), coef.data() + c);
  }
  nn::Tensor<float> y(xs);
  launch(dim3(1), d::channel_affine_kernel, x.data(), y.data(), (const float*)coef.data(), (const float*)coef.data() + c,
         x.numel(), c, s);
  INFO("batchnorm " << xs.str() << (mode == nn::Mode::train ? " train" : " infer") << ", " << splits << " splits");
  CHECK(rel(y, cpu.forward(x, mode)) < 1e-5);
  CHECK(rel(rm, cpu.running_mean) < 1e-6);
  CHECK(rel(rv, cpu.running_var) < 1e-6);

  const nn::Tensor<float> dy = rnd(xs, 10);
  nn::Tensor<float> dg(nn::TensorShape{c}, 0.25f), db(nn::TensorShape{c}, -0.5f);
  cpu.weight.grad = dg;
  cpu.bias.grad = db;
  launch(dim3(splits, c), d::channel_partial_sums_kernel<d::ChannelSum::bn_backward>, x.data(), dy.data(),
         (const double*)mean.data(), n, c, s, partial.data());
  launch(dim3(c), d::channel_sums_finish_kernel, (const double2*)partial.data(), splits, c, sums.data());
  launch(dim3(c), d::bn_backward_finish_kernel, (const double2*)sums.data(), c, double(m), mode == nn::Mode::train ? 1 : 0,
         cpu.weight.value.data(), (const double*)mean.data(), (const double*)inv.data(), dg.data(), db.data(),
         coef.data() + 2 * c, coef.data() + 3 * c, coef.data() + 4 * c);
  nn::Tensor<float> dx(xs);
  launch(dim3(1), d::bn_backward_apply_kernel, x.data(), dy.data(), dx.data(), (const float*)coef.data() + 2 * c,
         (const float*)coef.data() + 3 * c, (const float*)coef.data() + 4 * c, x.numel(), c, s);
  CHECK(rel(dx, cpu.backward(dy)) < 1e-4);
  CHECK(rel(dg, cpu.weight.grad) < 1e-5);
  CHECK(rel(db, cpu.bias.grad) < 1e-5);
}

// The fused Block kernels (conv output -> BatchNorm -> LeakyReLU -> pool and back) against
// nn::Block, the convolution itself done by a second nn::Conv with the same weights.
template <int Dim>
void block_case(nn::Mode mode) {
  const Index cin = 2, c = 3, n = 2;
  nn::Block<float, Dim> cpu(cin, c, 1);
  nn::Conv<float, Dim> conv(cin, c, 1);
  cpu.conv.weight.value = conv.weight.value = rnd(conv.weight.value.shape(), 30);
  cpu.conv.bias.value = conv.bias.value = rnd({c}, 31);
  cpu.bn.weight.value = rnd({c}, 32, -1.5, 1.5);  // negative gammas too: the max is taken after BN
  cpu.bn.bias.value = rnd({c}, 33);
  cpu.bn.running_mean = rnd({c}, 34);
  cpu.bn.running_var = rnd({c}, 35, 0.5, 2);
  nn::Tensor<float> rm = cpu.bn.running_mean, rv = cpu.bn.running_var;
  const nn::Tensor<float> x = rnd(shape<Dim>(n, cin), 36);
  const nn::Tensor<float> z = conv.forward(x);
  const Index s = z.shape().tail(2), m = n * s;
  d::PoolGeom g{};
  g.kd = Dim == 3 ? 2 : 1;
  g.d = Dim == 3 ? z.dim(2) : 1;
  g.h = z.dim(Dim);
  g.w = z.dim(Dim + 1);
  g.od = g.d / g.kd;
  g.oh = g.h / 2;
  g.ow = g.w / 2;
  std::vector<double2> partial(static_cast<std::size_t>(c)), sums(static_cast<std::size_t>(c));
  std::vector<double> mean(c), inv(c);
  std::vector<float> coef(static_cast<std::size_t>(5 * c));
  float *a = coef.data(), *b = a + c, *ka = a + 2 * c, *kb = a + 3 * c, *kc = a + 4 * c;
  if (mode == nn::Mode::train) {
    launch(dim3(1, c), d::channel_partial_sums_kernel<d::ChannelSum::stats>, z.data(), (const float*)nullptr,
           (const double*)nullptr, n, c, s, partial.data());
    launch(dim3(c), d::channel_sums_finish_kernel, (const double2*)partial.data(), 1, c, sums.data());
    launch(dim3(c), d::bn_train_finish_kernel, (const double2*)sums.data(), z.data(), c, s, double(m), 0.1, 1e-5,
           cpu.bn.weight.value.data(), cpu.bn.bias.value.data(), rm.data(), rv.data(), mean.data(), inv.data(), a, b);
  } else {
    launch(dim3(c), d::bn_infer_finish_kernel, c, 1e-5, cpu.bn.weight.value.data(), cpu.bn.bias.value.data(), rm.data(),
           rv.data(), mean.data(), inv.data(), a, b);
  }
  const auto& y = cpu.forward(x, mode);
  nn::Tensor<float> gy(y.shape());
  std::vector<int> arg(static_cast<std::size_t>(y.numel()));
  launch(dim3(1), d::bn_act_pool_forward_kernel, z.data(), (const float*)a, (const float*)b, 0.01f, gy.data(), arg.data(),
         n * c, c, g);
  INFO("fused block " << Dim << "D " << (mode == nn::Mode::train ? "train" : "infer"));
  CHECK(rel(gy, y) < 1e-5);
  CHECK(rel(rm, cpu.bn.running_mean) < 1e-6);

  const nn::Tensor<float> dy = rnd(y.shape(), 37);
  nn::Tensor<float> dg({c}, 0.f), db({c}, 0.f);
  for (auto* p : {&cpu.conv.weight, &cpu.conv.bias, &cpu.bn.weight, &cpu.bn.bias}) p->grad.zero();
  const auto& dx = cpu.backward(dy);
  launch(dim3(1, c), d::block_backward_sums_kernel, z.data(), dy.data(), (const int*)arg.data(), (const float*)a,
         (const float*)b, (const double*)mean.data(), 0.01f, n, c, g, partial.data());
  launch(dim3(c), d::channel_sums_finish_kernel, (const double2*)partial.data(), 1, c, sums.data());
  launch(dim3(c), d::bn_backward_finish_kernel, (const double2*)sums.data(), c, double(m), mode == nn::Mode::train ? 1 : 0,
         cpu.bn.weight.value.data(), (const double*)mean.data(), (const double*)inv.data(), dg.data(), db.data(), ka, kb, kc);
  nn::Tensor<float> dz(z.shape());
  launch(dim3(1), d::block_backward_apply_kernel, z.data(), dy.data(), (const int*)arg.data(), (const float*)a,
         (const float*)b, (const float*)ka, (const float*)kb, (const float*)kc, 0.01f, n * c, c, g, dz.data());
  CHECK(rel(dg, cpu.bn.weight.grad) < 1e-5);
  CHECK(rel(db, cpu.bn.bias.grad) < 1e-5);
  conv.weight.grad.zero();
  CHECK(rel(conv.backward(dz), dx) < 1e-4);
  CHECK(rel(conv.weight.grad, cpu.conv.weight.grad) < 1e-4);
}

}  // namespace

TEST_CASE("cuda kernels (host emulation): fused BatchNorm + LeakyReLU + max pooling of a Block") {
  for (nn::Mode mode : {nn::Mode::train, nn::Mode::infer}) {
    block_case<2>(mode);
    block_case<3>(mode);
  }
}

TEST_CASE("cuda kernels (host emulation): max pooling forward / backward, 2D and 3D, odd extents") {
  pool_case<2>();
  pool_case<3>();
}

TEST_CASE("cuda kernels (host emulation): global average pooling") {
  gap_case<2>();
  gap_case<3>();
}

TEST_CASE("cuda kernels (host emulation): batch normalisation, one and several splits per channel") {
  for (nn::Mode mode : {nn::Mode::train, nn::Mode::infer}) {
    batchnorm_case({3, 4, 9, 11}, mode);
    batchnorm_case({2, 3, 100, 100}, mode);  // 10000 values per plane: 2 splits
    batchnorm_case({2, 2, 5, 7, 6}, mode);
  }
  CHECK(d::channel_splits(32, 32, 254 * 254) > 1);
}

TEST_CASE("cuda kernels (host emulation): LeakyReLU, biases, sums") {
  const nn::Tensor<float> x = rnd({2, 3, 4, 5}, 11);
  nn::LeakyRelu<float> cpu(0.01);
  nn::Tensor<float> y(x.shape()), dx(x.shape());
  launch(dim3(1), d::leaky_relu_forward_kernel, x.data(), y.data(), x.numel(), 0.01f);
  CHECK(rel(y, cpu.forward(x)) == 0.0);
  const nn::Tensor<float> dy = rnd(x.shape(), 12);
  launch(dim3(1), d::leaky_relu_backward_kernel, x.data(), dy.data(), dx.data(), x.numel(), 0.01f);
  CHECK(rel(dx, cpu.backward(dy)) == 0.0);

  // Channel bias and its gradient (convolution bias) against direct sums.
  const nn::Tensor<float> b = rnd({3}, 13);
  nn::Tensor<float> yb = x;
  launch(dim3(1), d::add_channel_bias_kernel, yb.data(), b.data(), x.numel(), Index{3}, Index{20});
  nn::Tensor<float> expect = x, dbias({3}, 0.f), gbias({3}, 0.f);
  for (Index i = 0; i < x.numel(); ++i) {
    expect[i] += b[(i / 20) % 3];
    dbias[(i / 20) % 3] += dy[i];
  }
  CHECK(rel(yb, expect) == 0.0);
  std::vector<double2> partial(3), sums(3);
  launch(dim3(1, 3), d::channel_partial_sums_kernel<d::ChannelSum::sum>, (const float*)nullptr, dy.data(),
         (const double*)nullptr, Index{2}, Index{3}, Index{20}, partial.data());
  launch(dim3(3), d::channel_sums_finish_kernel, (const double2*)partial.data(), 1, Index{3}, sums.data());
  launch(dim3(3), d::add_channel_sums_kernel, (const double2*)sums.data(), Index{3}, gbias.data());
  CHECK(rel(gbias, dbias) < 1e-6);

  // Row bias (fully connected) and its gradient.
  const nn::Tensor<float> m = rnd({4, 5}, 14), rb = rnd({5}, 15);
  nn::Tensor<float> mb = m, mexp = m, rg({5}, 1.f), rgexp({5}, 1.f);
  launch(dim3(1), d::add_row_bias_kernel, mb.data(), rb.data(), Index{20}, Index{5});
  for (Index i = 0; i < 20; ++i) {
    mexp[i] += rb[i % 5];
    rgexp[i % 5] += m[i];
  }
  CHECK(rel(mb, mexp) == 0.0);
  launch(dim3(5), d::row_bias_grad_kernel, m.data(), rg.data(), Index{4}, Index{5});
  CHECK(rel(rg, rgexp) < 1e-6);
}

TEST_CASE("cuda kernels (host emulation): index division in 32 and 64 bits") {
  for (long long a : {0LL, 7LL, 123456789LL, (1LL << 32) - 1, 1LL << 32, (1LL << 40) + 12345})
    for (long long b : {1LL, 3LL, 65536LL, (1LL << 33) + 1}) {
      CHECK(d::idiv(a, b) == a / b);
      CHECK(d::imod(a, b) == a % b);
    }
}

TEST_CASE("cuda kernels (host emulation): MSE and AdamW") {
  const nn::Tensor<float> p = rnd({6, 1}, 16), t = rnd({6, 1}, 17);
  nn::MseLoss<float> cpu;
  const double lc = cpu.forward(p, t);
  nn::Tensor<float> g(p.shape());
  double lg = 0;
  launch(dim3(1), d::mse_kernel, p.data(), t.data(), g.data(), Index{6}, &lg);
  CHECK(lg == doctest::Approx(lc).epsilon(1e-12));
  CHECK(rel(g, cpu.backward()) == 0.0);

  nn::AdamWOptions opt;
  opt.lr = 1e-2;
  opt.weight_decay = 1e-2;
  nn::Tensor<float> v = rnd({50}, 18), gr = rnd({50}, 19), hv = v, hg = gr;
  nn::AdamW<float> ha({{"p", &hv, &hg}}, opt);
  std::vector<float> m1(50, 0.f), m2(50, 0.f);
  for (int step = 1; step <= 3; ++step) {
    ha.step();
    const double bc1 = 1 - std::pow(opt.beta1, step), bc2 = 1 - std::pow(opt.beta2, step);
    launch(dim3(1), d::adamw_kernel, v.data(), (const float*)gr.data(), m1.data(), m2.data(), Index{50},
           float(1 - opt.lr * opt.weight_decay), float(opt.beta1), float(opt.beta2), float(opt.lr / bc1),
           float(std::sqrt(bc2)), float(opt.eps));
  }
  CHECK(rel(v, hv) < 1e-6);
}
