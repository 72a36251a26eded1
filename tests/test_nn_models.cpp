// Models of the nn engine: parameter counts, tensor names, whole-model gradient checks.
#include <cmath>
#include <type_traits>

#include "nn_test_util.hpp"

using namespace qanet;
using namespace qanet::nn;
using qanet::testing::random_tensor;
using qanet::testing::require_gradients_match;

namespace {

// Parameter count from the architecture alone (conv weight + bias, BatchNorm weight + bias,
// linear weight + bias), written independently of the Network class.
Index count_by_formula(Architecture arch, const std::vector<Index>& w, const std::vector<Index>& head, int dim) {
  const Index k = dim == 2 ? 9 : 27;
  auto block = [&](Index in, Index out) { return out * in * k + out + 2 * out; };
  Index n = 0, features = 0;
  auto stream = [&](Index in0, bool spine) {
    for (int b = 0; b < 4; ++b) n += block(b == 0 ? in0 : (spine ? 3 : 1) * w[b], w[b + 1]);
  };
  if (arch == Architecture::ribcage) {
    stream(1, false);
    stream(1, false);
    stream(2, true);
    features = 3 * w[4];
  } else if (arch == Architecture::siamese) {
    stream(1, false);
    stream(1, false);
    features = 2 * w[4];
  } else {
    stream(2, false);
    features = w[4];
  }
  Index in = features;
  for (Index h : head) {
    n += in * h + h;
    in = h;
  }
  return n + in + 1;
}

// Full-model gradient check: loss = MSE(net(image, seg), target) with BatchNorm in training
// mode; every parameter tensor (up to 25 elements each) and both inputs (up to 60 elements).
template <int Dim>
double check_model(const ModelConfig& cfg, const TensorShape& in_shape, const std::string& what) {
  Network<double, Dim> net(cfg, 31);
  // Non-trivial BatchNorm affine parameters so their gradients are exercised.
  Rng rng(32);
  for (auto& p : net.params())
    if (p.name.find(".bn.") != std::string::npos)
      for (double& v : *p.value) v += rng.uniform(-0.3, 0.3);
  Tensor<double> image = random_tensor<double>(in_shape, 33);
  Tensor<double> seg = random_tensor<double>(in_shape, 34, 0, 1);
  Tensor<double> target = random_tensor<double>({in_shape[0], 1}, 35);
  MseLoss<double> mse;
  net.zero_grad();
  mse.forward(net.forward(image, seg, Mode::train), target);
  net.backward(mse.backward());
  Tensor<double> gi, gs;
  gi.assign(net.image_grad());
  gs.assign(net.seg_grad());
  REQUIRE(gi.shape() == image.shape());
  auto loss = [&] { return mse.forward(net.forward(image, seg, Mode::train), target); };
  auto params = net.params();
  auto r = gradient_check(loss, params, 1e-6, 25);
  auto ri = gradient_check(loss, {{"image", &image, &gi}, {"seg", &seg, &gs}}, 1e-6, 60);
  r.insert(r.end(), ri.begin(), ri.end());
  return require_gradients_match(r, what);
}

ModelConfig tiny(Architecture arch, int dim) {
  ModelConfig c = model_preset(arch, "small", dim);
  c.widths = arch == Architecture::naive ? std::vector<Index>{2, 3, 3, 2, 3} : std::vector<Index>{1, 2, 3, 2, 3};
  c.head = arch == Architecture::naive ? std::vector<Index>{4} : std::vector<Index>{4, 3};
  return c;
}

}  // namespace

TEST_CASE("paper presets have the published parameter counts") {
  const ModelConfig p2 = model_preset(Architecture::ribcage, "paper", 2);
  CHECK(count_by_formula(p2.architecture, p2.widths, p2.head, 2) == 2055905);
  CHECK(Network<float, 2>(p2).param_count() == 2055905);
  const ModelConfig p3 = model_preset(Architecture::ribcage, "paper", 3);
  CHECK(count_by_formula(p3.architecture, p3.widths, p3.head, 3) == 23453249);
  CHECK(Network<float, 3>(p3).param_count() == 23453249);
  for (Architecture a : {Architecture::ribcage, Architecture::siamese, Architecture::naive})
    for (const char* preset : {"paper", "small"}) {
      const ModelConfig c = model_preset(a, preset, 2);
      Network<float, 2> net(c);
      CHECK(net.param_count() == count_by_formula(a, c.widths, c.head, 2));
      Index listed = 0;
      for (const auto& p : net.params()) listed += p.value->numel();
      CHECK(listed == net.param_count());
      MESSAGE(to_string(a) << " " << std::string(preset) << " 2D: " << net.param_count() << " parameters");
    }
  const ModelConfig s3 = model_preset(Architecture::ribcage, "small", 3);
  MESSAGE("ribcage small 3D: " << Network<float, 3>(s3).param_count() << " parameters");
}

