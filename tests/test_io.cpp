// Tests of io: atomic writes, TIFF round trips, TIFFs from independent writers (PIL, tifffile),
// real CTC files, bad input (missing, garbage, truncated, RGB, mismatched pages), CTC folders.
#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <iterator>
#include <vector>
#include <cstring>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>
#include <thread>

#include "qanet/io.hpp"
#include "qanet/io/png.hpp"
#include "png_read.hpp"
#include "support.hpp"

using namespace qanet;
using qanet::testing::TempDir;
namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

void spit(const fs::path& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary);
  out << s;
}

// Captures what is written to file descriptor 2 while alive (libtiff must stay silent).
class StderrCapture {
 public:
  StderrCapture() : file_(std::tmpfile()) {
    std::fflush(stderr);
    saved_ = ::dup(2);
    ::dup2(::fileno(file_), 2);
  }
  ~StderrCapture() { restore(); std::fclose(file_); }
  std::string text() {
    restore();
    std::rewind(file_);
    std::string s;
    char buf[512];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, file_)) > 0) s.append(buf, n);
    return s;
  }

 private:
  void restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    ::dup2(saved_, 2);
    ::close(saved_);
    saved_ = -1;
  }
  FILE* file_;
  int saved_ = -1;
};

// Runs f, which must throw E; returns the message.
template <typename E, typename F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    FAIL("wrong exception type: " << e.what());
    return {};
  }
  FAIL("no exception thrown");
  return {};
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// Values that exercise a type: its extremes, zero, and pseudo-random values in range.
template <typename T>
std::vector<T> test_values(Index n, std::uint64_t seed) {
  std::mt19937_64 g(seed);
  std::vector<T> v(static_cast<std::size_t>(n));
  for (Index i = 0; i < n; ++i) {
    if constexpr (std::is_floating_point_v<T>) {
      std::uniform_real_distribution<double> d(-1e6, 1e6);
      v[i] = static_cast<T>(d(g));
    } else {
      std::uniform_int_distribution<long long> d(std::numeric_limits<T>::min(), std::numeric_limits<T>::max());
      v[i] = static_cast<T>(d(g));
    }
  }
  if (n >= 4) {
    v[0] = std::numeric_limits<T>::lowest();
    v[1] = std::numeric_limits<T>::max();
    v[2] = T(0);
    // A run of equal values, the common case in label images (compressors take other paths).
    for (Index i = n / 2; i < std::min<Index>(n, n / 2 + 40); ++i) v[i] = T(7);
  }
  if constexpr (std::is_floating_point_v<T>)
    if (n >= 5) v[3] = std::numeric_limits<T>::denorm_min();
  return v;
}

template <typename T, int Dim>
Image<T, Dim> test_image(const Shape<Dim>& s, std::uint64_t seed) {
  Image<T, Dim> img(s);
  img.vector() = test_values<T>(s.size(), seed);
  return img;
}

const TiffCompression all_compressions[] = {TiffCompression::none, TiffCompression::lzw,
                                            TiffCompression::packbits, TiffCompression::deflate};

std::string python() { return qanet::testing::python_with_scipy(); }

// Runs a python script; returns its stdout; fails the test with its output on error.
std::string run_python(const TempDir& dir, const std::string& script) {
  const fs::path file = dir / "script.py";
  spit(file, script);
  int status = 0;
  const std::string out =
      qanet::testing::run_command(python() + " " + file.string() + " " + dir.path().string() + " 2>&1", &status);
  INFO(out);
  REQUIRE(status == 0);
  return out;
}

}  // namespace

// ------------------------------------------------------------------------------------------
TEST_CASE("write_file_atomic creates folders, replaces content, and keeps the old file on failure") {
  TempDir dir;
  const fs::path p = dir / "a/b/report.json";
  write_file_atomic(p, std::string("first"));
  CHECK(slurp(p) == "first");
  write_file_atomic(p, std::string("second, longer"));
  CHECK(slurp(p) == "second, longer");
  CHECK_THROWS_AS(write_file_atomic(p,
                                    [](const fs::path& tmp) {
                                      spit(tmp, "partial");
                                      throw IoError("disk full");
                                    }),
                  IoError);
  CHECK(slurp(p) == "second, longer");
  // No temporary file is left behind.
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir / "a/b")) files += e.is_regular_file() ? 1 : 0;
  CHECK(files == 1);
  // A folder in the way, and a parent that is a file.
  fs::create_directories(dir / "folder");
  CHECK(contains(message_of<IoError>([&] { write_file_atomic(dir / "folder", std::string("x")); }), "folder"));
  CHECK_THROWS_AS(write_file_atomic(p / "below_a_file.txt", std::string("x")), IoError);
}

// ------------------------------------------------------------------------------------------
TEST_CASE_TEMPLATE("TIFF round trip: every pixel type x compression, 2D and 3D, exact", T, std::uint8_t,
                   std::uint16_t, std::uint32_t, std::int32_t, float) {
  TempDir dir;
  std::uint64_t seed = 1;
  for (TiffCompression c : all_compressions) {
    CAPTURE(compression_name(c));
    const auto img2 = test_image<T, 2>(Shape<2>(37, 53), seed++);
    const fs::path p2 = dir / "img2.tif";
    write_tiff(p2, img2, c);
    const TiffInfo info = tiff_info(p2);
    CHECK(info.dim == 2);
    CHECK(info.shape == std::vector<Index>{37, 53});
    CHECK(info.pages == 1);
    CHECK(info.pixel_type == pixel_type_of<T>);
    CHECK(info.compression == c);
    const AnyImage any = read_tiff(p2);
    CHECK(any.pixel_type() == pixel_type_of<T>);
    CHECK(any.values<T>() == img2.vector());
    const auto back2 = read_tiff_as<T, 2>(p2);
    CHECK(back2.shape() == img2.shape());
    CHECK(back2.vector() == img2.vector());

    const auto img3 = test_image<T, 3>(Shape<3>(4, 19, 23), seed++);
    const fs::path p3 = dir / "img3.tif";
    write_tiff(p3, img3, c);
    const TiffInfo info3 = tiff_info(p3);
    CHECK(info3.dim == 3);
    CHECK(info3.shape == std::vector<Index>{4, 19, 23});
    CHECK(info3.pages == 4);
    const auto back3 = read_tiff_as<T, 3>(p3);
    CHECK(back3.shape() == img3.shape());
    CHECK(back3.vector() == img3.vector());
  }
}

