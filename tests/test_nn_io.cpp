// safetensors model files: format checked by an independent Python reader, round trips, and
// clear failures on corrupt, truncated and mismatched files.
#include <fstream>

#include "nn_test_util.hpp"
#include "support.hpp"

using namespace qanet;
using namespace qanet::nn;
using qanet::testing::random_tensor;
using qanet::testing::TempDir;

namespace {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}
void spit(const std::filesystem::path& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary);
  out << s;
}
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const IoError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("WRONG EXCEPTION TYPE: ") + e.what();
  }
  return "NO ERROR";
}

}  // namespace

TEST_CASE("safetensors round trip keeps tensors and metadata") {
  SafetensorsFile f;
  f.tensors["b"] = random_tensor<float>({2, 3}, 1);
  f.tensors["a"] = random_tensor<float>({5}, 2);
  f.tensors["empty"] = Tensor<float>(TensorShape{0, 4});
  f.metadata["k"] = "v";
  const std::string bytes = encode_safetensors(f);
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  CHECK(n % 8 == 0);
  CHECK(bytes.size() == 8 + n + 4 * (6 + 5));
  const SafetensorsFile g = decode_safetensors(bytes, "mem");
  CHECK(g.metadata.at("k") == "v");
  REQUIRE(g.tensors.size() == 3);
  for (const auto& [name, t] : f.tensors) {
    const Tensor<float>& u = g.tensors.at(name);
    REQUIRE(u.shape() == t.shape());
    for (Index i = 0; i < t.numel(); ++i) CHECK(u[i] == t[i]);
  }
}

TEST_CASE("model file: independent Python reader sees the PyTorch names, shapes and values") {
  const std::string py = qanet::testing::python_with_scipy();
  if (py.empty()) {
    MESSAGE("skipped: python3 with numpy not found");
    return;
  }
  TempDir dir;
  Network<float, 2> net(model_preset(Architecture::ribcage, "paper", 2), 3);
  ModelInfo info;
  info.metric = "SEG";
  info.training = {{"epochs", 3}};
  save_model(dir / "m.safetensors", net, info);
  // No temporary file is left next to the model.
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) files += e.is_regular_file();
  CHECK(files == 1);
  const std::string script = R"PY(
import json, struct, sys
import numpy as np
b = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', b[:8])[0]
h = json.loads(b[8:8 + n])
meta = h.pop('__metadata__')
data = b[8 + n:]
def arr(name):
    e = h[name]; s, t = e['data_offsets']
    assert e['dtype'] == 'F32'
    return np.frombuffer(data[s:t], dtype='<f4').reshape(e['shape'])
print(len(h), meta['preset'], meta['dim'], meta['widths'], meta['input_encoding'], meta['metric'], json.loads(meta['training'])['epochs'])
print(list(arr('spine.1.conv.weight').shape), list(arr('head.0.weight').shape), list(arr('image_rib.3.bn.running_var').shape))
print('%.9g %.9g %.9g' % (arr('spine.1.conv.weight')[3, 17, 2, 1], arr('head.2.bias')[0], arr('seg_rib.0.bn.weight').sum()))
)PY";
  const auto sp = dir / "read.py";
  spit(sp, script);
  const std::string out = qanet::testing::run_command(py + " " + sp.string() + " " + (dir / "m.safetensors").string());
  Tensor<float>* w = nullptr;
  Tensor<float>* hb = nullptr;
  for (const auto& p : net.params()) {
    if (p.name == "spine.1.conv.weight") w = p.value;
    if (p.name == "head.2.bias") hb = p.value;
  }
  REQUIRE(w);
  REQUIRE(hb);
  char expect[512];
  std::snprintf(expect, sizeof expect,
                "78 paper 2 [1,32,64,128,256] trinary SEG 3\n[64, 96, 3, 3] [128, 768] [256]\n%.9g %.9g %.9g\n",
                static_cast<double>((*w)[((3 * 96 + 17) * 3 + 2) * 3 + 1]), static_cast<double>((*hb)[0]), 32.0);
  CHECK(out == std::string(expect));
}

