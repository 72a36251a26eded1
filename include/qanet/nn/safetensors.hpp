#pragma once
// The safetensors container (https://huggingface.co/docs/safetensors), written by our own code:
//   8 bytes   little-endian uint64 N, the header length
//   N bytes   JSON: {"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]},
//              ..., "__metadata__": {"key": "string", ...}}, padded with spaces to 8 bytes
//   rest      the tensors' raw little-endian bytes; offsets are relative to the buffer start
// Tensors are written as F32 (F64 is read too). Reading validates everything and throws
// IoError naming the file and the problem.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "qanet/core/error.hpp"
#include "qanet/io/atomic_file.hpp"
#include "qanet/nn/tensor.hpp"

namespace qanet::nn {

struct SafetensorsFile {
  std::map<std::string, Tensor<float>> tensors;
  std::map<std::string, std::string> metadata;
};

namespace detail {

inline bool host_little_endian() {
  const std::uint16_t one = 1;
  unsigned char b;
  std::memcpy(&b, &one, 1);
  return b == 1;
}
inline void put_le(std::string& out, const void* src, std::size_t elem, std::size_t count) {
  const auto* p = static_cast<const unsigned char*>(src);
  const std::size_t start = out.size();
  out.append(reinterpret_cast<const char*>(p), elem * count);
  if (!host_little_endian())
    for (std::size_t i = 0; i < count; ++i)
      std::reverse(out.begin() + start + i * elem, out.begin() + start + (i + 1) * elem);
}
template <typename U>
U get_le(const unsigned char* p) {
  unsigned char b[sizeof(U)];
  std::memcpy(b, p, sizeof(U));
  if (!host_little_endian()) std::reverse(b, b + sizeof(U));
  U v;
  std::memcpy(&v, b, sizeof(U));
  return v;
}

}  // namespace detail

// The bytes of a safetensors file holding `f` (tensors in name order, F32).
inline std::string encode_safetensors(const SafetensorsFile& f) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!f.metadata.empty()) {
    nlohmann::ordered_json m = nlohmann::ordered_json::object();
    for (const auto& [k, v] : f.metadata) m[k] = v;
    header["__metadata__"] = m;
  }
  std::uint64_t offset = 0;
  for (const auto& [name, t] : f.tensors) {
    if (name == "__metadata__") throw InvalidArgument("safetensors: '__metadata__' is not a tensor name");
    const std::uint64_t bytes = static_cast<std::uint64_t>(t.numel()) * 4;
    header[name] = {{"dtype", "F32"}, {"shape", t.shape().vec()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');
  std::string out;
  out.reserve(8 + h.size() + offset);
  const std::uint64_t n = h.size();
  detail::put_le(out, &n, 8, 1);
  out += h;
  for (const auto& [name, t] : f.tensors) detail::put_le(out, t.data(), 4, static_cast<std::size_t>(t.numel()));
  return out;
}

// Parses safetensors bytes; `what` (usually the file name) prefixes error messages.
inline SafetensorsFile decode_safetensors(std::string_view bytes, const std::string& what) {
  auto fail = [&](const std::string& msg) { throw IoError(what + ": not a valid safetensors file: " + msg); };
  if (bytes.size() < 8) fail("shorter than the 8-byte header length (truncated?)");
  const auto* base = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::uint64_t n = detail::get_le<std::uint64_t>(base);
  if (n > bytes.size() - 8)
    fail("header length " + std::to_string(n) + " exceeds the file size " + std::to_string(bytes.size()) + " (truncated?)");
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes.substr(8, n));
  } catch (const nlohmann::json::exception& e) {
    fail(std::string("corrupt JSON header (") + e.what() + ")");
  }
  if (!header.is_object()) fail("the JSON header is not an object");
  const std::uint64_t data_size = bytes.size() - 8 - n;
  const unsigned char* data = base + 8 + n;
  SafetensorsFile f;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const nlohmann::json& e = it.value();
    if (name == "__metadata__") {
      if (!e.is_object()) fail("__metadata__ is not an object");
      for (auto m = e.begin(); m != e.end(); ++m) {
        if (!m.value().is_string()) fail("__metadata__ value '" + m.key() + "' is not a string");
        f.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    if (!e.is_object() || !e.contains("dtype") || !e.contains("shape") || !e.contains("data_offsets"))
      fail("tensor '" + name + "' lacks dtype, shape or data_offsets");
    if (!e["dtype"].is_string()) fail("tensor '" + name + "': dtype is not a string");
    const std::string dtype = e["dtype"].get<std::string>();
    std::size_t elem = 0;
    if (dtype == "F32") elem = 4;
    else if (dtype == "F64") elem = 8;
    else fail("tensor '" + name + "' has dtype " + dtype + " (only F32 and F64 are read)");
    const nlohmann::json& sh = e["shape"];
    const nlohmann::json& off = e["data_offsets"];
    if (!sh.is_array() || sh.size() > static_cast<std::size_t>(max_rank)) fail("tensor '" + name + "': bad shape");
    std::vector<Index> dims;
    std::uint64_t numel = 1;
    for (const auto& d : sh) {
      if (!d.is_number_unsigned()) fail("tensor '" + name + "': shape entries must be non-negative integers");
      dims.push_back(static_cast<Index>(d.get<std::uint64_t>()));
      numel *= d.get<std::uint64_t>();
      if (numel > data_size) fail("tensor '" + name + "' has more elements than the file has bytes");
    }
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      fail("tensor '" + name + "': data_offsets must be two non-negative integers");
    const std::uint64_t b = off[0].get<std::uint64_t>(), en = off[1].get<std::uint64_t>();
    if (en < b || en - b != numel * elem)
      fail("tensor '" + name + "': data_offsets [" + std::to_string(b) + ", " + std::to_string(en) +
           "] do not match its shape and dtype");
    if (en > data_size)
      fail("tensor '" + name + "' ends at byte " + std::to_string(en) + " of a " + std::to_string(data_size) +
           "-byte data buffer (truncated?)");
    ranges.emplace_back(b, en);
    Tensor<float> t(TensorShape::from(dims));
    for (std::uint64_t i = 0; i < numel; ++i)
      t[static_cast<Index>(i)] = elem == 4 ? detail::get_le<float>(data + b + 4 * i)
                                           : static_cast<float>(detail::get_le<double>(data + b + 8 * i));
    f.tensors.emplace(name, std::move(t));
  }
  std::sort(ranges.begin(), ranges.end());
  std::uint64_t at = 0;
  for (const auto& [b, e] : ranges) {
    if (b != at) fail("tensor data overlaps or leaves a gap at byte " + std::to_string(at));
    at = e;
  }
  if (at != data_size) fail("data buffer has " + std::to_string(data_size - at) + " trailing bytes");
  return f;
}

inline void write_safetensors(const std::filesystem::path& path, const SafetensorsFile& f) {
  write_file_atomic(path, encode_safetensors(f));
}

inline SafetensorsFile read_safetensors(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(path.string() + ": cannot open for reading");
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw IoError(path.string() + ": read error");
  return decode_safetensors(bytes, path.string());
}

}  // namespace qanet::nn