TEST_CASE("TIFF round trip: tiles, rows per strip, predictor, images narrower than a tile") {
  TempDir dir;
  const auto img = test_image<std::uint16_t, 3>(Shape<3>(3, 45, 70), 99);
  for (TiffCompression c : all_compressions) {
    for (Index tile : {16, 32, 64}) {
      TiffWriteOptions o;
      o.compression = c;
      o.tile = tile;
      write_tiff(dir / "t.tif", img, o);
      CHECK(tiff_info(dir / "t.tif").tiled);
      CHECK(read_tiff_as<std::uint16_t, 3>(dir / "t.tif").vector() == img.vector());
    }
    for (Index rps : {1, 7, 45, 1000}) {
      TiffWriteOptions o;
      o.compression = c;
      o.rows_per_strip = rps;
      o.predictor = true;
      write_tiff(dir / "s.tif", img, o);
      CHECK_FALSE(tiff_info(dir / "s.tif").tiled);
      CHECK(read_tiff_as<std::uint16_t, 3>(dir / "s.tif").vector() == img.vector());
    }
  }
  // One row and one column.
  const auto row = test_image<float, 2>(Shape<2>(1, 17), 5);
  write_tiff(dir / "row.tif", row, TiffCompression::lzw);
  CHECK(read_tiff_as<float, 2>(dir / "row.tif").vector() == row.vector());
  const auto col = test_image<std::int32_t, 2>(Shape<2>(17, 1), 6);
  write_tiff(dir / "col.tif", col, TiffCompression::packbits);
  CHECK(read_tiff_as<std::int32_t, 2>(dir / "col.tif").vector() == col.vector());
}

TEST_CASE("write_tiff writes caller memory through a view and rejects bad requests") {
  TempDir dir;
  std::vector<std::uint16_t> buf{1, 2, 3, 4, 5, 6};
  write_tiff(dir / "v.tif", make_view(buf.data(), Shape<2>(2, 3)), TiffCompression::none);
  CHECK(read_tiff(dir / "v.tif").values<std::uint16_t>() == buf);
  ImageView<std::uint16_t, 2> mutable_view(buf.data(), Shape<2>(3, 2));
  write_tiff(dir / "m.tif", mutable_view);
  CHECK(read_tiff(dir / "m.tif").shape() == std::vector<Index>{3, 2});

  Image<std::uint8_t, 2> empty(Shape<2>(0, 5));
  CHECK(contains(message_of<InvalidArgument>([&] { write_tiff(dir / "e.tif", empty); }), "e.tif"));
  TiffWriteOptions bad_tile;
  bad_tile.tile = 20;
  CHECK_THROWS_AS(write_tiff(dir / "t.tif", make_view(buf.data(), Shape<2>(2, 3)), bad_tile), InvalidArgument);
  CHECK_THROWS_AS(write_tiff(dir / "o.tif", make_view(buf.data(), Shape<2>(2, 3)), TiffCompression::other),
                  InvalidArgument);
  CHECK_FALSE(fs::exists(dir / "t.tif"));
  // Writing into a "folder" that is a file.
  spit(dir / "plain", "x");
  CHECK(contains(message_of<IoError>([&] {
                   write_tiff(dir / "plain" / "x.tif", make_view(buf.data(), Shape<2>(2, 3)));
                 }),
                 "x.tif"));
}

// ------------------------------------------------------------------------------------------
TEST_CASE("dimension and conversion rules of read_tiff_as and read_labels") {
  TempDir dir;
  Image<std::uint16_t, 2> img2(Shape<2>(3, 4));
  for (Index i = 0; i < img2.size(); ++i) img2[i] = static_cast<std::uint16_t>(i * 100);
  write_tiff(dir / "a.tif", img2);
  // 2D promoted to one plane.
  const auto as3 = read_tiff_as<float, 3>(dir / "a.tif");
  CHECK(as3.shape() == Shape<3>(1, 3, 4));
  CHECK(as3[11] == 1100.0f);
  // Values that do not fit the requested type.
  const std::string m = message_of<InvalidArgument>([&] { read_tiff_as<std::uint8_t, 2>(dir / "a.tif"); });
  CHECK(contains(m, "a.tif"));
  CHECK(contains(m, "300"));
  // 3D requested as 2D.
  Image<std::uint8_t, 3> img3(Shape<3>(2, 3, 4), 1);
  write_tiff(dir / "b.tif", img3);
  CHECK(contains(message_of<InvalidArgument>([&] { read_tiff_as<std::uint8_t, 2>(dir / "b.tif"); }), "b.tif"));
  CHECK(contains(message_of<InvalidArgument>([&] { read_labels<2>(dir / "b.tif"); }), "2x3x4"));

  // Labels from every written type; negative and fractional labels name the file.
  Image<std::int32_t, 2> neg(Shape<2>(2, 2), 3);
  neg[3] = -1;
  write_tiff(dir / "neg.tif", neg);
  CHECK(contains(message_of<InvalidArgument>([&] { read_labels<2>(dir / "neg.tif"); }), "neg.tif"));
  Image<float, 2> frac(Shape<2>(2, 2), 2.0f);
  frac[1] = 2.5f;
  write_tiff(dir / "frac.tif", frac);
  CHECK(contains(message_of<InvalidArgument>([&] { read_labels<2>(dir / "frac.tif"); }), "frac.tif"));
  Image<float, 3> fl(Shape<3>(2, 2, 2), 0.0f);
  fl[7] = 70000.0f;
  fl[1] = 3.0f;
  write_tiff(dir / "fl.tif", fl);
  const auto lab = read_labels<3>(dir / "fl.tif");
  CHECK(lab[7] == 70000u);
  CHECK(lab[1] == 3u);
  CHECK(lab[0] == 0u);
  Image<std::uint32_t, 2> big(Shape<2>(1, 2), 0xFFFFFFFFu);
  write_tiff(dir / "big.tif", big);
  CHECK(read_labels<2>(dir / "big.tif")[1] == 0xFFFFFFFFu);
}

