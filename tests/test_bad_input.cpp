// The bad-input corpus, run through the qanet program as a user would: every broken file, shape,
// value, folder or model gives a non-zero exit, one line naming the file and the problem, no
// output written, and bounded memory (each command runs under a 6 GB address-space limit, so a
// reader that allocated what a header claims would fail differently). The files are made here.
#include <tiffio.h>

#include <fstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "qanet/io.hpp"
#include "qanet/nn/model_file.hpp"
#include "qanet/nn/network.hpp"
#include "qanet/qa/inputs.hpp"
#include "support.hpp"

using namespace qanet;
using qanet::testing::run_command;
using qanet::testing::TempDir;
namespace fs = std::filesystem;

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool address_sanitized = true;  // ASan reserves terabytes of address space
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool address_sanitized = true;
#else
constexpr bool address_sanitized = false;
#endif
#else
constexpr bool address_sanitized = false;
#endif

struct Result {
  int status;
  std::string out;  // stdout and stderr together
};

Result qanet_cli(const std::string& args) {
  int status = 0;
  const std::string limit = address_sanitized ? "" : "ulimit -v 6000000; ";
  std::string out = run_command(limit + std::string(QANET_CLI) + " " + args + " 2>&1", &status);
  return {status, out};
}

Index lines(const std::string& s) {
  Index n = 0;
  for (char c : s) n += c == '\n';
  return n + (!s.empty() && s.back() != '\n');
}

// A TIFF written by libtiff directly: `spp` samples per pixel of 8 bits, zero pixels, rows one
// at a time (so a 30000 x 30000 file costs one row of memory), deflate-compressed.
void write_raw_tiff(const fs::path& p, std::uint32_t w, std::uint32_t h, std::uint16_t spp) {
  TIFF* t = TIFFOpen(p.c_str(), "w");
  REQUIRE(t);
  TIFFSetField(t, TIFFTAG_IMAGEWIDTH, w);
  TIFFSetField(t, TIFFTAG_IMAGELENGTH, h);
  TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, spp);
  TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 8);
  TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
  TIFFSetField(t, TIFFTAG_PHOTOMETRIC, spp == 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK);
  if (spp == 4) {
    const std::uint16_t extra[] = {EXTRASAMPLE_UNSPECIFIED};
    TIFFSetField(t, TIFFTAG_EXTRASAMPLES, 1, extra);
  }
  TIFFSetField(t, TIFFTAG_COMPRESSION, COMPRESSION_ADOBE_DEFLATE);
  TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, 64);
  std::vector<unsigned char> row(static_cast<std::size_t>(w) * spp, 0);
  for (std::uint32_t y = 0; y < h; ++y) REQUIRE(TIFFWriteScanline(t, row.data(), y, 0) == 1);
  TIFFClose(t);
}

std::string bytes_of(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

void write_bytes(const fs::path& p, const std::string& b) { std::ofstream(p, std::ios::binary) << b; }

// Every case: (what is wrong, command arguments, the file the message must name, a phrase of
// the problem it must state).
struct Case {
  std::string what, args, names, says;
};

}  // namespace

