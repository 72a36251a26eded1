// Whole networks on the GPU against nn::Network: forward and backward parity for RibCage,
// Siamese and Naive in 2D and 3D, ten training steps from the same seed, one model file for
// both devices, and out-of-memory reporting.

#include "cuda_test_util.hpp"
#include "support.hpp"

using namespace qanet;
using qanet::testing::check_close;
using qanet::testing::random_host;
using qanet::testing::rel_error;
using qanet::testing::to_device;

namespace {

// Narrow networks on small patches: the CPU side stays fast; every code path is the paper's.
nn::ModelConfig tiny_config(nn::Architecture arch, int dim) {
  nn::ModelConfig c = nn::model_preset(arch, "small", dim);
  switch (arch) {
    case nn::Architecture::ribcage: c.widths = {1, 4, 6, 8, 10}; c.head = {12, 8}; break;
    case nn::Architecture::siamese: c.widths = {1, 4, 6, 8, 10}; c.head = {8, 6}; break;
    case nn::Architecture::naive: c.widths = {2, 4, 6, 8, 10}; c.head = {10}; break;
  }
  c.patch = dim == 2 ? std::vector<Index>{50, 47} : std::vector<Index>{16, 18, 17};
  return c;
}

template <int Dim>
nn::TensorShape input_shape(const nn::ModelConfig& c, Index n) {
  nn::TensorShape s;
  s.rank = 2 + Dim;
  s.dims[0] = n;
  s.dims[1] = 1;
  for (int a = 0; a < Dim; ++a) s.dims[2 + a] = c.patch[a];
  return s;
}

// Segmentation-like input: values in {0, 0.5, 1}.
nn::Tensor<float> trinary_host(const nn::TensorShape& s, std::uint64_t seed) {
  nn::Tensor<float> t(s);
  Rng rng(seed);
  for (float& v : t) v = 0.5f * static_cast<float>(rng.uniform_int(0, 2));
  return t;
}

// Gradient tolerance: relative to the tensor's largest value; a convolution bias in front of
// BatchNorm has a true gradient of 0 (only rounding noise on both devices), so its scale is the
// largest gradient of the same convolution's weight (as benchmarks/torch_parity.py does).
template <int Dim>
void check_grads(cuda::Context& ctx, cuda::Network<Dim>& gpu, nn::Network<float, Dim>& cpu, double tol, const std::string& what) {
  nn::Network<float, Dim> g(cpu.config());
  gpu.copy_grads_to(g);
  auto gp = g.params();
  auto cp = cpu.params();
  REQUIRE(gp.size() == cp.size());
  double worst = 0;
  for (std::size_t i = 0; i < cp.size(); ++i) {
    const std::string& name = cp[i].name;
    double floor = 1e-30;
    if (name.size() > 9 && name.compare(name.size() - 9, 9, "conv.bias") == 0) {
      for (float v : *cp[i - 1].grad) floor = std::max(floor, static_cast<double>(std::abs(v)));
    }
    const double e = rel_error(*gp[i].grad, *cp[i].grad, floor);
    INFO(what << ": gradient of " << name << " relative error " << e);
    CHECK(e < tol);
    worst = std::max(worst, e);
  }
  MESSAGE(what << ": worst parameter-gradient error " << worst);
}

template <int Dim>
void parity_case(cuda::Context& ctx, nn::Architecture arch) {
  const nn::ModelConfig cfg = tiny_config(arch, Dim);
  const std::string what = nn::to_string(arch) + " " + std::to_string(Dim) + "D";
  nn::Network<float, Dim> cpu(cfg, 7);
  cuda::Network<Dim> gpu(ctx, cfg, 7);
  CHECK(gpu.param_count() == cpu.param_count());
  const nn::TensorShape s = input_shape<Dim>(cfg, 3);
  const nn::Tensor<float> image = random_host(s, 1, 0, 1), seg = trinary_host(s, 2), target = random_host({3, 1}, 3, 0, 1);
  const cuda::DTensor gi = to_device(ctx, image), gs = to_device(ctx, seg), gt = to_device(ctx, target);

  // Training-mode forward, MSE, backward.
  nn::MseLoss<float> cl;
  cuda::MseLoss gl(ctx);
  cpu.zero_grad();
  gpu.zero_grad();
  const auto& yc = cpu.forward(image, seg, nn::Mode::train);
  check_close(ctx, gpu.forward(gi, gs, nn::Mode::train), yc, 1e-4, what + " forward (train)");
  const double lc = cl.forward(yc, target), lg = gl.forward(gpu.forward(gi, gs, nn::Mode::train), gt);
  // The second GPU forward updated the running statistics once more: run the CPU twice too.
  cpu.forward(image, seg, nn::Mode::train);
  CHECK(lg == doctest::Approx(lc).epsilon(1e-4));
  cpu.backward(cl.backward());
  gpu.backward(gl.backward());
  check_grads(ctx, gpu, cpu, 2e-3, what);
  check_close(ctx, gpu.image_grad(), cpu.image_grad(), 2e-3, what + " d loss / d image");
  check_close(ctx, gpu.seg_grad(), cpu.seg_grad(), 2e-3, what + " d loss / d seg");
  nn::Network<float, Dim> back = gpu.to_host();
  auto bb = back.buffers();
  auto cb = cpu.buffers();
  for (std::size_t i = 0; i < cb.size(); ++i) {
    INFO(what << ": " << cb[i].name);
    CHECK(rel_error(*bb[i].value, *cb[i].value) < 1e-4);
  }
  // Inference with the running statistics.
  check_close(ctx, gpu.forward(gi, gs, nn::Mode::infer), cpu.forward(image, seg, nn::Mode::infer), 1e-4, what + " forward (infer)");
}

template <int Dim>
std::vector<double> train_losses_cpu(const nn::ModelConfig& cfg, int steps, nn::Network<float, Dim>& net) {
  nn::AdamW<float> opt(net.params());
  nn::MseLoss<float> loss;
  net.set_need_input_grad(false);
  std::vector<double> out;
  const nn::TensorShape s = input_shape<Dim>(cfg, 4);
  for (int k = 0; k < steps; ++k) {
    const nn::Tensor<float> image = random_host(s, 100 + k, 0, 1), seg = trinary_host(s, 200 + k),
                            target = random_host({4, 1}, 300 + k, 0, 1);
    net.zero_grad();
    out.push_back(loss.forward(net.forward(image, seg, nn::Mode::train), target));
    net.backward(loss.backward());
    opt.step();
  }
  return out;
}

template <int Dim>
std::vector<double> train_losses_gpu(cuda::Context& ctx, const nn::ModelConfig& cfg, int steps, cuda::Network<Dim>& net) {
  cuda::AdamW opt(ctx, net.flat_values(), net.flat_grads());
  cuda::MseLoss loss(ctx);
  net.set_need_input_grad(false);
  std::vector<double> out;
  const nn::TensorShape s = input_shape<Dim>(cfg, 4);
  for (int k = 0; k < steps; ++k) {
    const cuda::DTensor image = to_device(ctx, random_host(s, 100 + k, 0, 1)), seg = to_device(ctx, trinary_host(s, 200 + k)),
                        target = to_device(ctx, random_host({4, 1}, 300 + k, 0, 1));
    net.zero_grad();
    out.push_back(loss.forward(net.forward(image, seg, nn::Mode::train), target));
    net.backward(loss.backward());
    opt.step();
  }
  return out;
}

template <int Dim>
void training_case(cuda::Context& ctx) {
  const nn::ModelConfig cfg = tiny_config(nn::Architecture::ribcage, Dim);
  nn::Network<float, Dim> cpu(cfg, 11);
  cuda::Network<Dim> gpu(ctx, cfg, 11);
  const std::vector<double> lc = train_losses_cpu<Dim>(cfg, 10, cpu), lg = train_losses_gpu<Dim>(ctx, cfg, 10, gpu);
  for (int k = 0; k < 10; ++k) {
    INFO(Dim << "D step " << k << ": CPU loss " << lc[k] << ", GPU loss " << lg[k]);
    CHECK(lg[k] == doctest::Approx(lc[k]).epsilon(2e-3));
  }
  MESSAGE(Dim << "D training: CPU losses " << lc.front() << " .. " << lc.back() << ", GPU " << lg.front() << " .. " << lg.back());
  // The losses must move, or the comparison says nothing about the updates.
  CHECK(std::abs(lc.back() - lc.front()) > 1e-4);
}

}  // namespace

