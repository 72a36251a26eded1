// TIFF decoding and encoding throughput (MB/s of decoded pixels) on a 1024x1024 uint16 image
// shaped like microscopy: smooth background, bright blobs, Poisson-like noise.
#include <benchmark/benchmark.h>

#include <cmath>
#include <filesystem>
#include <random>
#include <string>
#include <unistd.h>

#include "qanet/io.hpp"

namespace {

using namespace qanet;

Image<std::uint16_t, 2> microscopy_like(Index n) {
  Image<std::uint16_t, 2> img(Shape<2>(n, n));
  std::mt19937 g(42);
  std::normal_distribution<double> noise(0.0, 6.0);
  std::uniform_real_distribution<double> pos(0.0, static_cast<double>(n));
  std::vector<std::pair<double, double>> blobs(300);
  for (auto& b : blobs) b = {pos(g), pos(g)};
  for (Index y = 0; y < n; ++y)
    for (Index x = 0; x < n; ++x) img(y, x) = static_cast<std::uint16_t>(100 + noise(g) + 20);
  for (const auto& [cy, cx] : blobs)
    for (Index y = std::max<Index>(0, Index(cy) - 12); y < std::min<Index>(n, Index(cy) + 12); ++y)
      for (Index x = std::max<Index>(0, Index(cx) - 12); x < std::min<Index>(n, Index(cx) + 12); ++x)
        if ((y - cy) * (y - cy) + (x - cx) * (x - cx) < 100) img(y, x) += 200;
  return img;
}

// Label image: 300 disks on a background (what ground truth and results look like).
Image<std::uint16_t, 2> labels_like(Index n) {
  Image<std::uint16_t, 2> img(Shape<2>(n, n), 0);
  std::mt19937 g(7);
  std::uniform_real_distribution<double> pos(0.0, static_cast<double>(n));
  for (int k = 1; k <= 300; ++k) {
    const double cy = pos(g), cx = pos(g);
    for (Index y = std::max<Index>(0, Index(cy) - 12); y < std::min<Index>(n, Index(cy) + 12); ++y)
      for (Index x = std::max<Index>(0, Index(cx) - 12); x < std::min<Index>(n, Index(cx) + 12); ++x)
        if ((y - cy) * (y - cy) + (x - cx) * (x - cx) < 100) img(y, x) = static_cast<std::uint16_t>(k);
  }
  return img;
}

std::filesystem::path bench_file(const std::string& name) {
  return std::filesystem::temp_directory_path() /
         ("qanet-bench-" + std::to_string(::getpid()) + "-" + name + ".tif");
}

void decode(benchmark::State& state, bool labels, TiffCompression c) {
  const auto img = labels ? labels_like(1024) : microscopy_like(1024);
  const auto path = bench_file(std::string(labels ? "labels-" : "image-") + compression_name(c));
  write_tiff(path, img, c);
  for (auto _ : state) {
    AnyImage a = read_tiff(path);
    benchmark::DoNotOptimize(a.bytes());
  }
  state.SetBytesProcessed(state.iterations() * img.size() * 2);
  state.counters["file_KiB"] = static_cast<double>(std::filesystem::file_size(path)) / 1024.0;
  std::filesystem::remove(path);
}

void encode(benchmark::State& state, TiffCompression c) {
  const auto img = microscopy_like(1024);
  const auto path = bench_file(std::string("encode-") + compression_name(c));
  for (auto _ : state) write_tiff(path, img, c);
  state.SetBytesProcessed(state.iterations() * img.size() * 2);
  std::filesystem::remove(path);
}

void BM_DecodeImageU16LZW(benchmark::State& s) { decode(s, false, TiffCompression::lzw); }
void BM_DecodeImageU16Deflate(benchmark::State& s) { decode(s, false, TiffCompression::deflate); }
void BM_DecodeImageU16None(benchmark::State& s) { decode(s, false, TiffCompression::none); }
void BM_DecodeLabelsU16LZW(benchmark::State& s) { decode(s, true, TiffCompression::lzw); }
void BM_EncodeImageU16LZW(benchmark::State& s) { encode(s, TiffCompression::lzw); }

}  // namespace

BENCHMARK(BM_DecodeImageU16LZW)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DecodeImageU16Deflate)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DecodeImageU16None)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DecodeLabelsU16LZW)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_EncodeImageU16LZW)->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
