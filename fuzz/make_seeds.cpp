// Writes the generated part of the fuzzers' seed corpora into OUT/<harness>/: small TIFFs of
// every pixel type the writer has, 2D and 3D, strips and tiles, each codec; a small model file
// (real metadata, a few tensors); CTC file lists; command lines. Usage: qanet_fuzz_seeds OUT
#include <cstdio>
#include <fstream>
#include <string>

#include "qanet/io/tiff.hpp"
#include "qanet/nn/model_file.hpp"

namespace fs = std::filesystem;
using namespace qanet;

template <typename T, int Dim>
void tiffs(const fs::path& dir, const std::string& name, const Shape<Dim>& shape) {
  Image<T, Dim> img(shape);
  for (Index i = 0; i < img.size(); ++i) img[i] = static_cast<T>((i * 37) % 251);
  int k = 0;
  for (auto c : {TiffCompression::none, TiffCompression::lzw, TiffCompression::deflate, TiffCompression::packbits})
    for (Index tile : {Index{0}, Index{16}}) {
      TiffWriteOptions o;
      o.compression = c;
      o.tile = tile;
      write_tiff(dir / (name + "_" + std::to_string(k++) + ".tif"), img.cview(), o);
    }
}

void text(const fs::path& file, const std::string& s) { std::ofstream(file, std::ios::binary) << s; }

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: qanet_fuzz_seeds OUT\n");
    return 2;
  }
  const fs::path out = argv[1];
  for (const char* h : {"tiff", "model", "ctc", "cli"}) fs::create_directories(out / h);
  tiffs<std::uint8_t, 2>(out / "tiff", "u8", Shape<2>(20, 24));
  tiffs<std::uint16_t, 2>(out / "tiff", "u16", Shape<2>(17, 33));
  tiffs<std::uint32_t, 2>(out / "tiff", "u32", Shape<2>(16, 16));
  tiffs<std::int32_t, 3>(out / "tiff", "i32_3d", Shape<3>(3, 16, 20));
  tiffs<float, 2>(out / "tiff", "f32", Shape<2>(12, 40));
  tiffs<float, 3>(out / "tiff", "f32_3d", Shape<3>(2, 18, 18));

  // A model file with the real metadata of a model and two small tensors (the whole small
  // network is 2 MB, too large for a useful corpus; the loader's header paths are the same).
  nn::ModelInfo info;
  info.metric = "seg";
  nn::SafetensorsFile f;
  f.metadata = nn::detail::model_metadata(info);
  f.tensors["block1.conv1.weight"] = nn::Tensor<float>(nn::TensorShape{2, 1, 3, 3}, 0.5f);
  f.tensors["fc.bias"] = nn::Tensor<float>(nn::TensorShape{1}, 0.0f);
  text(out / "model" / "small.safetensors", nn::encode_safetensors(f));

  text(out / "ctc" / "sequence.txt", "0 t000.tif\n0 t001.tif\n0 t0002.tif\n1 man_seg000.tif\n1 man_seg001.tif\n"
                                     "1 man_seg_001_002.tif\n2 mask000.tif\n2 mask001.tif\n2 mask01.tif\n");
  text(out / "ctc" / "layout.txt", "3 a.tif\n3 b.tif\n4 a.tif\n4 c.tif\n5 man_track000.tif\n0 t9999.tiff\n");

  const char* lines[] = {
      "score\n--image\nimg.tif\n--mask\nmask.tif\n--json",
      "score\n--images\n01\n--masks\n01_RES\n--diameter\n30\n--flag-below\n0.5",
      "train\n--out\nm.safetensors\n--steps\n10\n--segmenter-errors\n0.5\n--part\ntrain",
      "--threads\n2\nevaluate\n--gt\n01_GT\n--results\n01_RES",
      "calibrate\n--model\nm\n--out\nn\n--gt\nd\n--segmenter-errors",
      "metrics\n--gt\na\n--pred\nb\n--json",
      "simulate\n--frames\n3\n--seed\n7",
      "demo\n--help",
  };
  int k = 0;
  for (const char* l : lines) text(out / "cli" / ("args" + std::to_string(k++) + ".txt"), l);
  std::printf("seeds written to %s\n", out.c_str());
  return 0;
}