// Table 2 of the paper compares the architectures at matched size: the siamese and naive presets
// must have the ribcage's parameter count (counted by the formula above) within 2%.
TEST_CASE("ablation presets match the ribcage's parameter count") {
  for (int dim : {2, 3})
    for (const char* preset : {"paper", "small"}) {
      const ModelConfig r = model_preset(Architecture::ribcage, preset, dim);
      const double ribcage = static_cast<double>(count_by_formula(r.architecture, r.widths, r.head, dim));
      for (Architecture a : {Architecture::siamese, Architecture::naive}) {
        const ModelConfig c = model_preset(a, preset, dim);
        const double n = static_cast<double>(count_by_formula(a, c.widths, c.head, dim));
        INFO(to_string(a) << " " << preset << " " << dim << "D: " << n << " against " << ribcage);
        CHECK(std::abs(n / ribcage - 1) < 0.02);
      }
    }
  Network<float, 3> naive3(model_preset(Architecture::naive, "small", 3));
  const ModelConfig n3 = model_preset(Architecture::naive, "small", 3);
  CHECK(naive3.param_count() == count_by_formula(Architecture::naive, n3.widths, n3.head, 3));
}

TEST_CASE("ribcage tensor names and PyTorch shapes") {
  Network<float, 2> net(model_preset(Architecture::ribcage, "paper", 2));
  std::map<std::string, TensorShape> shapes;
  for (const auto& p : net.params()) shapes[p.name] = p.value->shape();
  for (const auto& b : net.buffers()) shapes[b.name] = b.value->shape();
  CHECK(shapes.size() == 3 * 4 * 6 + 6);
  CHECK(shapes.at("image_rib.0.conv.weight") == TensorShape({32, 1, 3, 3}));
  CHECK(shapes.at("seg_rib.3.conv.weight") == TensorShape({256, 128, 3, 3}));
  CHECK(shapes.at("spine.0.conv.weight") == TensorShape({32, 2, 3, 3}));
  CHECK(shapes.at("spine.1.conv.weight") == TensorShape({64, 96, 3, 3}));
  CHECK(shapes.at("spine.3.bn.running_var") == TensorShape({256}));
  CHECK(shapes.at("head.0.weight") == TensorShape({128, 768}));
  CHECK(shapes.at("head.2.weight") == TensorShape({1, 128}));
  Network<float, 3> net3(model_preset(Architecture::ribcage, "small", 3));
  std::map<std::string, TensorShape> s3;
  for (const auto& p : net3.params()) s3[p.name] = p.value->shape();
  CHECK(s3.at("spine.2.conv.weight") == TensorShape({32, 48, 3, 3, 3}));
}

TEST_CASE("initialisation follows PyTorch's default bounds and depends on the seed") {
  Network<float, 2> a(model_preset(Architecture::ribcage, "small", 2), 1), b(model_preset(Architecture::ribcage, "small", 2), 2);
  auto pa = a.params(), pb = b.params();
  bool differ = false;
  for (std::size_t i = 0; i < pa.size(); ++i) {
    const Tensor<float>& v = *pa[i].value;
    if (pa[i].name.find(".bn.") != std::string::npos) {
      const float expect = pa[i].name.find("weight") != std::string::npos ? 1.f : 0.f;
      for (float x : v) CHECK(x == expect);
      continue;
    }
    // fan_in of the layer the tensor belongs to: weight numel / out.
    const std::string wname = pa[i].name.substr(0, pa[i].name.rfind('.')) + ".weight";
    const Tensor<float>* w = nullptr;
    for (const auto& p : pa)
      if (p.name == wname) w = p.value;
    REQUIRE(w != nullptr);
    const double bound = 1 / std::sqrt(static_cast<double>(w->numel() / w->dim(0)));
    float lo = 1e9f, hi = -1e9f;
    for (float x : v) {
      lo = std::min(lo, x);
      hi = std::max(hi, x);
    }
    CHECK(lo >= -bound);
    CHECK(hi <= bound);
    if (v.numel() > 1000) {  // large tensors nearly fill the interval
      CHECK(hi > 0.9 * bound);
      CHECK(lo < -0.9 * bound);
    }
    for (Index j = 0; j < v.numel(); ++j) differ |= v[j] != (*pb[i].value)[j];
  }
  CHECK(differ);
}

TEST_CASE("gradient check: whole RibCage 2D and 3D") {
  check_model<2>(tiny(Architecture::ribcage, 2), {2, 1, 48, 47}, "ribcage 2D");
  check_model<3>(tiny(Architecture::ribcage, 3), {2, 1, 16, 17, 16}, "ribcage 3D");
}

