// Training machinery: AdamW against hand-computed steps, schedule, clipping, loss decrease and
// overfitting a fixed set.
#include <atomic>
#include <memory>
#include <chrono>
#include <cstdlib>
#include <new>

#include <tbb/global_control.h>

#include "nn_test_util.hpp"

// Counts operator new calls while `counting` is set (this executable only).
namespace {
std::atomic<bool> counting{false};
std::atomic<long> allocations{0};
}  // namespace
void* operator new(std::size_t n) {
  if (counting.load(std::memory_order_relaxed)) allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
// GCC cannot see that the replaced operator new above allocates with malloc, and takes the
// free() of the replaced deletes, once inlined, for a mismatched pair.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

using namespace qanet;
using namespace qanet::nn;
using qanet::testing::random_tensor;

TEST_CASE("AdamW matches the decoupled update computed by hand") {
  Tensor<double> p({2}), g({2});
  p[0] = 1.0;
  p[1] = -2.0;
  AdamWOptions o;
  o.lr = 0.1;
  o.weight_decay = 0.01;
  AdamW<double> opt({{"p", &p, &g}}, o);
  g[0] = 0.5;
  g[1] = 0.0;
  opt.step();
  // m = 0.05, v = 0.00025; m^ = 0.5, v^ = 0.25 -> p = 1 * (1 - 0.001) - 0.1 * 0.5 / (0.5 + 1e-8).
  CHECK(p[0] == doctest::Approx(0.999 - 0.1 * 0.5 / (0.5 + 1e-8)).epsilon(1e-12));
  CHECK(p[1] == doctest::Approx(-2.0 * 0.999).epsilon(1e-12));  // zero gradient: decay only
  g[0] = -1.0;
  opt.step();
  const double m = 0.9 * 0.05 + 0.1 * -1.0, v = 0.999 * 0.00025 + 0.001 * 1.0;
  const double mh = m / (1 - 0.81), vh = v / (1 - 0.999 * 0.999);
  const double p1 = 0.999 - 0.1 * 0.5 / (0.5 + 1e-8);
  CHECK(p[0] == doctest::Approx(p1 * 0.999 - 0.1 * mh / (std::sqrt(vh) + 1e-8)).epsilon(1e-9));
}

TEST_CASE("cosine schedule with linear warm-up and floor") {
  const double base = 1e-3, floor = 2e-8;
  CHECK(cosine_lr(0, 100, 10, base, floor) == doctest::Approx(1e-4));
  CHECK(cosine_lr(9, 100, 10, base, floor) == doctest::Approx(1e-3));
  CHECK(cosine_lr(10, 100, 10, base, floor) == doctest::Approx(1e-3));
  CHECK(cosine_lr(99, 100, 10, base, floor) == doctest::Approx(floor));
  // Half way through the 90 cosine steps (t = 0.5 at step 10 + 44.5).
  CHECK(cosine_lr(10 + 89 / 2, 100, 10, base, floor) < 0.5 * (base + floor) + 2e-5);
  CHECK(cosine_lr(10 + 89 / 2, 100, 10, base, floor) > 0.5 * (base + floor) - 2e-5);
  for (long s = 11; s < 100; ++s) CHECK(cosine_lr(s, 100, 10, base, floor) <= cosine_lr(s - 1, 100, 10, base, floor));
}

TEST_CASE("gradient clipping by global norm") {
  Tensor<float> a({1}), ga({1}), b({1}), gb({1});
  ga[0] = 3;
  gb[0] = 4;
  std::vector<ParamRef<float>> ps{{"a", &a, &ga}, {"b", &b, &gb}};
  CHECK(clip_grad_norm(ps, 10.0) == doctest::Approx(5.0));
  CHECK(ga[0] == 3);
  CHECK(clip_grad_norm(ps, 1.0) == doctest::Approx(5.0));
  CHECK(ga[0] == doctest::Approx(0.6).epsilon(1e-5));
  CHECK(gb[0] == doctest::Approx(0.8).epsilon(1e-5));
}

TEST_CASE("one AdamW step on a fixed batch lowers the loss") {
  for (Architecture a : {Architecture::ribcage, Architecture::siamese, Architecture::naive}) {
    Network<float, 2> net(model_preset(a, "small", 2), 5);
    net.set_need_input_grad(false);
    const Tensor<float> image = random_tensor<float>({8, 1, 64, 64}, 1);
    const Tensor<float> seg = random_tensor<float>({8, 1, 64, 64}, 2, 0, 1);
    const Tensor<float> target = random_tensor<float>({8, 1}, 3, 0, 1);
    MseLoss<float> mse;
    // A small step, so that the first-order decrease dominates (Adam's first step moves every
    // weight by about lr, whatever the gradient's size).
    AdamWOptions o;
    o.lr = 1e-4;
    AdamW<float> opt(net.params(), o);
    net.zero_grad();
    const double before = mse.forward(net.forward(image, seg, Mode::train), target);
    net.backward(mse.backward());
    opt.step();
    const double after = mse.forward(net.forward(image, seg, Mode::train), target);
    INFO(to_string(a) << ": loss " << before << " -> " << after);
    CHECK(after < before);
  }
}

TEST_CASE("training overfits 200 fixed samples (MSE < 1e-3)") {
  // A small RibCage on 46x46 patches of noise with rectangular masks; the targets are random
  // in [0.1, 0.9] (variance ~0.05), so only memorisation brings the MSE under 1e-3.
  ModelConfig cfg = model_preset(Architecture::ribcage, "small", 2);
  cfg.widths = {1, 8, 16, 16, 16};
  cfg.head = {64, 64};
  Network<float, 2> net(cfg, 11);
  net.set_need_input_grad(false);
  const Index n = 200, batch = 50, s = 46;
  Tensor<float> images = random_tensor<float>({n, 1, s, s}, 12, 0, 1);
  Tensor<float> segs({n, 1, s, s});
  Tensor<float> targets({n, 1});
  Rng rng(13);
  for (Index i = 0; i < n; ++i) {
    // A random rectangle as the mask, trinary-like values.
    const Index y0 = rng.uniform_int(0, s / 2), x0 = rng.uniform_int(0, s / 2);
    const Index y1 = y0 + rng.uniform_int(8, s / 2), x1 = x0 + rng.uniform_int(8, s / 2);
    for (Index y = 0; y < s; ++y)
      for (Index x = 0; x < s; ++x) {
        const bool in = y >= y0 && y < y1 && x >= x0 && x < x1;
        const bool edge = in && (y == y0 || y == y1 - 1 || x == x0 || x == x1 - 1);
        segs[(i * s + y) * s + x] = edge ? 1.0f : (in ? 0.5f : 0.0f);
      }
    targets[i] = static_cast<float>(0.1 + 0.8 * rng.uniform());
  }
  const auto t0 = std::chrono::steady_clock::now();
  MseLoss<float> mse;
  AdamW<float> opt(net.params());
  const long epochs = 40, steps = epochs * (n / batch);
  Tensor<float> xb, sb, tb;
  double last_epoch = 0;
  long step = 0;
  for (long e = 0; e < epochs; ++e) {
    last_epoch = 0;
    for (Index b0 = 0; b0 < n; b0 += batch) {
      auto slice = [&](const Tensor<float>& src, Tensor<float>& dst) {
        TensorShape sh = src.shape();
        sh.dims[0] = batch;
        dst.reshape(sh);
        const Index per = src.shape().tail(1);
        std::copy(src.data() + b0 * per, src.data() + (b0 + batch) * per, dst.data());
      };
      slice(images, xb);
      slice(segs, sb);
      slice(targets, tb);
      opt.set_lr(cosine_lr(step++, steps, steps / 10, 3e-3, 1e-5));
      net.zero_grad();
      last_epoch += mse.forward(net.forward(xb, sb, Mode::train), tb) * batch / n;
      net.backward(mse.backward());
      opt.step();
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double infer = 0;
  for (Index b0 = 0; b0 < n; b0 += batch) {
    Tensor<float> x, sg, t;
    for (auto [src, dst] : {std::pair<const Tensor<float>*, Tensor<float>*>{&images, &x}, {&segs, &sg}, {&targets, &t}}) {
      TensorShape sh = src->shape();
      sh.dims[0] = batch;
      dst->reshape(sh);
      const Index per = src->shape().tail(1);
      std::copy(src->data() + b0 * per, src->data() + (b0 + batch) * per, dst->data());
    }
    infer += mse.forward(net.forward(x, sg, Mode::infer), t) * batch / n;
  }
  MESSAGE("overfit: inference-mode MSE (running statistics) " << infer);
  MESSAGE("overfit: last-epoch training MSE " << last_epoch << " after " << epochs << " epochs, " << secs << " s");
  CHECK(last_epoch < 1e-3);
  CHECK(infer < 1e-3);
}

TEST_CASE("a training step allocates nothing once the buffers exist") {
  counting = true;  // the counter itself works
  delete new std::vector<int>(3);
  counting = false;
  REQUIRE(allocations.load() >= 1);
  allocations = 0;
  for (Architecture a : {Architecture::ribcage, Architecture::siamese, Architecture::naive}) {
    Network<float, 2> net(model_preset(a, "small", 2), 5);
    const Tensor<float> image = random_tensor<float>({4, 1, 64, 64}, 1);
    const Tensor<float> seg = random_tensor<float>({4, 1, 64, 64}, 2, 0, 1);
    const Tensor<float> target = random_tensor<float>({4, 1}, 3, 0, 1);
    MseLoss<float> mse;
    AdamW<float> opt(net.params());
    std::vector<ParamRef<float>> ps = net.params();
    for (int i = 0; i < 2; ++i) {
      net.zero_grad();
      mse.forward(net.forward(image, seg, Mode::train), target);
      net.backward(mse.backward());
      clip_grad_norm(ps, 1.0);
      opt.step();
    }
    allocations = 0;
    counting = true;
    for (int i = 0; i < 3; ++i) {
      net.zero_grad();
      mse.forward(net.forward(image, seg, Mode::train), target);
      net.backward(mse.backward());
      clip_grad_norm(ps, 1.0);
      opt.step();
      net.forward(image, seg, Mode::infer);
    }
    counting = false;
    INFO(to_string(a));
    CHECK(allocations.load() == 0);
  }
}

TEST_CASE("the Linear bias gradient is the batch sum in order, wherever the buffers lie") {
  // Heap addresses change with everything allocated before; shift them by small fillers and
  // check every output against the sum computed by hand in the batch order.
  std::vector<std::unique_ptr<std::vector<float>>> fillers;
  for (int shift = 0; shift < 16; ++shift) {
    fillers.push_back(std::make_unique<std::vector<float>>(static_cast<std::size_t>(shift + 1)));
    Linear<float> lin(5, 37);
    const Tensor<float> x = random_tensor<float>({7, 5}, 11);
    const Tensor<float> dy = random_tensor<float>({7, 37}, 12 + static_cast<std::uint64_t>(shift));
    lin.weight.grad.reshape(lin.weight.value.shape(), 0.0f);
    lin.bias.grad.reshape(lin.bias.value.shape(), 0.0f);
    lin.forward(x);
    lin.backward(dy);
    Index differ = 0;
    for (Index o = 0; o < 37; ++o) {
      float s = 0;
      for (Index i = 0; i < 7; ++i) s += dy[i * 37 + o];
      differ += lin.bias.grad[o] != s;
    }
    INFO("filler of " << shift + 1 << " floats");
    CHECK(differ == 0);
  }
}

TEST_CASE("training steps give the same bits with 1 and 2 threads") {
  auto run = [](int threads) {
    tbb::global_control limit(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(threads));
    Network<float, 2> net(model_preset(Architecture::ribcage, "small", 2), 9);
    const Tensor<float> image = random_tensor<float>({6, 1, 64, 64}, 1);
    const Tensor<float> seg = random_tensor<float>({6, 1, 64, 64}, 2, 0, 1);
    const Tensor<float> target = random_tensor<float>({6, 1}, 3, 0, 1);
    MseLoss<float> mse;
    AdamW<float> opt(net.params());
    for (int i = 0; i < 2; ++i) {
      net.zero_grad();
      mse.forward(net.forward(image, seg, Mode::train), target);
      net.backward(mse.backward());
      opt.step();
    }
    std::vector<float> out;
    for (const auto& p : net.params()) out.insert(out.end(), p.value->begin(), p.value->end());
    for (const auto& b : net.buffers()) out.insert(out.end(), b.value->begin(), b.value->end());
    return out;
  };
  const std::vector<float> a = run(1), b = run(2);
  REQUIRE(a.size() == b.size());
  Index differ = 0;
  for (std::size_t i = 0; i < a.size(); ++i) differ += a[i] != b[i];
  CHECK(differ == 0);
}