TEST_CASE("numeric conversion checks ranges in every direction") {
  Label out = 0;
  CHECK(detail::convert_value<Label, std::int32_t>(5, out));
  CHECK(out == 5u);
  CHECK_FALSE(detail::convert_value<Label, std::int32_t>(-1, out));
  std::int32_t i32 = 0;
  CHECK_FALSE(detail::convert_value<std::int32_t, std::uint32_t>(0x80000000u, i32));
  CHECK(detail::convert_value<std::int32_t, std::uint32_t>(0x7FFFFFFFu, i32));
  std::uint8_t u8 = 0;
  CHECK_FALSE(detail::convert_value<std::uint8_t, float>(256.0f, u8));
  CHECK(detail::convert_value<std::uint8_t, float>(255.9f, u8));
  CHECK(u8 == 255);
  CHECK_FALSE(detail::convert_value<std::uint8_t, float>(std::nanf(""), u8));
  CHECK(detail::convert_value<std::uint8_t, float>(-0.5f, u8));  // truncates toward zero to 0
  CHECK(u8 == 0);
  CHECK_FALSE(detail::convert_value<std::uint8_t, float>(-1.0f, u8));
  std::int16_t i16 = 0;
  CHECK_FALSE(detail::convert_value<std::int16_t, std::int64_t>(-40000, i16));
  CHECK(detail::convert_value<std::int16_t, std::int64_t>(-32768, i16));
  CHECK(i16 == -32768);
}

// ------------------------------------------------------------------------------------------
// Files written by independent writers (PIL's libtiff binding and tifffile's own encoder),
// compared with the values the script put in: v = (z*1009 + y*131 + x*7) mod M.
namespace {

template <typename T>
T formula(Index z, Index y, Index x, long long mod, double scale = 1.0, double offset = 0.0) {
  const long long v = (z * 1009 + y * 131 + x * 7) % mod;
  return static_cast<T>(static_cast<double>(v) * scale + offset);
}

template <typename T, int Dim>
void check_formula(const fs::path& p, const Shape<Dim>& s, long long mod, double scale = 1.0,
                   double offset = 0.0) {
  CAPTURE(p.filename().string());
  const AnyImage any = read_tiff(p);
  REQUIRE(any.dim() == Dim);
  REQUIRE(any.pixel_type() == pixel_type_of<T>);
  const auto& v = any.values<T>();
  REQUIRE(static_cast<Index>(v.size()) == s.size());
  Index bad = 0;
  for (Index i = 0; i < s.size(); ++i) {
    const auto c = s.coords(i);
    const Index z = Dim == 3 ? c[0] : 0;
    if (v[i] != formula<T>(z, c[Dim - 2], c[Dim - 1], mod, scale, offset)) ++bad;
  }
  CHECK(bad == 0);
}

const char* independent_writer_script = R"PY(
import sys, numpy as np, tifffile
from PIL import Image
d = sys.argv[1]
def f(shape, mod, dtype, scale=1.0, offset=0.0):
    idx = np.indices(shape)
    if len(shape) == 2:
        z, y, x = 0, idx[0], idx[1]
    else:
        z, y, x = idx[0], idx[1], idx[2]
    v = (z * 1009 + y * 131 + x * 7) % mod
    return (v.astype(np.float64) * scale + offset).astype(dtype)
# PIL (libtiff codecs): 2D, LZW / PackBits / Deflate
for c in ['tiff_lzw', 'packbits', 'tiff_adobe_deflate']:
    Image.fromarray(f((61, 47), 65536, np.uint16)).save(f'{d}/pil_u16_{c}.tif', compression=c)
    Image.fromarray(f((61, 47), 256, np.uint8)).save(f'{d}/pil_u8_{c}.tif', compression=c)
Image.fromarray(f((33, 29), 100000, np.int32, 1.0, -50000)).save(f'{d}/pil_i32_lzw.tif', compression='tiff_lzw')
Image.fromarray(f((33, 29), 100000, np.float32, 0.25, -100)).save(f'{d}/pil_f32_deflate.tif', compression='tiff_adobe_deflate')
# tifffile: multi-page 3D uncompressed and zlib, big-endian, tiled, small strips, other types
tifffile.imwrite(f'{d}/tf_u16_3d.tif', f((5, 40, 30), 65536, np.uint16))
tifffile.imwrite(f'{d}/tf_u16_3d_zlib.tif', f((5, 40, 30), 65536, np.uint16), compression='zlib')
tifffile.imwrite(f'{d}/tf_u16_be.tif', f((40, 30), 65536, np.uint16), byteorder='>')
tifffile.imwrite(f'{d}/tf_f32_3d_be.tif', f((3, 20, 10), 100000, np.float32, 0.5, -7), byteorder='>', photometric='minisblack')
tifffile.imwrite(f'{d}/tf_u16_tiled.tif', f((70, 45), 65536, np.uint16), tile=(32, 16), compression='zlib')
tifffile.imwrite(f'{d}/tf_u8_3d_tiled.tif', f((3, 50, 41), 256, np.uint8), tile=(16, 16), photometric='minisblack')
tifffile.imwrite(f'{d}/tf_u16_rps3.tif', f((40, 30), 65536, np.uint16), rowsperstrip=3)
tifffile.imwrite(f'{d}/tf_i16.tif', f((20, 30), 60000, np.int16, 1.0, -30000))
tifffile.imwrite(f'{d}/tf_i8.tif', f((20, 30), 256, np.int8, 1.0, -128))
tifffile.imwrite(f'{d}/tf_u32.tif', f((20, 30), 4000000000, np.uint32, 1000.0))
tifffile.imwrite(f'{d}/tf_f64.tif', f((20, 30), 100000, np.float64, 0.125, -3))
tifffile.imwrite(f'{d}/tf_u64.tif', f((20, 30), 100000, np.uint64))
# a single page described as (1, H, W), by tifffile's shaped and by ImageJ metadata
tifffile.imwrite(f'{d}/tf_1hw.tif', f((1, 40, 30), 65536, np.uint16))
tifffile.imwrite(f'{d}/tf_1hw_imagej.tif', f((1, 40, 30), 65536, np.uint16), imagej=True)
tifffile.imwrite(f'{d}/tf_imagej_3d.tif', f((4, 40, 30), 65536, np.uint16), imagej=True)
# unsupported: RGB, float16, 1-bit; pages that disagree
Image.fromarray(np.zeros((10, 12, 3), np.uint8)).save(f'{d}/rgb.tif')
tifffile.imwrite(f'{d}/rgb_planar.tif', np.zeros((3, 10, 12), np.uint16), photometric='rgb', planarconfig='separate')
tifffile.imwrite(f'{d}/f16.tif', np.zeros((10, 12), np.float16))
Image.fromarray(np.zeros((10, 12), bool)).save(f'{d}/bilevel.tif')
tifffile.imwrite(f'{d}/mixed.tif', np.zeros((10, 12), np.uint16))
tifffile.imwrite(f'{d}/mixed.tif', np.zeros((11, 12), np.uint16), append=True)
tifffile.imwrite(f'{d}/mixed_type.tif', np.zeros((10, 12), np.uint16))
tifffile.imwrite(f'{d}/mixed_type.tif', np.zeros((10, 12), np.uint8), append=True)
print('ok')
)PY";

}  // namespace