TEST_CASE("model file round trip reproduces the network exactly") {
  TempDir dir;
  for (Architecture a : {Architecture::ribcage, Architecture::siamese, Architecture::naive}) {
    ModelConfig c = model_preset(a, "small", 3);
    c.encoding = InputEncoding::binary;
    Network<float, 3> net(c, 4);
    // Train one step so the BatchNorm running statistics are not the defaults.
    const Tensor<float> x = random_tensor<float>({2, 1, 16, 16, 16}, 5), s = random_tensor<float>({2, 1, 16, 16, 16}, 6);
    net.forward(x, s, Mode::train);
    save_model(dir / "m.safetensors", net);
    ModelInfo info;
    Network<float, 3> back = load_model<float, 3>(dir / "m.safetensors", &info);
    CHECK(info.config.encoding == InputEncoding::binary);
    CHECK(info.config.architecture == a);
    CHECK(read_model_info(dir / "m.safetensors").config.widths == c.widths);
    const Tensor<float>& y0 = net.forward(x, s, Mode::infer);
    const Tensor<float>& y1 = back.forward(x, s, Mode::infer);
    for (Index i = 0; i < y0.numel(); ++i) CHECK(y0[i] == y1[i]);
  }
}

TEST_CASE("a model with the object-count output: [N, 2] outputs, 'outputs' in its file, refused as a score-only model") {
  TempDir dir;
  ModelConfig c = model_preset(Architecture::ribcage, "small", 2);
  c.outputs = 2;
  Network<float, 2> net(c, 9);
  const Tensor<float> x = random_tensor<float>({3, 1, 64, 64}, 5), s = random_tensor<float>({3, 1, 64, 64}, 6);
  const Tensor<float> y = net.forward(x, s, Mode::infer);
  REQUIRE(y.shape() == TensorShape({3, 2}));
  // The two outputs are two rows of the last layer over the same features: recomputed here
  // from the hidden activations of a one-output twin that shares every other weight.
  ModelConfig c1 = c;
  c1.outputs = 1;
  Network<float, 2> one(c1, 9);
  auto p2 = net.params(), p1 = one.params();
  REQUIRE(p1.size() == p2.size());
  for (std::size_t k = 0; k + 2 < p1.size(); ++k) p1[k].value->assign(*p2[k].value);
  const Tensor<float>& w2 = *p2[p2.size() - 2].value;  // [2, hidden]
  const Tensor<float>& b2 = *p2[p2.size() - 1].value;
  for (int row = 0; row < 2; ++row) {
    Tensor<float>& w1 = *p1[p1.size() - 2].value;
    for (Index i = 0; i < w1.numel(); ++i) w1[i] = w2[row * w1.numel() + i];
    (*p1[p1.size() - 1].value)[0] = b2[row];
    const Tensor<float>& y1 = one.forward(x, s, Mode::infer);
    for (Index n = 0; n < 3; ++n) CHECK(y1[n] == doctest::Approx(y[n * 2 + row]).epsilon(1e-6));
  }
  save_model(dir / "count.safetensors", net);
  save_model(dir / "score.safetensors", one);
  CHECK(read_safetensors(dir / "count.safetensors").metadata.at("outputs") == "2");
  CHECK(read_safetensors(dir / "score.safetensors").metadata.count("outputs") == 0);
  ModelInfo info;
  Network<float, 2> back = load_model<float, 2>(dir / "count.safetensors", &info);
  CHECK(info.config.outputs == 2);
  const Tensor<float>& yb = back.forward(x, s, Mode::infer);
  for (Index i = 0; i < y.numel(); ++i) CHECK(yb[i] == y[i]);
  // Without its "outputs" entry the file's last layer no longer matches its metadata.
  SafetensorsFile f = read_safetensors(dir / "count.safetensors");
  f.metadata.erase("outputs");
  write_safetensors(dir / "stripped.safetensors", f);
  CHECK_THROWS_AS((load_model<float, 2>(dir / "stripped.safetensors")), IoError);
  c.outputs = 3;
  CHECK_THROWS_AS((Network<float, 2>(c)), InvalidArgument);
}

