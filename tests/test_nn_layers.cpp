// Layers of the nn engine: forward against naive loops, backward against finite differences.
#include <cmath>

#include "nn_test_util.hpp"

using namespace qanet;
using namespace qanet::nn;
using qanet::testing::check_layer;
using qanet::testing::random_tensor;

namespace {

// Direct nested-loop convolution (cross-correlation, as PyTorch), 2D or 3D, zero padding.
template <typename T, int Dim>
Tensor<T> naive_conv(const Tensor<T>& x, const Tensor<T>& w, const Tensor<T>& b, Index pad) {
  const Index n = x.dim(0), ci = x.dim(1), co = w.dim(0);
  const Index D = Dim == 3 ? x.dim(2) : 1, H = x.dim(Dim), W = x.dim(Dim + 1);
  const Index kd = Dim == 3 ? 3 : 1, pd = Dim == 3 ? pad : 0;
  const Index od = D + 2 * pd - kd + 1, oh = H + 2 * pad - 2, ow = W + 2 * pad - 2;
  std::array<Index, Dim> so{};
  if constexpr (Dim == 3) so = {od, oh, ow};
  else so = {oh, ow};
  Tensor<T> y(activation_shape<Dim>(n, co, so));
  for (Index i = 0; i < n; ++i)
    for (Index o = 0; o < co; ++o)
      for (Index z = 0; z < od; ++z)
        for (Index yy = 0; yy < oh; ++yy)
          for (Index xx = 0; xx < ow; ++xx) {
            double s = b[o];
            for (Index c = 0; c < ci; ++c)
              for (Index a = 0; a < kd; ++a)
                for (Index p = 0; p < 3; ++p)
                  for (Index q = 0; q < 3; ++q) {
                    const Index iz = z + a - pd, iy = yy + p - pad, ix = xx + q - pad;
                    if (iz < 0 || iz >= D || iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                    s += static_cast<double>(w[((o * ci + c) * kd + a) * 9 + p * 3 + q]) *
                         x[(((i * ci + c) * D + iz) * H + iy) * W + ix];
                  }
            y[(((i * co + o) * od + z) * oh + yy) * ow + xx] = static_cast<T>(s);
          }
  return y;
}

template <typename T>
double max_abs_diff(const Tensor<T>& a, const Tensor<T>& b) {
  REQUIRE(a.shape() == b.shape());
  double m = 0;
  for (Index i = 0; i < a.numel(); ++i) m = std::max(m, std::abs(static_cast<double>(a[i]) - b[i]));
  return m;
}

template <int Dim>
TensorShape shape_of(Index n, Index c, Index s0, Index s1, Index s2 = 0) {
  if constexpr (Dim == 3) return {n, c, s0, s1, s2};
  else return {n, c, s0, s1};
}

}  // namespace

TEST_CASE_TEMPLATE("conv_forward matches a naive convolution", T, float, double) {
  for (Index pad : {0, 1}) {
    Conv<T, 2> conv(3, 5, pad);
    Rng rng(1);
    init_fan_in_uniform(conv.weight.value, conv.bias.value, rng);
    // 37x300: more positions than one im2col tile, odd sizes.
    const Tensor<T> x = random_tensor<T>({2, 3, 37, 300}, 2);
    const double err = max_abs_diff(conv.forward(x), naive_conv<T, 2>(x, conv.weight.value, conv.bias.value, pad));
    CHECK(err < (std::is_same_v<T, float> ? 1e-5 : 1e-12));
    Conv<T, 3> c3(2, 4, pad);
    init_fan_in_uniform(c3.weight.value, c3.bias.value, rng);
    const Tensor<T> x3 = random_tensor<T>({2, 2, 6, 7, 9}, 3);
    const double err3 = max_abs_diff(c3.forward(x3), naive_conv<T, 3>(x3, c3.weight.value, c3.bias.value, pad));
    CHECK(err3 < (std::is_same_v<T, float> ? 1e-5 : 1e-12));
  }
}

TEST_CASE("conv rejects bad input clearly") {
  Conv<float, 2> conv(3, 4, 0);
  CHECK_THROWS_AS(conv.forward(Tensor<float>({1, 2, 8, 8})), InvalidArgument);
  CHECK_THROWS_AS(conv.forward(Tensor<float>({1, 3, 2, 8})), InvalidArgument);
  CHECK_THROWS_AS(conv.forward(Tensor<float>({1, 3, 8, 8, 8})), InvalidArgument);
}

TEST_CASE("gradient check: convolution 2D and 3D, valid and same") {
  for (Index pad : {0, 1}) {
    Conv<double, 2> c2(2, 3, pad);
    Rng rng(4);
    init_fan_in_uniform(c2.weight.value, c2.bias.value, rng);
    Tensor<double> x2 = random_tensor<double>({2, 2, 6, 7}, 5);
    check_layer(c2, x2, Mode::train, "conv2d pad " + std::to_string(pad));
    Conv<double, 3> c3(2, 2, pad);
    init_fan_in_uniform(c3.weight.value, c3.bias.value, rng);
    Tensor<double> x3 = random_tensor<double>({2, 2, 4, 5, 4}, 6);
    check_layer(c3, x3, Mode::train, "conv3d pad " + std::to_string(pad));
  }
}

TEST_CASE("batchnorm forward: batch statistics, running statistics, inference") {
  BatchNorm<double> bn(2);
  bn.weight.value[0] = 2.0;
  bn.bias.value[1] = -1.0;
  Tensor<double> x({2, 2, 1, 2});
  // Channel 0 values {1, 2, 3, 4} (mean 2.5, biased var 1.25, unbiased 5/3); channel 1 {0, 0, 6, 6}.
  const double vals[] = {1, 2, 0, 0, 3, 4, 6, 6};
  for (int i = 0; i < 8; ++i) x[i] = vals[i];
  const Tensor<double>& y = bn.forward(x, Mode::train);
  CHECK(y[0] == doctest::Approx(2.0 * (1 - 2.5) / std::sqrt(1.25 + 1e-5)).epsilon(1e-12));
  CHECK(y[7] == doctest::Approx((6 - 3) / std::sqrt(9 + 1e-5) - 1.0).epsilon(1e-12));
  CHECK(bn.running_mean[0] == doctest::Approx(0.25));
  CHECK(bn.running_var[0] == doctest::Approx(0.9 + 0.1 * 5.0 / 3.0));
  CHECK(bn.running_var[1] == doctest::Approx(0.9 + 0.1 * 12.0));
  const Tensor<double>& yi = bn.forward(x, Mode::infer);
  CHECK(yi[0] == doctest::Approx(2.0 * (1 - 0.25) / std::sqrt(0.9 + 0.5 / 3.0 + 1e-5)).epsilon(1e-12));
}

TEST_CASE("gradient check: batchnorm in training and inference, 2D and 3D") {
  for (Mode mode : {Mode::train, Mode::infer}) {
    BatchNorm<double> bn(3);
    Rng rng(8);
    for (Index c = 0; c < 3; ++c) {
      bn.weight.value[c] = rng.uniform(0.5, 1.5);
      bn.bias.value[c] = rng.uniform(-0.5, 0.5);
      bn.running_mean[c] = rng.uniform(-0.2, 0.2);
      bn.running_var[c] = rng.uniform(0.5, 1.5);
    }
    Tensor<double> x2 = random_tensor<double>({3, 3, 4, 5}, 9);
    check_layer(bn, x2, mode, mode == Mode::train ? "bn2d train" : "bn2d infer");
    Tensor<double> x3 = random_tensor<double>({2, 3, 3, 4, 3}, 10);
    check_layer(bn, x3, mode, mode == Mode::train ? "bn3d train" : "bn3d infer");
  }
}

TEST_CASE("activations: forward by hand and gradient check") {
  LeakyRelu<double> lrelu;
  Relu<double> relu;
  Tensor<double> x({1, 4});
  x[0] = -2;
  x[1] = -0.5;
  x[2] = 0.5;
  x[3] = 3;
  const Tensor<double>& y = lrelu.forward(x);
  CHECK(y[0] == doctest::Approx(-0.02));
  CHECK(y[3] == 3);
  CHECK(relu.forward(x)[1] == 0);
  Tensor<double> xr = random_tensor<double>({2, 3, 4, 5}, 11);
  check_layer(lrelu, xr, Mode::train, "leaky relu");
  check_layer(relu, xr, Mode::train, "relu");
}

TEST_CASE("maxpool: floor, argmax, gradient check 2D and 3D") {
  MaxPool<double, 2> p2;
  Tensor<double> x({1, 1, 3, 5});
  for (Index i = 0; i < 15; ++i) x[i] = static_cast<double>((i * 7) % 15);
  const Tensor<double>& y = p2.forward(x);
  REQUIRE(y.shape() == TensorShape({1, 1, 1, 2}));  // floor(3/2) x floor(5/2)
  // Window rows 0-1, cols 0-1: values at 0,1,5,6 -> 0,7,5,12; cols 2-3: 2,3,7,8 -> 14,6,4,11.
  CHECK(y[0] == 12);
  CHECK(y[1] == 14);
  Tensor<double> g({1, 1, 1, 2}, 1.0);
  const Tensor<double>& dx = p2.backward(g);
  CHECK(dx[6] == 1);
  CHECK(dx[2] == 1);
  CHECK(std::accumulate(dx.begin(), dx.end(), 0.0) == 2);
  Tensor<double> x2 = random_tensor<double>({2, 2, 5, 6}, 12);
  check_layer(p2, x2, Mode::train, "maxpool2d");
  MaxPool<double, 3> p3;
  Tensor<double> x3 = random_tensor<double>({2, 2, 5, 4, 3}, 13);
  REQUIRE(p3.forward(x3).shape() == TensorShape({2, 2, 2, 2, 1}));
  check_layer(p3, x3, Mode::train, "maxpool3d");
}

TEST_CASE("global average pooling and linear: forward by hand and gradient check") {
  GlobalAvgPool<double, 2> gap;
  Tensor<double> x({1, 2, 1, 2});
  x[0] = 1;
  x[1] = 3;
  x[2] = -1;
  x[3] = 5;
  const Tensor<double>& y = gap.forward(x);
  CHECK(y[0] == 2);
  CHECK(y[1] == 2);
  Tensor<double> x2 = random_tensor<double>({2, 3, 4, 3}, 14);
  check_layer(gap, x2, Mode::train, "gap2d");
  GlobalAvgPool<double, 3> gap3;
  Tensor<double> x3 = random_tensor<double>({2, 3, 2, 3, 2}, 15);
  check_layer(gap3, x3, Mode::train, "gap3d");

  Linear<double> fc(3, 2);
  for (Index i = 0; i < 6; ++i) fc.weight.value[i] = static_cast<double>(i);
  fc.bias.value[1] = 10;
  Tensor<double> v({1, 3});
  v[0] = 1;
  v[1] = 2;
  v[2] = 3;
  const Tensor<double>& o = fc.forward(v);
  CHECK(o[0] == 0 * 1 + 1 * 2 + 2 * 3);
  CHECK(o[1] == 10 + 3 * 1 + 4 * 2 + 5 * 3);
  Rng rng(16);
  Linear<double> fc2(5, 4);
  init_fan_in_uniform(fc2.weight.value, fc2.bias.value, rng);
  Tensor<double> xv = random_tensor<double>({3, 5}, 17);
  check_layer(fc2, xv, Mode::train, "linear");
}

TEST_CASE("concat and split") {
  Concat<double> cat;
  Tensor<double> a = random_tensor<double>({2, 1, 3, 3}, 18), b = random_tensor<double>({2, 2, 3, 3}, 19);
  const Tensor<double>& y = cat.forward({&a, &b});
  REQUIRE(y.shape() == TensorShape({2, 3, 3, 3}));
  CHECK(y[0] == a[0]);
  CHECK(y[9] == b[0]);
  CHECK(y[27] == a[9]);
  CHECK(y[36] == b[18]);
  const auto& parts = cat.backward(y);
  CHECK(parts[0].shape() == a.shape());
  for (Index i = 0; i < b.numel(); ++i) CHECK(parts[1][i] == b[i]);
  Tensor<double> c({2, 1, 3, 4});
  CHECK_THROWS_AS(cat.forward({&a, &c}), InvalidArgument);
}

TEST_CASE("mse loss: value by hand and gradient check") {
  MseLoss<double> mse;
  Tensor<double> p({2, 1}), t({2, 1});
  p[0] = 1;
  p[1] = 3;
  t[0] = 0;
  t[1] = 1;
  CHECK(mse.forward(p, t) == doctest::Approx(2.5));  // (1 + 4) / 2
  CHECK(mse.backward()[1] == doctest::Approx(2.0));  // 2 * 2 / 2
  Tensor<double> pr = random_tensor<double>({4, 1}, 20), tr = random_tensor<double>({4, 1}, 21);
  mse.forward(pr, tr);
  Tensor<double> g;
  g.assign(mse.backward());
  auto r = gradient_check([&] { return mse.forward(pr, tr); }, {{"prediction", &pr, &g}});
  qanet::testing::require_gradients_match(r, "mse");
}

TEST_CASE("gradient check: conv-bn-lrelu-pool block, 2D and 3D") {
  Block<double, 2> b2(2, 3, 0);
  Rng rng(22);
  init_fan_in_uniform(b2.conv.weight.value, b2.conv.bias.value, rng);
  Tensor<double> x2 = random_tensor<double>({2, 2, 7, 8}, 23);
  check_layer(b2, x2, Mode::train, "block2d");
  Block<double, 3> b3(1, 2, 1);
  init_fan_in_uniform(b3.conv.weight.value, b3.conv.bias.value, rng);
  Tensor<double> x3 = random_tensor<double>({2, 1, 4, 4, 5}, 24);
  check_layer(b3, x3, Mode::train, "block3d");
  check_layer(b3, x3, Mode::infer, "block3d infer");
}

TEST_CASE("the fused block equals conv, batchnorm, leaky relu and maxpool chained") {
  for (Mode mode : {Mode::train, Mode::infer}) {
    Block<double, 2> block(2, 3, 0);
    Rng rng(25);
    init_fan_in_uniform(block.conv.weight.value, block.conv.bias.value, rng);
    for (Index c = 0; c < 3; ++c) {
      block.bn.weight.value[c] = rng.uniform(-1.5, 1.5);  // negative scales flip the argmax
      block.bn.bias.value[c] = rng.uniform(-0.5, 0.5);
      block.bn.running_mean[c] = rng.uniform(-0.2, 0.2);
      block.bn.running_var[c] = rng.uniform(0.5, 1.5);
    }
    Conv<double, 2> conv(2, 3, 0);
    BatchNorm<double> bn(3);
    LeakyRelu<double> act(0.01);
    MaxPool<double, 2> pool;
    conv.weight.value = block.conv.weight.value;
    conv.bias.value = block.conv.bias.value;
    bn.weight.value = block.bn.weight.value;
    bn.bias.value = block.bn.bias.value;
    bn.running_mean = block.bn.running_mean;
    bn.running_var = block.bn.running_var;
    const Tensor<double> x = random_tensor<double>({3, 2, 9, 10}, 26);
    const Tensor<double>& y1 = block.forward(x, mode);
    const Tensor<double>& y2 = pool.forward(act.forward(bn.forward(conv.forward(x, mode), mode), mode), mode);
    CHECK(max_abs_diff(y1, y2) < 1e-12);
    const Tensor<double> dy = random_tensor<double>(y1.shape(), 27);
    const Tensor<double>& d1 = block.backward(dy);
    const Tensor<double>& d2 = conv.backward(bn.backward(act.backward(pool.backward(dy))));
    CHECK(max_abs_diff(d1, d2) < 1e-12);
    CHECK(max_abs_diff(block.bn.weight.grad, bn.weight.grad) < 1e-12);
    CHECK(max_abs_diff(block.bn.bias.grad, bn.bias.grad) < 1e-12);
    CHECK(max_abs_diff(block.conv.weight.grad, conv.weight.grad) < 1e-12);
    CHECK(max_abs_diff(block.bn.running_var, bn.running_var) < 1e-12);
  }
}

TEST_CASE("Block::predict equals the chained inference layers and keeps no state") {
  auto run = [](auto block, auto conv, auto pool, const auto& x) {
    using T = double;
    Rng rng(29);
    init_fan_in_uniform(block.conv.weight.value, block.conv.bias.value, rng);
    const Index C = block.bn.channels();
    for (Index c = 0; c < C; ++c) {
      block.bn.weight.value[c] = rng.uniform(-1.5, 1.5);  // negative scales: the max of the affine values
      block.bn.bias.value[c] = rng.uniform(-0.5, 0.5);
      block.bn.running_mean[c] = rng.uniform(-0.2, 0.2);
      block.bn.running_var[c] = rng.uniform(0.5, 1.5);
    }
    conv.weight.value = block.conv.weight.value;
    conv.bias.value = block.conv.bias.value;
    BatchNorm<T> bn(C);
    bn.weight.value = block.bn.weight.value;
    bn.bias.value = block.bn.bias.value;
    bn.running_mean = block.bn.running_mean;
    bn.running_var = block.bn.running_var;
    LeakyRelu<T> act(0.01);
    const Tensor<T> chained = pool.forward(act.forward(bn.forward(conv.forward(x, Mode::infer), Mode::infer), Mode::infer), Mode::infer);
    Tensor<T> z;
    const Tensor<T> predicted = block.predict({&x}, z);
    CHECK(max_abs_diff(predicted, chained) < 1e-12);
    const Tensor<T> y_infer = block.forward(x, Mode::infer);
    CHECK(max_abs_diff(block.predict({&x}, z), y_infer) < 1e-12);
    // The input as two tensors of one channel each: the same as their concatenation.
    TensorShape half = x.shape();
    half.dims[1] = 1;
    Tensor<T> x1(half), x2(half);
    const Index plane = x.numel() / (x.dim(0) * 2);
    for (Index n = 0; n < x.dim(0); ++n)
      for (Index i = 0; i < plane; ++i) {
        x1[n * plane + i] = x[(n * 2) * plane + i];
        x2[n * plane + i] = x[(n * 2 + 1) * plane + i];
      }
    CHECK(max_abs_diff(block.predict({&x1, &x2}, z), y_infer) < 1e-12);
    CHECK_THROWS_AS(block.predict({&x1}, z), InvalidArgument);  // one channel short
    CHECK_THROWS_AS(block.backward(y_infer), InvalidArgument);
    block.forward(x, Mode::infer);  // a forward pass makes backward possible again
    CHECK_NOTHROW(block.backward(y_infer));
  };
  run(Block<double, 2>(2, 3, 0), Conv<double, 2>(2, 3, 0), MaxPool<double, 2>(), random_tensor<double>({3, 2, 9, 10}, 30));
  run(Block<double, 3>(2, 3, 1), Conv<double, 3>(2, 3, 1), MaxPool<double, 3>(), random_tensor<double>({2, 2, 5, 6, 7}, 31));
}

TEST_CASE("Block::predict through Winograd F(2x2, 3x3) equals the direct convolution") {
  // Channel counts where the shape rule takes Winograd; odd extents (the floor pooling drops the
  // last row and column), zero padding 0 and 1, the input split into three tensors.
  for (Index pad : {0, 1}) {
    Block<double, 2> block(40, 17, pad);
    Conv<double, 2> conv(40, 17, pad);
    Rng rng(61 + static_cast<std::uint64_t>(pad));
    init_fan_in_uniform(block.conv.weight.value, block.conv.bias.value, rng);
    for (Index c = 0; c < 17; ++c) {
      block.bn.weight.value[c] = rng.uniform(-1.5, 1.5);
      block.bn.bias.value[c] = rng.uniform(-0.5, 0.5);
      block.bn.running_mean[c] = rng.uniform(-0.2, 0.2);
      block.bn.running_var[c] = rng.uniform(0.5, 1.5);
    }
    conv.weight.value = block.conv.weight.value;
    conv.bias.value = block.conv.bias.value;
    const Tensor<double> x = random_tensor<double>({3, 40, 15, 21}, 62);
    qanet::detail::ConvGeom g;
    g.c = 40, g.h = 15, g.w = 21, g.ph = g.pw = pad;
    REQUIRE(qanet::detail::winograd_pays(g, 17, qanet::detail::winograd_min_channels_predict));
    // The reference: direct convolution, then BatchNorm, LeakyReLU and pooling computed here.
    const Tensor<double> z = conv.forward(x, Mode::infer);
    const Index oh = z.dim(2), ow = z.dim(3);
    Tensor<double> want({3, 17, oh / 2, ow / 2});
    for (Index n = 0; n < 3; ++n)
      for (Index c = 0; c < 17; ++c) {
        const double a = block.bn.weight.value[c] / std::sqrt(block.bn.running_var[c] + block.bn.eps());
        for (Index py = 0; py < oh / 2; ++py)
          for (Index px = 0; px < ow / 2; ++px) {
            double best = -1e300;
            for (Index dy = 0; dy < 2; ++dy)
              for (Index dx = 0; dx < 2; ++dx) {
                const double v = z[((n * 17 + c) * oh + 2 * py + dy) * ow + 2 * px + dx];
                double m = a * (v - block.bn.running_mean[c]) + block.bn.bias.value[c];
                m = m > 0 ? m : 0.01 * m;
                best = std::max(best, m);
              }
            want[((n * 17 + c) * (oh / 2) + py) * (ow / 2) + px] = best;
          }
      }
    Tensor<double> scratch;
    CHECK(max_abs_diff(block.predict({&x}, scratch), want) < 1e-12);
    // Three sources of 5, 27 and 8 channels: the concatenation read in place.
    std::vector<Tensor<double>> parts;
    Index c0 = 0;
    for (Index cn : {5, 27, 8}) {
      Tensor<double> t({3, cn, 15, 21});
      for (Index n = 0; n < 3; ++n)
        for (Index c = 0; c < cn; ++c)
          for (Index i = 0; i < 15 * 21; ++i) t[(n * cn + c) * 15 * 21 + i] = x[(n * 40 + c0 + c) * 15 * 21 + i];
      parts.push_back(t);
      c0 += cn;
    }
    CHECK(max_abs_diff(block.predict({&parts[0], &parts[1], &parts[2]}, scratch), want) < 1e-12);
    block.set_winograd(false);
    CHECK(max_abs_diff(block.predict({&x}, scratch), want) < 1e-12);
  }
  // Float, at the bundled model's widest spine block (192 -> 128): within float rounding.
  Block<float, 2> wide(192, 128, 0);
  Rng rng(63);
  init_fan_in_uniform(wide.conv.weight.value, wide.conv.bias.value, rng);
  const Tensor<float> x = random_tensor<float>({1, 192, 22, 26}, 64);
  Tensor<float> scratch;
  const Tensor<float> fast = wide.predict({&x}, scratch);
  wide.set_winograd(false);
  const Tensor<float> direct = wide.predict({&x}, scratch);
  double worst = 0;
  for (Index i = 0; i < fast.numel(); ++i)
    worst = std::max(worst, std::abs(double(fast[i]) - direct[i]) / (1.0 + std::abs(double(direct[i]))));
  MESSAGE("Winograd against direct, 192 -> 128 channels, float: largest relative difference " << worst);
  CHECK(worst < 1e-5);
}

TEST_CASE("Conv forward, data and filter gradients through Winograd F(2x2, 3x3) equal im2col + GEMM") {
  // 72 -> 65 channels: both passes qualify (the data gradient convolves dy's 65 channels).
  // Odd output extents (the last tile row / column half outside), padding 0 and 1.
  for (Index pad : {0, 1}) {
    Conv<double, 2> fast(72, 65, pad), ref(72, 65, pad);
    Rng rng(71 + static_cast<std::uint64_t>(pad));
    init_fan_in_uniform(fast.weight.value, fast.bias.value, rng);
    ref.weight.value = fast.weight.value;
    ref.bias.value = fast.bias.value;
    ref.set_winograd(false);
    const Tensor<double> x = random_tensor<double>({2, 72, 14, 19}, 72);
    qanet::detail::ConvGeom g;
    g.c = 72, g.h = 14, g.w = 19, g.ph = g.pw = pad;
    REQUIRE(qanet::detail::winograd_pays(g, 65, qanet::detail::winograd_min_channels_training));
    REQUIRE(qanet::detail::winograd_pays(qanet::detail::backward_data_geometry(g, 65), 72, qanet::detail::winograd_min_channels_training));
    const Tensor<double> y = fast.forward(x, Mode::train);
    const Tensor<double> y_ref = ref.forward(x, Mode::train);
    REQUIRE(y.shape() == y_ref.shape());
    CHECK(max_abs_diff(y, y_ref) < 1e-12);
    const Tensor<double> dy = random_tensor<double>(y.shape(), 73);
    const Tensor<double> dx = fast.backward(dy);
    const Tensor<double> dx_ref = ref.backward(dy);
    CHECK(max_abs_diff(dx, dx_ref) < 1e-12);
    CHECK(max_abs_diff(fast.weight.grad, ref.weight.grad) < 1e-12);
    CHECK(max_abs_diff(fast.bias.grad, ref.bias.grad) < 1e-12);
    // Gradients accumulate (+=) over backward passes, as im2col's do.
    fast.forward(x, Mode::train);
    fast.backward(dy);
    ref.forward(x, Mode::train);
    ref.backward(dy);
    CHECK(max_abs_diff(fast.weight.grad, ref.weight.grad) < 1e-12);
  }
}

TEST_CASE("reductions give the same bits at any alignment") {
  std::vector<float> buf(1000 + 16);
  Rng rng(28);
  for (float& v : buf) v = static_cast<float>(rng.uniform(-1, 1)) * 1000.0f;
  std::vector<float> data(buf.begin(), buf.begin() + 1000);
  const float ref = qanet::detail::plain_sum(data.data(), 1000), ref2 = qanet::detail::squared_deviation_sum(data.data(), 1000, 3.0f);
  double exact = 0;
  for (float v : data) exact += v;
  CHECK(ref == doctest::Approx(exact).epsilon(1e-5));
  for (int off = 1; off < 16; ++off) {
    std::copy(data.begin(), data.end(), buf.begin() + off);
    CHECK(qanet::detail::plain_sum(buf.data() + off, 1000) == ref);
    CHECK(qanet::detail::squared_deviation_sum(buf.data() + off, 1000, 3.0f) == ref2);
  }
}