TEST_CASE("reads TIFFs written by PIL and tifffile, values as the script wrote them") {
  if (python().empty()) {
    MESSAGE("skipped: no python3 with numpy/scipy");
    return;
  }
  TempDir dir;
  run_python(dir, independent_writer_script);
  for (const char* c : {"tiff_lzw", "packbits", "tiff_adobe_deflate"}) {
    check_formula<std::uint16_t, 2>(dir / ("pil_u16_" + std::string(c) + ".tif"), Shape<2>(61, 47), 65536);
    check_formula<std::uint8_t, 2>(dir / ("pil_u8_" + std::string(c) + ".tif"), Shape<2>(61, 47), 256);
  }
  CHECK(tiff_info(dir / "pil_u16_tiff_lzw.tif").compression == TiffCompression::lzw);
  CHECK(tiff_info(dir / "pil_u16_packbits.tif").compression == TiffCompression::packbits);
  CHECK(tiff_info(dir / "pil_u16_tiff_adobe_deflate.tif").compression == TiffCompression::deflate);
  check_formula<std::int32_t, 2>(dir / "pil_i32_lzw.tif", Shape<2>(33, 29), 100000, 1.0, -50000);
  check_formula<float, 2>(dir / "pil_f32_deflate.tif", Shape<2>(33, 29), 100000, 0.25, -100);
  check_formula<std::uint16_t, 3>(dir / "tf_u16_3d.tif", Shape<3>(5, 40, 30), 65536);
  check_formula<std::uint16_t, 3>(dir / "tf_u16_3d_zlib.tif", Shape<3>(5, 40, 30), 65536);
  check_formula<std::uint16_t, 2>(dir / "tf_u16_be.tif", Shape<2>(40, 30), 65536);
  check_formula<float, 3>(dir / "tf_f32_3d_be.tif", Shape<3>(3, 20, 10), 100000, 0.5, -7);
  check_formula<std::uint16_t, 2>(dir / "tf_u16_tiled.tif", Shape<2>(70, 45), 65536);
  CHECK(tiff_info(dir / "tf_u16_tiled.tif").tiled);
  check_formula<std::uint8_t, 3>(dir / "tf_u8_3d_tiled.tif", Shape<3>(3, 50, 41), 256);
  check_formula<std::uint16_t, 2>(dir / "tf_u16_rps3.tif", Shape<2>(40, 30), 65536);
  check_formula<std::int16_t, 2>(dir / "tf_i16.tif", Shape<2>(20, 30), 60000, 1.0, -30000);
  check_formula<std::int8_t, 2>(dir / "tf_i8.tif", Shape<2>(20, 30), 256, 1.0, -128);
  check_formula<std::uint32_t, 2>(dir / "tf_u32.tif", Shape<2>(20, 30), 4000000000LL, 1000.0);
  check_formula<double, 2>(dir / "tf_f64.tif", Shape<2>(20, 30), 100000, 0.125, -3);
  check_formula<std::uint64_t, 2>(dir / "tf_u64.tif", Shape<2>(20, 30), 100000);
  // A single page is 2D whatever the metadata says.
  for (const char* f : {"tf_1hw.tif", "tf_1hw_imagej.tif"}) {
    CAPTURE(f);
    CHECK(tiff_info(dir / f).dim == 2);
    check_formula<std::uint16_t, 2>(dir / f, Shape<2>(40, 30), 65536);
  }
  check_formula<std::uint16_t, 3>(dir / "tf_imagej_3d.tif", Shape<3>(4, 40, 30), 65536);
  // Conversion of a foreign int16 file into labels fails on its negative values, naming it.
  CHECK(contains(message_of<InvalidArgument>([&] { read_labels<2>(dir / "tf_i16.tif"); }), "tf_i16.tif"));

  // Unsupported content: clear messages naming the file and the problem.
  const std::string rgb = message_of<IoError>([&] { read_tiff(dir / "rgb.tif"); });
  CHECK(contains(rgb, "rgb.tif"));
  CHECK(contains(rgb, "unsupported: 3 samples per pixel"));
  CHECK(contains(message_of<IoError>([&] { read_tiff(dir / "rgb_planar.tif"); }), "3 samples per pixel"));
  const std::string f16 = message_of<IoError>([&] { read_tiff(dir / "f16.tif"); });
  CHECK(contains(f16, "f16.tif"));
  CHECK(contains(f16, "16-bit floating-point"));
  const std::string bilevel = message_of<IoError>([&] { tiff_info(dir / "bilevel.tif"); });
  CHECK(contains(bilevel, "1-bit"));
  const std::string mixed = message_of<IoError>([&] { read_tiff(dir / "mixed.tif"); });
  CHECK(contains(mixed, "mixed.tif"));
  CHECK(contains(mixed, "11x12"));
  CHECK(contains(message_of<IoError>([&] { read_tiff(dir / "mixed_type.tif"); }), "uint8"));
}