TEST_CASE("cuda: RibCage, Siamese and Naive forward and backward match the CPU network (2D)") {
  QANET_REQUIRE_GPU();
  cuda::Context ctx;
  for (auto a : {nn::Architecture::ribcage, nn::Architecture::siamese, nn::Architecture::naive}) parity_case<2>(ctx, a);
}

TEST_CASE("cuda: RibCage, Siamese and Naive forward and backward match the CPU network (3D)") {
  QANET_REQUIRE_GPU();
  cuda::Context ctx;
  for (auto a : {nn::Architecture::ribcage, nn::Architecture::siamese, nn::Architecture::naive}) parity_case<3>(ctx, a);
}

TEST_CASE("cuda: TF32 mode (the benchmarks' mode) stays close to the CPU") {
  QANET_REQUIRE_GPU();
  cuda::Context ctx;
  ctx.set_math(cuda::Math::tf32);
  ctx.set_algo_search(cuda::AlgoSearch::benchmark);
  const nn::ModelConfig cfg = tiny_config(nn::Architecture::ribcage, 3);
  nn::Network<float, 3> cpu(cfg, 5);
  cuda::Network<3> gpu(ctx, cfg, 5);
  const nn::TensorShape s = input_shape<3>(cfg, 2);
  const nn::Tensor<float> image = random_host(s, 1, 0, 1), seg = trinary_host(s, 2);
  const cuda::DTensor gi = to_device(ctx, image), gs = to_device(ctx, seg);
  // TF32 keeps 10 mantissa bits: about 1e-3 relative per product.
  check_close(ctx, gpu.forward(gi, gs, nn::Mode::train), cpu.forward(image, seg, nn::Mode::train), 3e-2,
              "ribcage 3D forward in TF32");
}

