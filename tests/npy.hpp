#pragma once
// .npy files (format 1.0, C order), the exchange format with the Python oracle: written and
// read by the metric tests and by bench_metrics. Failures throw qanet::IoError naming the file.

#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "qanet/core/error.hpp"
#include "qanet/core/shape.hpp"

namespace qanet::testing {

template <typename T>
const char* npy_descr() {
  if constexpr (std::is_same_v<T, std::uint8_t>) return "|u1";
  if constexpr (std::is_same_v<T, std::uint16_t>) return "<u2";
  if constexpr (std::is_same_v<T, std::int32_t>) return "<i4";
  if constexpr (std::is_same_v<T, std::uint32_t>) return "<u4";
  if constexpr (std::is_same_v<T, std::int64_t>) return "<i8";
}

template <typename T, int Dim>
void write_npy(const std::string& path, const std::vector<T>& data, const Shape<Dim>& shape) {
  std::string dict = std::string("{'descr': '") + npy_descr<T>() + "', 'fortran_order': False, 'shape': (";
  for (int a = 0; a < Dim; ++a) dict += std::to_string(shape[a]) + ", ";
  dict += "), }";
  // Magic (6) + version (2) + length (2) + dict + padding + '\n' is a multiple of 64.
  while ((10 + dict.size() + 1) % 64) dict += ' ';
  dict += '\n';
  std::ofstream f(path, std::ios::binary);
  f.write("\x93NUMPY\x01\x00", 8);
  const std::uint16_t len = static_cast<std::uint16_t>(dict.size());
  const char le[2] = {static_cast<char>(len & 0xff), static_cast<char>(len >> 8)};
  f.write(le, 2);
  f.write(dict.data(), static_cast<std::streamsize>(dict.size()));
  f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size() * sizeof(T)));
  if (!f) throw IoError(path + ": cannot write");
}

// A C-ordered int32 array; its extents go to `shape`.
inline std::vector<std::int32_t> read_npy_i4(const std::string& path, std::vector<Index>& shape) {
  std::ifstream f(path, std::ios::binary);
  char head[10];
  if (!f.read(head, 10) || std::memcmp(head, "\x93NUMPY", 6) != 0) throw IoError(path + ": not a .npy file");
  const std::size_t len = static_cast<unsigned char>(head[8]) | (static_cast<unsigned char>(head[9]) << 8);
  std::string dict(len, ' ');
  f.read(dict.data(), static_cast<std::streamsize>(len));
  if (dict.find("'<i4'") == std::string::npos || dict.find("'fortran_order': False") == std::string::npos)
    throw IoError(path + ": expected a C-ordered int32 array, header " + dict);
  const auto open = dict.find("'shape': (") + 10;
  std::istringstream is(dict.substr(open, dict.find(')', open) - open));
  shape.clear();
  for (std::string tok; std::getline(is, tok, ',');)
    if (tok.find_first_not_of(' ') != std::string::npos) shape.push_back(std::stoll(tok));
  Index n = 1;
  for (Index e : shape) n *= e;
  std::vector<std::int32_t> data(static_cast<std::size_t>(n));
  if (!f.read(reinterpret_cast<char*>(data.data()), static_cast<std::streamsize>(n * 4)))
    throw IoError(path + ": truncated");
  return data;
}

}  // namespace qanet::testing