TEST_CASE("TIFFs written by qanet read back identically in PIL / tifffile") {
  if (python().empty()) {
    MESSAGE("skipped: no python3 with numpy/scipy");
    return;
  }
  TempDir dir;
  // Each file is decoded by python and dumped raw (native order) for a byte comparison.
  std::vector<std::pair<std::string, std::string>> expected;  // file, bytes
  auto add = [&](const std::string& name, const auto& img, TiffWriteOptions o) {
    write_tiff(dir / name, img, o);
    expected.emplace_back(name, std::string(reinterpret_cast<const char*>(img.data()),
                                            img.size() * sizeof(*img.data())));
  };
  int seed = 10;
  for (TiffCompression c : all_compressions) {
    TiffWriteOptions o;
    o.compression = c;
    const std::string n = compression_name(c);
    add("u8_" + n + ".tif", test_image<std::uint8_t, 2>(Shape<2>(31, 17), seed++), o);
    add("u16_" + n + ".tif", test_image<std::uint16_t, 3>(Shape<3>(3, 31, 17), seed++), o);
    add("i32_" + n + ".tif", test_image<std::int32_t, 2>(Shape<2>(31, 17), seed++), o);
    add("f32_" + n + ".tif", test_image<float, 3>(Shape<3>(2, 31, 17), seed++), o);
    o.tile = 16;
    add("u32_tiled_" + n + ".tif", test_image<std::uint32_t, 2>(Shape<2>(31, 17), seed++), o);
    o.tile = 0;
    o.predictor = true;
    add("u16_predictor_" + n + ".tif", test_image<std::uint16_t, 2>(Shape<2>(31, 17), seed++), o);
  }
  run_python(dir, R"PY(
import sys, glob, os, numpy as np, tifffile
from PIL import Image, ImageSequence
d = sys.argv[1]
for p in sorted(glob.glob(d + '/*.tif')):
    try:
        a = tifffile.imread(p)       # none, Deflate, PackBits
    except Exception:
        im = Image.open(p)           # LZW: PIL's libtiff; frames for 3D
        frames = [np.array(f) for f in ImageSequence.Iterator(im)]
        a = frames[0] if len(frames) == 1 else np.stack(frames)
        a = a.astype(tifffile.TiffFile(p).pages[0].dtype)
    open(p + '.raw', 'wb').write(np.ascontiguousarray(a).astype(a.dtype.newbyteorder('=')).tobytes())
print('ok')
)PY");
  for (const auto& [name, bytes] : expected) {
    CAPTURE(name);
    CHECK(slurp(dir / (name + ".raw")) == bytes);
  }
}

// ------------------------------------------------------------------------------------------
TEST_CASE("real CTC files: shapes and values as numpy/PIL report them") {
  const fs::path img = qanet::testing::data_path("Fluo-N2DH-SIM+/01/t000.tif");
  QANET_REQUIRE_DATA(img, "Fluo-N2DH-SIM+/01/t000.tif");
  // Reference numbers from /usr/bin/python3: np.array(PIL.Image.open(path)).
  const TiffInfo info = tiff_info(img);
  CHECK(info.dim == 2);
  CHECK(info.shape == std::vector<Index>{690, 628});
  CHECK(info.pixel_type == PixelType::u16);
  CHECK(info.compression == TiffCompression::lzw);
  const auto t = read_tiff_as<std::uint16_t, 2>(img);
  long long sum = 0;
  for (auto v : t) sum += v;
  CHECK(sum == 43931672);
  CHECK(*std::min_element(t.begin(), t.end()) == 73);
  CHECK(*std::max_element(t.begin(), t.end()) == 314);
  CHECK(t(0, 0) == 94);
  CHECK(t(100, 200) == 91);
  CHECK(t(345, 314) == 97);
  CHECK(t(689, 627) == 94);
  CHECK(t(529, 123) == 314);
  CHECK(t(1, 2) == 88);
  CHECK(t(689, 0) == 95);
  CHECK(t(0, 627) == 90);

  const fs::path gt = qanet::testing::data_path("Fluo-N2DH-SIM+/01_GT/SEG/man_seg000.tif");
  QANET_REQUIRE_DATA(gt, "Fluo-N2DH-SIM+/01_GT/SEG/man_seg000.tif");
  const auto lab = read_labels<2>(gt);
  CHECK(lab.shape() == Shape<2>(690, 628));
  CHECK(count_objects(lab.cview()) == 30);
  long long lsum = 0, fg = 0, one = 0, thirty = 0;
  for (Label v : lab) {
    lsum += v;
    fg += v != 0;
    one += v == 1;
    thirty += v == 30;
  }
  CHECK(lsum == 1044265);
  CHECK(fg == 68453);
  CHECK(one == 2186);
  CHECK(thirty == 2409);
  CHECK(lab(517, 350) == 30u);
  CHECK(lab(375, 48) == 1u);

  // A Deflate-compressed 3D stack (tifffile, 31 pages).
  const fs::path vol = qanet::testing::data_path("Synthetic3D-stardist/masks/img3d.tif");
  QANET_REQUIRE_DATA(vol, "Synthetic3D-stardist/masks/img3d.tif");
  const auto m = read_labels<3>(vol);
  CHECK(m.shape() == Shape<3>(31, 61, 57));
  CHECK(count_objects(m.cview()) == 51);
  long long vsum = 0, vfg = 0;
  for (Label v : m) {
    vsum += v;
    vfg += v != 0;
  }
  CHECK(vsum == 3198014);
  CHECK(vfg == 41468);
  CHECK(m(30, 60, 56) == 32u);
  CHECK(m(26, 53, 56) == 32u);
  const auto vi = read_tiff_as<std::uint16_t, 3>(qanet::testing::data_path("Synthetic3D-stardist/images/img3d.tif"));
  CHECK(vi(30, 60, 56) == 219);
  CHECK(vi(0, 0, 0) == 145);
  CHECK(vi(15, 30, 28) == 181);
  CHECK(vi(7, 3, 50) == 207);
}