TEST_CASE("corrupt, truncated and mismatched model files fail clearly") {
  TempDir dir;
  Network<float, 2> net(model_preset(Architecture::ribcage, "small", 2), 7);
  const auto path = dir / "m.safetensors";
  save_model(path, net);
  const std::string good = slurp(path);
  auto load = [&](const std::string& bytes) {
    spit(dir / "bad.safetensors", bytes);
    return error_of([&] { load_model<float, 2>(dir / "bad.safetensors"); });
  };
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(good[i]);
  std::string header = good.substr(8, n);

  CHECK(error_of([&] { load_model<float, 2>(dir / "missing.safetensors"); }).find("cannot open") != std::string::npos);
  CHECK(load(good.substr(0, 5)).find("truncated") != std::string::npos);
  CHECK(load(good.substr(0, good.size() - 100)).find("truncated") != std::string::npos);
  CHECK(load(good.substr(0, 8 + n / 2)).find("truncated") != std::string::npos);
  std::string garbled = good;
  garbled[8] = 'x';  // the opening brace of the JSON header
  CHECK(load(garbled).find("corrupt JSON header") != std::string::npos);
  CHECK(load(good + "xxxx").find("trailing bytes") != std::string::npos);
  CHECK(error_of([&] { load_model<float, 3>(path); }).find("the model is 2D, expected 3D") != std::string::npos);

  // A well-formed safetensors file whose tensors do not match the metadata.
  SafetensorsFile f = read_safetensors(path);
  SafetensorsFile shape_changed = f;
  shape_changed.tensors["spine.2.conv.weight"] = Tensor<float>({64, 95, 3, 3});
  write_safetensors(dir / "bad.safetensors", shape_changed);
  const std::string e1 = error_of([&] { load_model<float, 2>(dir / "bad.safetensors"); });
  CHECK(e1.find("spine.2.conv.weight") != std::string::npos);
  CHECK(e1.find("[64, 96, 3, 3]") != std::string::npos);
  SafetensorsFile missing = f;
  missing.tensors.erase("head.1.bias");
  write_safetensors(dir / "bad.safetensors", missing);
  CHECK(error_of([&] { load_model<float, 2>(dir / "bad.safetensors"); }).find("'head.1.bias' missing") != std::string::npos);
  SafetensorsFile extra = f;
  extra.tensors["head.3.weight"] = Tensor<float>({1, 1});
  write_safetensors(dir / "bad.safetensors", extra);
  CHECK(error_of([&] { load_model<float, 2>(dir / "bad.safetensors"); }).find("unexpected tensor 'head.3.weight'") != std::string::npos);
  SafetensorsFile no_meta = f;
  no_meta.metadata.clear();
  write_safetensors(dir / "bad.safetensors", no_meta);
  CHECK(error_of([&] { load_model<float, 2>(dir / "bad.safetensors"); }).find("not a qanet model file") != std::string::npos);
  SafetensorsFile bad_meta = f;
  bad_meta.metadata["widths"] = "[1, 16";
  write_safetensors(dir / "bad.safetensors", bad_meta);
  CHECK(error_of([&] { load_model<float, 2>(dir / "bad.safetensors"); }).find("corrupt model metadata") != std::string::npos);
  // Offsets that do not match the dtype and shape.
  std::string off = header;
  const auto pos = off.find("\"data_offsets\":[0,");
  REQUIRE(pos != std::string::npos);
  off.replace(pos, 18, "\"data_offsets\":[4,");
  std::string shifted = good.substr(0, 8) + off + good.substr(8 + n);
  CHECK(load(shifted).find("do not match its shape") != std::string::npos);
}
