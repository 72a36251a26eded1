#pragma once
// Shared by the tests of the scoring layer (test_qa.cpp, test_qa_objects.cpp): tiny model files,
// scenes of labelled discs, and running the qanet program.
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "qanet/core/random.hpp"
#include "qanet/nn/model_file.hpp"
#include "qanet/qa/inputs.hpp"
#include "support.hpp"

namespace qanet::testing {

namespace fs = std::filesystem;

// The smallest useful RibCage: one or two channels per block, one hidden FC of 4. 2D valid
// convolutions need 46 px (Network::min_input_extent), 3D same-padded ones 16.
template <int Dim>
nn::ModelConfig tiny_config(nn::InputEncoding enc = nn::InputEncoding::trinary, Index outputs = 1) {
  nn::ModelConfig c;
  c.outputs = outputs;
  c.architecture = nn::Architecture::ribcage;
  c.preset = "tiny";
  c.dim = Dim;
  c.widths = {1, 2, 2, 2, 2};
  c.head = {4};
  c.padding = Dim == 3 ? 1 : 0;
  c.patch = Dim == 3 ? std::vector<Index>{16, 24, 24} : std::vector<Index>{48, 48};
  c.encoding = enc;
  return c;
}

// A tiny model file whose output sits inside (0, 1) for SEG: the last bias is moved to 0.5 so
// that clamping does not hide differences between patches (for the object-count output too, so
// that its counts lie near 2 and stay positive).
template <int Dim>
void write_tiny_model(const fs::path& path, double target_diameter = 0, std::uint64_t seed = 11,
                      nn::InputEncoding enc = nn::InputEncoding::trinary, bool per_image = false, Index outputs = 1,
                      const std::string& metric = "seg") {
  nn::Network<float, Dim> net(tiny_config<Dim>(enc, outputs), seed);
  auto params = net.params();
  for (auto& p : params)
    if (p.name == "head.1.bias")
      for (Index k = 0; k < outputs; ++k) (*p.value)[k] = 0.5f;
  nn::ModelInfo info;
  info.metric = metric;
  if (target_diameter > 0) info.training = {{"target_diameter", target_diameter}};
  if (per_image) InputConvention{}.store(info);  // else the convention of models before 0.2
  nn::save_model(path, net, info);
}

// An image with bright discs (or balls) of the given labels on a noisy background.
template <int Dim>
struct Scene {
  Image<float, Dim> image;
  LabelImage<Dim> labels;
};

struct Blob {
  std::array<double, 3> centre;  // z, y, x (z ignored in 2D)
  double radius;
  Label label;
};

template <int Dim>
Scene<Dim> make_scene(const Shape<Dim>& shape, const std::vector<Blob>& blobs, std::uint64_t seed) {
  Scene<Dim> s{Image<float, Dim>(shape), LabelImage<Dim>(shape)};
  Rng rng(seed);
  for (Index i = 0; i < shape.size(); ++i) {
    const auto p = shape.coords(i);
    double v = 100.0 + 10.0 * rng.normal();
    for (const Blob& b : blobs) {
      double d2 = 0;
      for (int a = 0; a < Dim; ++a) {
        const double c = b.centre[static_cast<std::size_t>(3 - Dim + a)];
        d2 += (static_cast<double>(p[a]) - c) * (static_cast<double>(p[a]) - c);
      }
      if (d2 <= b.radius * b.radius) {
        s.labels[i] = b.label;
        v += 150.0 + 20.0 * static_cast<double>(b.label % 3);
      }
    }
    s.image[i] = static_cast<float>(v);
  }
  return s;
}

// Seven discs spread unevenly over a 100 x 90 image (the lower right is empty).
inline Scene<2> scene_2d(std::uint64_t seed = 5) {
  return make_scene<2>(Shape<2>(100, 90),
                       {{{0, 12, 12}, 7, 3},
                        {{0, 15, 40}, 6, 9},
                        {{0, 30, 20}, 8, 4},
                        {{0, 40, 45}, 5, 17},
                        {{0, 60, 10}, 7, 2},
                        {{0, 70, 30}, 6, 5},
                        {{0, 20, 70}, 5, 8}},
                       seed);
}

inline std::string q(const fs::path& p) { return "'" + p.string() + "'"; }

inline bool is_png(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  char sig[8] = {};
  f.read(sig, 8);
  return f && std::memcmp(sig, "\x89PNG\r\n\x1a\n", 8) == 0;
}

inline std::string read_text(const fs::path& p) {
  std::ifstream f(p);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

#ifdef QANET_CLI
struct CliResult {
  int status;
  std::string out;  // stdout, and stderr unless redirected
};

inline CliResult qanet_cli(const std::string& args) {
  int status = 0;
  const bool redirected = args.find("2>") != std::string::npos;
  std::string out = run_command(std::string(QANET_CLI) + " " + args + (redirected ? "" : " 2>&1"), &status);
  return {status, out};
}
#endif

}  // namespace qanet::testing