// ------------------------------------------------------------------------------------------
TEST_CASE("bad files: missing, folder, garbage, empty, truncated, absurd header; silent libtiff") {
  TempDir dir;
  auto expect_io = [&](const fs::path& p, const std::string& also = {}) {
    CAPTURE(p.string());
    StderrCapture err;
    const std::string m1 = message_of<IoError>([&] { read_tiff(p); });
    const std::string m2 = message_of<IoError>([&] { tiff_info(p); });
    const std::string m3 = message_of<IoError>([&] { read_labels<2>(p); });
    CHECK(err.text().empty());  // libtiff printed nothing
    CHECK(contains(m1, p.string()));
    CHECK(contains(m2, p.string()));
    CHECK(contains(m3, p.string()));
    if (!also.empty()) CHECK(contains(m1, also));
    return m1;
  };
  expect_io(dir / "missing.tif", "no such file");
  fs::create_directories(dir / "folder.tif");
  expect_io(dir / "folder.tif", "folder");
  spit(dir / "empty.tif", "");
  expect_io(dir / "empty.tif");
  spit(dir / "text.tif", "this is not a TIFF file, just some text that is long enough");
  expect_io(dir / "text.tif", "not a TIFF");
  std::mt19937 g(3);
  std::string garbage(5000, '\0');
  for (char& c : garbage) c = static_cast<char>(g());
  spit(dir / "garbage.tif", garbage);
  expect_io(dir / "garbage.tif");
  // Valid magic, garbage after it.
  spit(dir / "magic.tif", "II*\0" + garbage);
  expect_io(dir / "magic.tif");

  // Truncations of valid files. libtiff writes the IFD after the pixel data, so a file cut in
  // half has lost its directory.
  const auto img = test_image<std::uint16_t, 2>(Shape<2>(300, 200), 4);
  for (TiffCompression c : all_compressions) {
    CAPTURE(compression_name(c));
    write_tiff(dir / "full.tif", img, c);
    const std::string bytes = slurp(dir / "full.tif");
    spit(dir / "half.tif", bytes.substr(0, bytes.size() / 2));
    expect_io(dir / "half.tif");
  }
  // Pixel data cut while the directory survives: drop the second half of the only strip and
  // move the IFD up (all its values are inline for a one-strip 2D file).
  {
    const auto small = test_image<std::uint8_t, 2>(Shape<2>(64, 64), 9);
    TiffWriteOptions o;
    o.compression = TiffCompression::none;
    o.rows_per_strip = 64;
    write_tiff(dir / "raw.tif", small, o);
    const std::string bytes = slurp(dir / "raw.tif");
    REQUIRE(bytes.substr(0, 2) == "II");
    std::uint32_t old_ifd = 0;
    std::memcpy(&old_ifd, bytes.data() + 4, 4);
    REQUIRE(old_ifd == 8 + 64 * 64);
    std::string cut = bytes.substr(0, 8 + 64 * 32) + bytes.substr(old_ifd);
    const std::uint32_t new_ifd = old_ifd - 64 * 32;
    std::memcpy(&cut[4], &new_ifd, 4);
    spit(dir / "cut_strip.tif", cut);
    CHECK(tiff_info(dir / "cut_strip.tif").shape == std::vector<Index>{64, 64});  // headers intact
    StderrCapture err;
    const std::string m = message_of<IoError>([&] { read_tiff(dir / "cut_strip.tif"); });
    CHECK(err.text().empty());
    CHECK(contains(m, "cut_strip.tif"));
    CHECK(contains(m, "strip 0 is truncated or corrupt"));
  }
  // Compressed data corrupted in place (same length): LZW and Deflate notice.
  for (TiffCompression c : {TiffCompression::lzw, TiffCompression::deflate}) {
    CAPTURE(compression_name(c));
    TiffWriteOptions o;
    o.compression = c;
    o.rows_per_strip = 300;
    write_tiff(dir / "full.tif", img, o);
    std::string bytes = slurp(dir / "full.tif");
    for (std::size_t i = 8; i < 8 + 400; ++i) bytes[i] = static_cast<char>(0xff);
    spit(dir / "scrambled.tif", bytes);
    StderrCapture err;
    const std::string m = message_of<IoError>([&] { read_tiff(dir / "scrambled.tif"); });
    CHECK(err.text().empty());
    CHECK(contains(m, "scrambled.tif"));
  }
  {
    const auto vol = test_image<std::uint16_t, 3>(Shape<3>(6, 50, 40), 8);
    write_tiff(dir / "vol.tif", vol, TiffCompression::deflate);
    const std::string bytes = slurp(dir / "vol.tif");
    for (std::size_t keep : {bytes.size() / 2, bytes.size() - 20, std::size_t(100)}) {
      spit(dir / "vol_cut.tif", bytes.substr(0, keep));
      CAPTURE(keep);
      StderrCapture err;
      const std::string m = message_of<IoError>([&] { read_tiff(dir / "vol_cut.tif"); });
      CHECK(err.text().empty());
      CHECK(contains(m, "vol_cut.tif"));
    }
  }
  // A header announcing a gigantic image in a tiny file: refused before allocating.
  {
    Image<std::uint8_t, 2> tiny(Shape<2>(1, 1), 5);
    write_tiff(dir / "tiny.tif", tiny, TiffCompression::none);
    std::string bytes = slurp(dir / "tiny.tif");
    std::uint32_t ifd = 0;
    std::memcpy(&ifd, bytes.data() + 4, 4);
    std::uint16_t count = 0;
    std::memcpy(&count, bytes.data() + ifd, 2);
    for (std::uint16_t e = 0; e < count; ++e) {
      char* entry = &bytes[ifd + 2 + 12 * e];
      std::uint16_t tag = 0, type = 0;
      std::memcpy(&tag, entry, 2);
      std::memcpy(&type, entry + 2, 2);
      if ((tag == 256 || tag == 257) && type == 3) {  // SHORT width / length
        const std::uint16_t v = 60000;
        std::memcpy(entry + 8, &v, 2);
      } else if ((tag == 256 || tag == 257) && type == 4) {
        const std::uint32_t v = 60000;
        std::memcpy(entry + 8, &v, 4);
      }
    }
    spit(dir / "absurd.tif", bytes);
    expect_io(dir / "absurd.tif");
  }
}

TEST_CASE("errors from parallel readers name their own file") {
  TempDir dir;
  std::vector<fs::path> files;
  for (int i = 0; i < 8; ++i) {
    files.push_back(dir / ("broken_" + std::to_string(i) + ".tif"));
    spit(files.back(), "II*\0\x08\0\0\0" + std::string(200 + i, '\x01'));
  }
  const auto good = test_image<std::uint16_t, 2>(Shape<2>(64, 64), 1);
  write_tiff(dir / "good.tif", good, TiffCompression::lzw);
  std::vector<std::string> messages(files.size());
  std::vector<int> good_reads(files.size(), 0);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < files.size(); ++i)
    threads.emplace_back([&, i] {
      for (int rep = 0; rep < 20; ++rep) {
        try {
          read_tiff(files[i]);
        } catch (const IoError& e) {
          messages[i] = e.what();
        }
        good_reads[i] += read_tiff(dir / "good.tif").values<std::uint16_t>() == good.vector();
      }
    });
  for (auto& t : threads) t.join();
  for (std::size_t i = 0; i < files.size(); ++i) {
    CAPTURE(messages[i]);
    CHECK(contains(messages[i], files[i].filename().string()));
    for (std::size_t j = 0; j < files.size(); ++j)
      if (j != i) CHECK_FALSE(contains(messages[i], files[j].filename().string()));
    CHECK(good_reads[i] == 20);
  }
}

// ------------------------------------------------------------------------------------------
namespace {
void touch(const fs::path& p) {
  fs::create_directories(p.parent_path());
  spit(p, "");
}
}  // namespace

