#pragma once
// Model architectures, presets (SPEC §4) and the segmentation input encoding.

#include <string>
#include <vector>

#include "qanet/core/error.hpp"
#include "qanet/core/image.hpp"
#include "qanet/core/labels.hpp"

namespace qanet::nn {

// ribcage: image rib, segmentation rib and spine (the QANet model). siamese: two unshared
// streams fused before the head. naive: one stream on the 2-channel concat(image, seg).
enum class Architecture { ribcage, siamese, naive };
// trinary: {0, 0.5, 1} = background / interior / boundary (SPEC §2); binary: {0, 1}.
enum class InputEncoding { trinary, binary };

struct ModelConfig {
  Architecture architecture = Architecture::ribcage;
  std::string preset = "small";
  int dim = 2;
  // widths[0]: input channels of a stream (1; 2 for naive), widths[1..4]: block outputs.
  std::vector<Index> widths{1, 16, 32, 64, 128};
  std::vector<Index> head{128, 128};  // hidden fully connected sizes; an FC to `outputs` follows
  // 1: the score. 2: the score and the number of ground-truth objects the patch shows (each
  // counted by the share of its voxels inside, divided by object_count_unit), which scoring
  // uses as the patch's weight: SEG averages over the true objects, and a mask that merges or
  // misses cells, or adds specks, miscounts them.
  Index outputs = 1;
  Index padding = 0;                  // 0 = valid (2D presets), 1 = same (3D presets)
  std::vector<Index> patch{128, 128}; // training patch, numpy order
  InputEncoding encoding = InputEncoding::trinary;
};

// The second output predicts (objects in view) / object_count_unit, so that both outputs of a
// 128 px patch at 40 px cells lie near [0, 2] and weigh alike in the squared loss.
inline constexpr double object_count_unit = 4.0;

inline std::string to_string(Architecture a) {
  switch (a) {
    case Architecture::ribcage: return "ribcage";
    case Architecture::siamese: return "siamese";
    case Architecture::naive: return "naive";
  }
  return "?";
}
inline std::string to_string(InputEncoding e) { return e == InputEncoding::trinary ? "trinary" : "binary"; }

inline Architecture parse_architecture(const std::string& s) {
  if (s == "ribcage") return Architecture::ribcage;
  if (s == "siamese") return Architecture::siamese;
  if (s == "naive") return Architecture::naive;
  throw InvalidArgument("unknown architecture '" + s + "' (ribcage, siamese or naive)");
}
inline InputEncoding parse_encoding(const std::string& s) {
  if (s == "trinary") return InputEncoding::trinary;
  if (s == "binary") return InputEncoding::binary;
  throw InvalidArgument("unknown input encoding '" + s + "' (trinary or binary)");
}

// Presets "paper" (the published sizes) and "small" (for CPU training), 2D or 3D.
//   ribcage paper 2D [1,32,64,128,256] 256x256 (2,055,905 parameters); 3D [1,64,128,256,512]
//   32x256x256 (23,453,249); small 2D [1,16,32,64,128] 128x128; small 3D [1,8,16,32,64]
//   16x64x64. The ablation architectures have widths chosen so that their parameter counts
//   match the ribcage's of the same preset and dim within 2% (Table 2 compares at matched size):
//   siamese (head 128,64) and naive (one 2-channel stream, head = its last width). 3D uses
//   padding 1, 2D none.
inline ModelConfig model_preset(Architecture arch, const std::string& preset, int dim) {
  if (dim != 2 && dim != 3) throw InvalidArgument("model_preset: dim must be 2 or 3, got " + std::to_string(dim));
  if (preset != "paper" && preset != "small")
    throw InvalidArgument("unknown preset '" + preset + "' (paper or small)");
  const bool paper = preset == "paper";
  ModelConfig c;
  c.architecture = arch;
  c.preset = preset;
  c.dim = dim;
  c.padding = dim == 3 ? 1 : 0;
  if (dim == 2) c.patch = paper ? std::vector<Index>{256, 256} : std::vector<Index>{128, 128};
  else c.patch = paper ? std::vector<Index>{32, 256, 256} : std::vector<Index>{16, 64, 64};
  switch (arch) {
    case Architecture::ribcage:
      if (dim == 2) c.widths = paper ? std::vector<Index>{1, 32, 64, 128, 256} : std::vector<Index>{1, 16, 32, 64, 128};
      else c.widths = paper ? std::vector<Index>{1, 64, 128, 256, 512} : std::vector<Index>{1, 8, 16, 32, 64};
      c.head = {128, 128};
      break;
    case Architecture::naive:
      if (dim == 2) c.widths = paper ? std::vector<Index>{2, 68, 136, 272, 544} : std::vector<Index>{2, 35, 71, 141, 282};
      else c.widths = paper ? std::vector<Index>{2, 140, 280, 560, 1120} : std::vector<Index>{2, 19, 37, 73, 147};
      c.head = {c.widths[4]};
      break;
    case Architecture::siamese:
      if (dim == 2) c.widths = paper ? std::vector<Index>{1, 51, 102, 204, 409} : std::vector<Index>{1, 26, 51, 102, 204};
      else c.widths = paper ? std::vector<Index>{1, 101, 202, 404, 808} : std::vector<Index>{1, 13, 25, 51, 103};
      c.head = {128, 64};
      break;
  }
  return c;
}

// The segmentation channel fed to the network for a label image.
template <typename F = float, typename L, int Dim>
Image<F, Dim> encode_segmentation(const ImageView<const L, Dim>& labels, InputEncoding e, int boundary_width = 1) {
  return e == InputEncoding::trinary ? trinary_channel<F>(labels, boundary_width) : binary_channel<F>(labels);
}

}  // namespace qanet::nn
