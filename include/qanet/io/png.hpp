#pragma once
// 8-bit PNG output (grey or RGB) through libpng, written atomically: quality heat maps and
// overlays for people to look at. Not a general image reader/writer: TIFF is qanet's format.

#include <png.h>

#include <csetjmp>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "qanet/core/error.hpp"
#include "qanet/io/atomic_file.hpp"

namespace qanet {

// The PNG file of `pixels` (rows top to bottom, `channels` = 1 grey or 3 RGB bytes per pixel),
// in memory: for files (write_png) and for pages that embed their pictures (qanet score --report).
inline std::string encode_png(const std::vector<std::uint8_t>& pixels, int width, int height, int channels) {
  if (width < 1 || height < 1 || (channels != 1 && channels != 3) ||
      pixels.size() != static_cast<std::size_t>(width) * static_cast<std::size_t>(height) * static_cast<std::size_t>(channels))
    throw InvalidArgument("encode_png: pixel buffer does not match " + std::to_string(width) + "x" +
                          std::to_string(height) + "x" + std::to_string(channels));
  std::string out;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (!png || !info || setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    throw IoError("cannot encode a PNG image");
  }
  png_set_write_fn(
      png, &out,
      [](png_structp p, png_bytep data, png_size_t n) {
        static_cast<std::string*>(png_get_io_ptr(p))->append(reinterpret_cast<const char*>(data), n);
      },
      [](png_structp) {});
  png_set_IHDR(png, info, static_cast<png_uint_32>(width), static_cast<png_uint_32>(height), 8,
               channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  const std::size_t row_bytes = static_cast<std::size_t>(width) * static_cast<std::size_t>(channels);
  for (int y = 0; y < height; ++y)
    png_write_row(png, const_cast<png_bytep>(pixels.data() + static_cast<std::size_t>(y) * row_bytes));
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return out;
}

// Writes the PNG of `pixels` to `path` (atomically).
inline void write_png(const std::filesystem::path& path, const std::vector<std::uint8_t>& pixels, int width,
                      int height, int channels) {
  try {
    write_file_atomic(path, encode_png(pixels, width, height, channels));
  } catch (const InvalidArgument& e) {
    throw InvalidArgument("write_png " + path.string() + ": " + e.what());
  }
}

}  // namespace qanet