TEST_CASE("gradient check: Siamese and Naive, 2D and 3D") {
  check_model<2>(tiny(Architecture::siamese, 2), {2, 1, 46, 48}, "siamese 2D");
  check_model<2>(tiny(Architecture::naive, 2), {2, 1, 47, 46}, "naive 2D");
  check_model<3>(tiny(Architecture::siamese, 3), {2, 1, 16, 16, 16}, "siamese 3D");
  check_model<3>(tiny(Architecture::naive, 3), {2, 1, 16, 16, 17}, "naive 3D");
}

TEST_CASE("predict gives the inference forward's outputs and feature maps, all architectures, 2D and 3D") {
  auto run = [](auto tag, Architecture arch, const TensorShape& shape) {
    constexpr int Dim = decltype(tag)::value;
    Network<float, Dim> net(tiny(arch, Dim), 41);
    Rng rng(42);
    for (auto& b : net.buffers())  // running statistics away from 0 / 1
      for (float& v : *b.value) v = static_cast<float>(b.name.find("running_var") != std::string::npos ? rng.uniform(0.5, 2.0) : rng.uniform(-0.3, 0.3));
    const Tensor<float> image = random_tensor<float>(shape, 43), seg = random_tensor<float>(shape, 44, 0, 1);
    const Tensor<float> y = net.forward(image, seg, Mode::infer);
    std::vector<Tensor<float>> maps;
    for (const Tensor<float>* m : net.feature_maps(image, seg, Mode::infer)) maps.push_back(*m);
    const Tensor<float>& yp = net.predict(image, seg);
    REQUIRE(yp.shape() == y.shape());
    // The same arithmetic per element; the GEMM may block a narrower matrix differently, which
    // can move the last bits.
    auto close = [](float a, float b) { return std::abs(a - b) <= 1e-5f * (1.0f + std::abs(b)); };
    for (Index i = 0; i < y.numel(); ++i) CHECK(close(yp[i], y[i]));
    const auto& pm = net.predict_feature_maps(image, seg);
    REQUIRE(pm.size() == maps.size());
    for (std::size_t k = 0; k < maps.size(); ++k) {
      REQUIRE(pm[k]->shape() == maps[k].shape());
      for (Index i = 0; i < maps[k].numel(); ++i) REQUIRE(close(pm[k]->data()[i], maps[k][i]));
    }
    CHECK_THROWS_AS(net.backward(Tensor<float>(y.shape())), InvalidArgument);
  };
  for (Architecture arch : {Architecture::ribcage, Architecture::siamese, Architecture::naive}) {
    run(std::integral_constant<int, 2>{}, arch, {2, 1, 46, 50});
    run(std::integral_constant<int, 3>{}, arch, {1, 1, 46, 46, 47});
  }
}

TEST_CASE("network rejects inputs it cannot process") {
  Network<float, 2> net(model_preset(Architecture::ribcage, "small", 2));
  CHECK(net.min_input_extent() == 46);
  CHECK_THROWS_AS(net.forward(Tensor<float>({1, 1, 45, 64}), Tensor<float>({1, 1, 45, 64}), Mode::infer), InvalidArgument);
  CHECK_THROWS_AS(net.forward(Tensor<float>({1, 1, 64, 64}), Tensor<float>({1, 1, 64, 63}), Mode::infer), InvalidArgument);
  CHECK_THROWS_AS(net.forward(Tensor<float>({1, 2, 64, 64}), Tensor<float>({1, 2, 64, 64}), Mode::infer), InvalidArgument);
  using Net3 = Network<float, 3>;
  CHECK_THROWS_AS(Net3(model_preset(Architecture::ribcage, "small", 2)), InvalidArgument);
  CHECK(Network<float, 3>(model_preset(Architecture::ribcage, "small", 3)).min_input_extent() == 16);
}

TEST_CASE("segmentation encodings") {
  LabelImage<2> labels(Shape<2>(5, 5), 0);
  for (int y = 1; y < 4; ++y)
    for (int x = 1; x < 4; ++x) labels(y, x) = 5;
  const auto t = encode_segmentation<float>(labels.cview(), InputEncoding::trinary);
  const auto b = encode_segmentation<float>(labels.cview(), InputEncoding::binary);
  CHECK(t(2, 2) == 0.5f);  // interior
  CHECK(t(1, 1) == 1.0f);  // boundary
  CHECK(t(0, 0) == 0.0f);
  CHECK(b(2, 2) == 1.0f);
  CHECK(b(1, 1) == 1.0f);
  CHECK(b(0, 0) == 0.0f);
}