TEST_CASE("cuda: ten AdamW training steps give the CPU's losses (2D and 3D)") {
  QANET_REQUIRE_GPU();
  cuda::Context ctx;
  training_case<2>(ctx);
  training_case<3>(ctx);
}

TEST_CASE("cuda: one model file serves both devices") {
  QANET_REQUIRE_GPU();
  cuda::Context ctx;
  testing::TempDir dir;
  const nn::ModelConfig cfg = tiny_config(nn::Architecture::ribcage, 2);
  nn::Network<float, 2> cpu(cfg, 21);
  // Change the statistics so that the file carries non-default buffers.
  const nn::TensorShape s = input_shape<2>(cfg, 2);
  const nn::Tensor<float> image = random_host(s, 5, 0, 1), seg = trinary_host(s, 6);
  cpu.forward(image, seg, nn::Mode::train);
  nn::save_model(dir.path() / "cpu.safetensors", cpu);
  auto gpu = cuda::load_model<2>(ctx, dir.path() / "cpu.safetensors");
  const cuda::DTensor gi = to_device(ctx, image), gs = to_device(ctx, seg);
  check_close(ctx, gpu->forward(gi, gs, nn::Mode::infer), cpu.forward(image, seg, nn::Mode::infer), 1e-4, "CPU file on the GPU");
  CHECK(testing::rel_error(gpu->predict(image, seg), cpu.forward(image, seg, nn::Mode::infer)) < 1e-4);
  cuda::save_model(dir.path() / "gpu.safetensors", *gpu);
  nn::Network<float, 2> back = nn::load_model<float, 2>(dir.path() / "gpu.safetensors");
  auto a = back.params();
  auto b = cpu.params();
  for (std::size_t i = 0; i < a.size(); ++i) {
    INFO(a[i].name);
    CHECK(rel_error(*a[i].value, *b[i].value) == 0.0);
  }
  CHECK_THROWS_AS(cuda::load_model<3>(ctx, dir.path() / "gpu.safetensors"), IoError);
}

TEST_CASE("cuda: out-of-memory is reported with the request and the free memory") {
  QANET_REQUIRE_GPU();
  cuda::Context ctx;
  // Four times the device memory: a plausible request that cannot succeed (absurd sizes might be
  // refused as invalid values rather than out of memory).
  const std::size_t huge = 4 * cuda::device_probe().total_memory;
  try {
    cuda::DeviceBuffer<float> b(huge / sizeof(float), "test buffer");
    FAIL("an allocation of four times the device memory succeeded");
  } catch (const cuda::OutOfMemory& e) {
    const std::string msg = e.what();
    MESSAGE("out-of-memory message: " << msg);
    CHECK(msg.find("out of device memory") != std::string::npos);
    CHECK(msg.find("test buffer") != std::string::npos);
    CHECK(msg.find(std::to_string(huge)) != std::string::npos);
    CHECK(msg.find("free of") != std::string::npos);
    CHECK(e.requested_bytes() == huge);
  }
  // The device stays usable after the failed request.
  cuda::LeakyRelu act(ctx, 0.5);
  const nn::Tensor<float> x = random_host({1, 1, 4, 4}, 9);
  nn::LeakyRelu<float> ref(0.5);
  check_close(ctx, act.forward(to_device(ctx, x)), ref.forward(x), 1e-7, "leaky_relu after OOM");
}
