// Parity with PyTorch: benchmarks/torch_parity.py rebuilds each network in PyTorch from a qanet
// model file, runs the same training-mode step and compares outputs, input gradients, every
// parameter gradient and the updated BatchNorm statistics (1e-4 relative, float32).
#include <cstdlib>

#include "nn_test_util.hpp"
#include "support.hpp"

using namespace qanet;
using namespace qanet::nn;
using qanet::testing::random_tensor;

namespace {

bool torch_available() { return std::system("/usr/bin/python3 -c 'import torch, numpy' >/dev/null 2>&1") == 0; }

template <int Dim>
void write_case(const std::filesystem::path& dir, const ModelConfig& cfg, const TensorShape& in, std::uint64_t seed) {
  std::filesystem::create_directories(dir);
  Network<float, Dim> net(cfg, seed);
  save_model(dir / "model.safetensors", net);  // before the step: torch starts from these
  SafetensorsFile batch;
  batch.tensors["image"] = random_tensor<float>(in, seed + 1);
  // Segmentation input with the trinary values {0, 0.5, 1}.
  Tensor<float> seg = random_tensor<float>(in, seed + 2, 0, 3);
  for (float& v : seg) v = std::floor(v) / 2;
  batch.tensors["seg"] = seg;
  batch.tensors["target"] = random_tensor<float>({in[0], 1}, seed + 3, 0, 1);
  write_safetensors(dir / "batch.safetensors", batch);

  MseLoss<float> mse;
  SafetensorsFile res;
  net.zero_grad();
  const Tensor<float>& out = net.forward(batch.tensors["image"], batch.tensors["seg"], Mode::train);
  res.tensors["output"].assign(out);
  const double loss = mse.forward(out, batch.tensors["target"]);
  net.backward(mse.backward());
  res.tensors["loss"] = Tensor<float>({1}, static_cast<float>(loss));
  res.tensors["grad.image"].assign(net.image_grad());
  res.tensors["grad.seg"].assign(net.seg_grad());
  for (const auto& p : net.params()) res.tensors["grad." + p.name].assign(*p.grad);
  for (const auto& b : net.buffers()) res.tensors["running." + b.name].assign(*b.value);
  write_safetensors(dir / "result.safetensors", res);
}

}  // namespace

TEST_CASE("PyTorch parity: outputs, input and parameter gradients, running statistics") {
  if (!torch_available()) {
    MESSAGE("skipped: /usr/bin/python3 with torch not found (install python3-torch)");
    return;
  }
  qanet::testing::TempDir dir;
  write_case<2>(dir / "ribcage2d", model_preset(Architecture::ribcage, "small", 2), {2, 1, 64, 64}, 1);
  write_case<3>(dir / "ribcage3d", model_preset(Architecture::ribcage, "small", 3), {2, 1, 16, 16, 16}, 2);
  ModelConfig sia = model_preset(Architecture::siamese, "small", 2);
  sia.widths = {1, 8, 16, 16, 32};
  write_case<2>(dir / "siamese2d", sia, {2, 1, 48, 48}, 3);
  ModelConfig nai = model_preset(Architecture::naive, "small", 2);
  nai.widths = {2, 8, 16, 16, 32};
  nai.head = {32};
  write_case<2>(dir / "naive2d", nai, {2, 1, 48, 48}, 4);
  const std::string script = std::string(QANET_SOURCE_DIR) + "/benchmarks/torch_parity.py";
  int status = 0;
  const std::string cmd = "/usr/bin/python3 " + script + " " + (dir / "ribcage2d").string() + " " +
                          (dir / "ribcage3d").string() + " " + (dir / "siamese2d").string() + " " +
                          (dir / "naive2d").string() + " 2>&1";
  const std::string out = qanet::testing::run_command(cmd, &status);
  MESSAGE(out);
  CHECK(status == 0);
  CHECK(out.find("parity OK") != std::string::npos);
  // The comparison is live: float32 rounding differences exceed an impossible tolerance.
  const std::string strict = qanet::testing::run_command(
      "/usr/bin/python3 " + script + " --tol 1e-9 " + (dir / "ribcage2d").string() + " 2>&1", &status);
  CHECK(status != 0);
  CHECK(strict.find("parity FAILED") != std::string::npos);
}