TEST_CASE("CTC file names") {
  auto n = parse_ctc_file_name("t012.tif");
  REQUIRE(n);
  CHECK(n->kind == CtcFileKind::image);
  CHECK(n->frame == 12);
  CHECK(n->digits == 3);
  n = parse_ctc_file_name("t1234.tif");
  REQUIRE(n);
  CHECK(n->frame == 1234);
  CHECK(n->digits == 4);
  n = parse_ctc_file_name("mask0007.tif");
  REQUIRE(n);
  CHECK(n->kind == CtcFileKind::result_mask);
  CHECK(n->frame == 7);
  n = parse_ctc_file_name("man_seg042.TIF");
  REQUIRE(n);
  CHECK(n->kind == CtcFileKind::gt_seg);
  CHECK(n->frame == 42);
  CHECK(n->plane == -1);
  n = parse_ctc_file_name("man_seg_005_017.tif");
  REQUIRE(n);
  CHECK(n->frame == 5);
  CHECK(n->plane == 17);
  n = parse_ctc_file_name("man_seg005_017.tiff");
  REQUIRE(n);
  CHECK(n->frame == 5);
  CHECK(n->plane == 17);
  for (const char* bad : {"t12.tif", "t12345.tif", "t012.png", "man_track000.tif", "mask00a.tif",
                          "man_seg_005.tif", "man_seg005_.tif", "tx012.tif", "t012", "res_track.txt",
                          "mask.tif"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_ctc_file_name(bad));
  }
}

TEST_CASE("CTC listing and pairing: 3- and 4-digit names, sparse GT, single planes, missing results") {
  TempDir dir;
  for (const char* f : {"01/t000.tif", "01/t001.tif", "01/t002.tif", "01/notes.txt",
                        "01_GT/SEG/man_seg000.tif", "01_GT/SEG/man_seg002.tif", "01_GT/TRA/man_track000.tif",
                        "01_RES/mask000.tif", "01_RES/mask001.tif", "01_RES/mask002.tif", "01_RES/res_track.txt"})
    touch(dir / f);
  const auto images = list_ctc_images(dir / "01");
  CHECK(images.size() == 3);
  CHECK(images.at(2).filename() == "t002.tif");
  CHECK(list_ctc_results(dir / "01_RES").size() == 3);
  CHECK(list_ctc_gt_frames(dir / "01_GT/SEG").size() == 2);

  // Sparse GT: frames 0 and 2 only; the result of frame 1 is ignored. NN_GT and NN_GT/SEG agree.
  for (const fs::path& gt : {dir / "01_GT", dir / "01_GT/SEG"}) {
    const auto pairs = pair_ctc_frames(gt, dir / "01_RES");
    REQUIRE(pairs.size() == 2);
    CHECK(pairs[0].frame == 0);
    CHECK(pairs[0].plane == -1);
    CHECK(pairs[0].result.filename() == "mask000.tif");
    CHECK(pairs[1].frame == 2);
    CHECK(pairs[1].gt.filename() == "man_seg002.tif");
    CHECK(pairs[1].result.filename() == "mask002.tif");
  }

  // 4-digit results pair with 3-digit GT by frame number.
  for (const char* f : {"02_GT/SEG/man_seg003.tif", "02_GT/SEG/man_seg1000.tif", "02_RES/mask0003.tif",
                        "02_RES/mask1000.tif"})
    touch(dir / f);
  auto pairs = pair_ctc_frames(dir / "02_GT", dir / "02_RES");
  REQUIRE(pairs.size() == 2);
  CHECK(pairs[0].result.filename() == "mask0003.tif");
  CHECK(pairs[1].frame == 1000);

  // A GT frame without a result: error naming the expected file.
  fs::remove(dir / "02_RES/mask1000.tif");
  const std::string m = message_of<IoError>([&] { pair_ctc_frames(dir / "02_GT", dir / "02_RES"); });
  CHECK(contains(m, (dir / "02_RES" / "mask1000.tif").string()));
  CHECK(contains(m, "man_seg1000.tif"));

  // Single-plane GT of a 3D sequence, both spellings; planes pair with the frame's result.
  for (const char* f : {"03_GT/SEG/man_seg_007_012.tif", "03_GT/SEG/man_seg_007_030.tif",
                        "03_GT/SEG/man_seg009_004.tif", "03_RES_method/mask007.tif",
                        "03_RES_method/mask009.tif"})
    touch(dir / f);
  const auto gt3 = list_ctc_gt(dir / "03_GT/SEG");
  REQUIRE(gt3.size() == 3);
  CHECK(gt3[0].frame == 7);
  CHECK(gt3[0].plane == 12);
  CHECK(gt3[1].plane == 30);
  CHECK(gt3[2].frame == 9);
  CHECK(gt3[2].plane == 4);
  CHECK(list_ctc_gt_frames(dir / "03_GT/SEG").empty());  // whole-frame files only
  pairs = pair_ctc_frames(dir / "03_GT", dir / "03_RES_method");
  REQUIRE(pairs.size() == 3);
  CHECK(pairs[1].plane == 30);
  CHECK(pairs[1].result.filename() == "mask007.tif");
  CHECK(pairs[2].result.filename() == "mask009.tif");

  // Ambiguities and missing folders.
  touch(dir / "04/t005.tif");
  touch(dir / "04/t0005.tif");
  CHECK(contains(message_of<IoError>([&] { list_ctc_images(dir / "04"); }), "frame 5"));
  touch(dir / "05_GT/SEG/man_seg001.tif");
  touch(dir / "05_GT/SEG/man_seg_001_003.tif");
  CHECK(contains(message_of<IoError>([&] { list_ctc_gt(dir / "05_GT/SEG"); }), "frame 1"));
  CHECK(contains(message_of<IoError>([&] { list_ctc_results(dir / "nowhere"); }), "nowhere"));
  fs::create_directories(dir / "06_GT/SEG");
  CHECK(contains(message_of<IoError>([&] { pair_ctc_frames(dir / "06_GT", dir / "01_RES"); }), "no man_seg"));
}

