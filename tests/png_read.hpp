#pragma once
// Reading PNG files back in tests through libpng's simplified reader, independently of qanet's
// writer (qanet/io/png.hpp uses the progressive writer).
#include <png.h>

#include <cstdint>
#include <string>
#include <vector>

namespace qanet::testing {

struct DecodedPng {
  int width = 0, height = 0;
  std::vector<std::uint8_t> rgb;  // 3 bytes per pixel, rows top to bottom
  bool ok = false;
};

inline DecodedPng decode_png(const std::string& bytes) {
  DecodedPng d;
  png_image img{};
  img.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&img, bytes.data(), bytes.size())) return d;
  img.format = PNG_FORMAT_RGB;
  d.width = static_cast<int>(img.width), d.height = static_cast<int>(img.height);
  d.rgb.resize(PNG_IMAGE_SIZE(img));
  d.ok = png_image_finish_read(&img, nullptr, d.rgb.data(), 0, nullptr) != 0;
  png_image_free(&img);
  return d;
}

}  // namespace qanet::testing