TEST_CASE("bad input: each case fails with one line naming the file and the problem, writing nothing") {
  TempDir dir;
  const auto p = [&](const std::string& n) { return (dir / n).string(); };
  // A good image and mask: two bright squares.
  Image<std::uint16_t, 2> img(Shape<2>(64, 64), 100);
  LabelImage<2> mask(Shape<2>(64, 64), 0);
  for (Index y = 8; y < 28; ++y)
    for (Index x = 8; x < 28; ++x) img(y, x) = 900, mask(y, x) = 1;
  for (Index y = 36; y < 56; ++y)
    for (Index x = 30; x < 50; ++x) img(y, x) = 700, mask(y, x) = 2;
  write_tiff(p("img.tif"), img.cview());
  write_tiff(p("mask.tif"), mask.cview());
  TiffWriteOptions raw;
  raw.compression = TiffCompression::none;
  write_tiff(p("img_raw.tif"), img.cview(), raw);
  const std::string good = bytes_of(p("img_raw.tif"));
  write_bytes(p("truncated.tif"), good.substr(0, good.size() / 2));
  std::string corrupt = good;
  for (int k = 4; k < 8; ++k) corrupt[static_cast<std::size_t>(k)] = '\x7f';  // first IFD offset
  write_bytes(p("corrupt.tif"), corrupt);
  write_bytes(p("garbage.tif"), "this is not a TIFF file at all");
  write_bytes(p("empty_file.tif"), "");
  write_raw_tiff(p("rgb.tif"), 64, 64, 3);
  write_raw_tiff(p("channels.tif"), 64, 64, 4);
  write_raw_tiff(p("huge.tif"), 30000, 30000, 1);  // 900 M pixels, about 1 MB on disk
  Image<float, 2> nan(Shape<2>(64, 64), 1.0f), inf(Shape<2>(64, 64), 1.0f);
  for (Index i = 0; i < 64 * 64; ++i) nan[i] = inf[i] = static_cast<float>(img[i]);
  nan(3, 3) = std::numeric_limits<float>::quiet_NaN();
  inf(5, 7) = std::numeric_limits<float>::infinity();
  write_tiff(p("nan.tif"), nan.cview());
  write_tiff(p("inf.tif"), inf.cview());
  Image<float, 2> fmask(Shape<2>(64, 64), 0.0f);
  Image<std::int32_t, 2> negmask(Shape<2>(64, 64), 0);
  for (Index i = 0; i < 64 * 64; ++i) fmask[i] = mask[i] ? 1.5f : 0.0f, negmask[i] = mask[i] ? -3 : 0;
  write_tiff(p("float_labels.tif"), fmask.cview());
  write_tiff(p("negative_labels.tif"), negmask.cview());
  write_tiff(p("narrow_mask.tif"), LabelImage<2>(Shape<2>(64, 32), 1).cview());
  write_tiff(p("empty_mask.tif"), LabelImage<2>(Shape<2>(64, 64), 0).cview());
  // Models: the bundled one truncated and with its header length garbled; a 3D model.
  const std::string model = bytes_of(QANET_SOURCE_DIR "/models/qanet-seg-2d-small.safetensors");
  REQUIRE(model.size() > 100000);
  write_bytes(p("truncated.safetensors"), model.substr(0, model.size() / 3));
  std::string absurd = model;
  absurd[6] = '\x7f';  // header length near 2^55
  write_bytes(p("absurd_header.safetensors"), absurd);
  write_bytes(p("garbage.safetensors"), "garbage");
  {
    nn::ModelConfig c;
    c.architecture = nn::Architecture::ribcage;
    c.preset = "tiny";
    c.dim = 3;
    c.widths = {1, 2, 2, 2, 2};
    c.head = {4};
    c.padding = 1;
    c.patch = {16, 24, 24};
    nn::Network<float, 3> net(c, 3);
    nn::ModelInfo info;
    info.metric = "seg";
    InputConvention{}.store(info);
    nn::save_model(dir / "model3d.safetensors", net, info);
  }
  // Folders: frames without images, a file where a folder belongs, a folder without masks.
  fs::create_directories(dir / "seq");
  fs::create_directories(dir / "seq_RES");
  write_tiff(p("seq/t000.tif"), img.cview());
  write_tiff(p("seq_RES/mask000.tif"), mask.cview());
  write_tiff(p("seq_RES/mask001.tif"), mask.cview());
  fs::create_directories(dir / "no_masks");

  const std::string good_pair = " --image " + p("img.tif") + " --mask " + p("mask.tif");
  const std::string heat = " --heatmap " + p("heat");
  const std::vector<Case> cases = {
      {"truncated TIFF", "score --image " + p("truncated.tif") + " --mask " + p("mask.tif"), "truncated.tif", "truncated"},
      {"corrupt TIFF header", "score --image " + p("corrupt.tif") + " --mask " + p("mask.tif"), "corrupt.tif", "corrupt"},
      {"not a TIFF", "score --image " + p("garbage.tif") + " --mask " + p("mask.tif"), "garbage.tif", "not a TIFF"},
      {"an empty file", "score --image " + p("empty_file.tif") + " --mask " + p("mask.tif"), "empty_file.tif", "TIFF"},
      {"RGB image", "score --image " + p("rgb.tif") + " --mask " + p("mask.tif"), "rgb.tif", "single-channel"},
      {"4-channel image", "score --image " + p("channels.tif") + " --mask " + p("mask.tif"), "channels.tif", "samples per pixel"},
      {"NaN in the image", "score --image " + p("nan.tif") + " --mask " + p("mask.tif"), "nan.tif", "NaN"},
      {"Inf in the image", "score --image " + p("inf.tif") + " --mask " + p("mask.tif"), "inf.tif", "infinite"},
      {"float labels", "score --image " + p("img.tif") + " --mask " + p("float_labels.tif"), "float_labels.tif", "integer"},
      {"negative labels", "score --image " + p("img.tif") + " --mask " + p("negative_labels.tif"), "negative_labels.tif", "negative"},
      {"shape mismatch", "score --image " + p("img.tif") + " --mask " + p("narrow_mask.tif"), "narrow_mask.tif", "differ in shape"},
      {"empty mask", "score --image " + p("img.tif") + " --mask " + p("empty_mask.tif"), "empty_mask.tif", "no object"},
      {"30000 x 30000 image", "score --image " + p("huge.tif") + " --mask " + p("mask.tif"), "huge.tif", "limit"},
      {"missing image file", "score --image " + p("nowhere.tif") + " --mask " + p("mask.tif"), "nowhere.tif", ""},
      {"frame without image", "score --images " + p("seq") + " --masks " + p("seq_RES"), "mask001.tif", "no image"},
      {"folder without masks", "score --images " + p("seq") + " --masks " + p("no_masks"), "no_masks", "mask"},
      {"file for a folder", "score --images " + p("img.tif") + " --masks " + p("seq_RES"), "img.tif", ""},
      {"truncated model", "score --model " + p("truncated.safetensors") + good_pair, "truncated.safetensors", "truncated"},
      {"absurd model header", "score --model " + p("absurd_header.safetensors") + good_pair, "absurd_header.safetensors", "header"},
      {"not a model", "score --model " + p("garbage.safetensors") + good_pair, "garbage.safetensors", "safetensors"},
      {"a 3D model for a 2D image", "score --model " + p("model3d.safetensors") + good_pair, "model3d.safetensors", "3D"},
      {"calibrate on missing ground truth", "calibrate --out " + p("cal.safetensors") + " --gt " + p("nowhere"), "nowhere", ""},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    const bool scoring = c.args.rfind("score", 0) == 0;
    const Result r = qanet_cli(c.args + (scoring ? heat + " --json" : ""));
    CAPTURE(r.out);
    CHECK(r.status != 0);
    CHECK(lines(r.out) == 1);
    CHECK(r.out.rfind("qanet: error: ", 0) == 0);  // an error, not a crash or a CLI11 usage dump
    CHECK(r.out.find(c.names) != std::string::npos);
    if (!c.says.empty()) CHECK(r.out.find(c.says) != std::string::npos);
    CHECK(r.out.find('{') == std::string::npos);  // no JSON result
    CHECK(!fs::exists(dir / "heat"));             // no heat map folder
    CHECK(!fs::exists(dir / "cal.safetensors"));
  }
  // The good pair does score (the corpus is bad for the reasons named, not for its setup).
  const Result ok = qanet_cli("score" + good_pair + " --json");
  CHECK(ok.status == 0);
  CHECK(nlohmann::json::parse(ok.out)["objects"] == 2);
}