TEST_CASE("classify_ctc_path recognises the CTC layout") {
  TempDir dir;
  for (const char* f : {"01/t000.tif", "01_GT/SEG/man_seg000.tif", "01_RES/mask000.tif",
                        "renamed_gt/man_seg_000_001.tif", "my_results/mask0000.tif"})
    touch(dir / f);
  fs::create_directories(dir / "02_RES");
  fs::create_directories(dir / "other");
  CHECK(classify_ctc_path(dir / "01/t000.tif") == CtcPathKind::file);
  CHECK(classify_ctc_path(dir / "01") == CtcPathKind::image_folder);
  CHECK(classify_ctc_path(dir / "01_GT") == CtcPathKind::gt_sequence_folder);
  CHECK(classify_ctc_path(dir / "01_GT/SEG") == CtcPathKind::gt_seg_folder);
  CHECK(classify_ctc_path(dir / "01_RES") == CtcPathKind::result_folder);
  CHECK(classify_ctc_path(dir / "renamed_gt") == CtcPathKind::gt_seg_folder);
  CHECK(classify_ctc_path(dir / "my_results") == CtcPathKind::result_folder);
  CHECK(classify_ctc_path(dir / "02_RES") == CtcPathKind::result_folder);
  CHECK(classify_ctc_path(dir / "other") == CtcPathKind::unknown);
  CHECK(contains(message_of<IoError>([&] { classify_ctc_path(dir / "absent"); }), "absent"));
  CHECK(ctc_seg_folder(dir / "01_GT") == dir / "01_GT/SEG");
  CHECK(ctc_seg_folder(dir / "renamed_gt") == dir / "renamed_gt");
}

TEST_CASE("real CTC folders pair up (SIM+ 02 results, sparse GT of 01)") {
  const fs::path seq = qanet::testing::data_path("Fluo-N2DH-SIM+");
  QANET_REQUIRE_DATA(seq, "Fluo-N2DH-SIM+");
  CHECK(list_ctc_images(seq / "01").size() == 65);
  CHECK(classify_ctc_path(seq / "01_GT") == CtcPathKind::gt_sequence_folder);
  CHECK(classify_ctc_path(seq / "02_RES_TDG-run1") == CtcPathKind::result_folder);
  // run1 holds only mask000: its pairing with the 02 GT must fail on frame 1, naming mask001.
  const auto run1 = list_ctc_results(seq / "02_RES_TDG-run1");
  const auto gt = list_ctc_gt_frames(seq / "02_GT/SEG");
  CHECK(run1.size() == 1);
  if (gt.size() > 1)
    CHECK(contains(message_of<IoError>([&] { pair_ctc_frames(seq / "02_GT", seq / "02_RES_TDG-run1"); }),
                   "mask001.tif"));
  const auto toy = qanet::testing::data_path("Toy-CTC-java-ctcmetrics");
  QANET_REQUIRE_DATA(toy, "Toy-CTC-java-ctcmetrics");
  const auto pairs = pair_ctc_frames(toy / "01_GT", toy / "01_RES");
  CHECK(pairs.size() == list_ctc_gt_frames(toy / "01_GT/SEG").size());
  for (const auto& p : pairs) {
    CAPTURE(p.gt.string());
    const auto a = read_labels<2>(p.gt);
    const auto b = read_labels<2>(p.result);
    CHECK(a.shape() == Shape<2>(279, 189));
    CHECK(b.shape() == a.shape());
  }
}

TEST_CASE("randomly damaged TIFFs give qanet errors or images, never crashes or stderr output") {
  TempDir dir;
  std::vector<std::string> originals;
  const auto img2 = test_image<std::uint16_t, 2>(Shape<2>(40, 33), 21);
  const auto img3 = test_image<float, 3>(Shape<3>(3, 20, 17), 22);
  for (TiffCompression c : all_compressions) {
    TiffWriteOptions o;
    o.compression = c;
    o.rows_per_strip = 7;
    write_tiff(dir / "a.tif", img2, o);
    originals.push_back(slurp(dir / "a.tif"));
    o.tile = 16;
    write_tiff(dir / "b.tif", img3, o);
    originals.push_back(slurp(dir / "b.tif"));
  }
  std::mt19937 g(2024);
  int errors = 0, images = 0;
  StderrCapture err;
  for (int trial = 0; trial < 600; ++trial) {
    std::string bytes = originals[static_cast<std::size_t>(trial) % originals.size()];
    // Damage the headers more often than the pixels: they steer the decoder.
    const int flips = 1 + static_cast<int>(g() % 8);
    for (int k = 0; k < flips; ++k) {
      const std::size_t at = (g() % 2 == 0) ? g() % bytes.size() : bytes.size() - 1 - g() % std::min<std::size_t>(bytes.size(), 200);
      bytes[at] = static_cast<char>(g());
    }
    if (g() % 4 == 0) bytes.resize(g() % bytes.size());
    const fs::path p = dir / ("damaged_" + std::to_string(trial) + ".tif");
    spit(p, bytes);
    try {
      const AnyImage a = read_tiff(p);
      ++images;
      CHECK((a.dim() == 2 || a.dim() == 3));
    } catch (const Error& e) {
      ++errors;
      if (!contains(e.what(), p.filename().string())) CHECK(contains(e.what(), p.filename().string()));
    }
    fs::remove(p);
  }
  CHECK(err.text().empty());
  CHECK(errors > 100);
  MESSAGE("damaged files: " << errors << " errors, " << images << " still decoded");
}

TEST_CASE("encode_png: libpng's reader gets the pixels back; write_png writes the same bytes; bad buffers refused") {
  for (const auto& [w, h, channels] : std::vector<std::array<int, 3>>{{1, 1, 3}, {7, 5, 3}, {33, 2, 1}}) {
    std::vector<std::uint8_t> px(static_cast<std::size_t>(w * h * channels));
    for (std::size_t i = 0; i < px.size(); ++i) px[i] = static_cast<std::uint8_t>((i * 37 + 11) % 256);
    const std::string bytes = qanet::encode_png(px, w, h, channels);
    const auto d = qanet::testing::decode_png(bytes);
    REQUIRE(d.ok);
    CHECK(d.width == w);
    CHECK(d.height == h);
    for (int i = 0; i < w * h; ++i)
      for (int c = 0; c < 3; ++c)
        CHECK(d.rgb[static_cast<std::size_t>(3 * i + c)] == px[static_cast<std::size_t>(channels == 3 ? 3 * i + c : i)]);
    qanet::testing::TempDir dir;
    qanet::write_png(dir / "p.png", px, w, h, channels);
    std::ifstream f(dir / "p.png", std::ios::binary);
    CHECK(std::string(std::istreambuf_iterator<char>(f), {}) == bytes);
  }
  CHECK_THROWS_AS(qanet::encode_png(std::vector<std::uint8_t>(5), 2, 2, 3), qanet::InvalidArgument);
  CHECK_THROWS_AS(qanet::encode_png(std::vector<std::uint8_t>(8), 2, 2, 2), qanet::InvalidArgument);
}
