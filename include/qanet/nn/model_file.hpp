#pragma once
// Model files: a safetensors file (safetensors.hpp) with the weights under their PyTorch names
// (image_rib.{k}.conv.weight, ..., head.{i}.bias) and the architecture and preprocessing in
// __metadata__ (all values strings; lists and the training summary as JSON text):
//   format "qanet-model", format_version "1", architecture, preset, dim, widths, head,
//   padding, patch, input_encoding, metric, normalisation, training; "outputs" only when it
//   is not 1 (models with the object-count output), so older readers refuse those files.
// Loading rebuilds the network from the metadata and requires exactly the expected tensors
// with exactly the expected shapes.

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "qanet/nn/network.hpp"
#include "qanet/nn/safetensors.hpp"

namespace qanet::nn {

struct ModelInfo {
  ModelConfig config;
  std::string metric = "SEG";
  std::string normalisation = "percentile 1 99.8";
  nlohmann::json training = nlohmann::json::object();  // summary: epochs, losses, data, ...
};

namespace detail {

inline std::map<std::string, std::string> model_metadata(const ModelInfo& info) {
  const ModelConfig& c = info.config;
  std::map<std::string, std::string> m{{"format", "qanet-model"},
          {"format_version", "1"},
          {"architecture", to_string(c.architecture)},
          {"preset", c.preset},
          {"dim", std::to_string(c.dim)},
          {"widths", nlohmann::json(c.widths).dump()},
          {"head", nlohmann::json(c.head).dump()},
          {"padding", std::to_string(c.padding)},
          {"patch", nlohmann::json(c.patch).dump()},
          {"input_encoding", to_string(c.encoding)},
          {"metric", info.metric},
          {"normalisation", info.normalisation},
          {"training", info.training.dump()}};
  if (c.outputs != 1) m["outputs"] = std::to_string(c.outputs);
  return m;
}

inline ModelInfo model_info_from_metadata(const std::map<std::string, std::string>& m, const std::string& what) {
  auto get = [&](const char* key) -> const std::string& {
    auto it = m.find(key);
    if (it == m.end()) throw IoError(what + ": not a qanet model file (metadata '" + key + "' missing)");
    return it->second;
  };
  if (get("format") != "qanet-model") throw IoError(what + ": not a qanet model file (format '" + get("format") + "')");
  if (get("format_version") != "1") throw IoError(what + ": unsupported model format version " + get("format_version"));
  ModelInfo info;
  try {
    ModelConfig& c = info.config;
    c.architecture = parse_architecture(get("architecture"));
    c.preset = get("preset");
    c.dim = std::stoi(get("dim"));
    c.widths = nlohmann::json::parse(get("widths")).get<std::vector<Index>>();
    c.head = nlohmann::json::parse(get("head")).get<std::vector<Index>>();
    c.padding = std::stoll(get("padding"));
    c.patch = nlohmann::json::parse(get("patch")).get<std::vector<Index>>();
    c.encoding = parse_encoding(get("input_encoding"));
    if (const auto it = m.find("outputs"); it != m.end()) c.outputs = std::stoll(it->second);
    info.metric = get("metric");
    info.normalisation = get("normalisation");
    info.training = nlohmann::json::parse(get("training"));
  } catch (const IoError&) {
    throw;
  } catch (const std::exception& e) {
    throw IoError(what + ": corrupt model metadata (" + e.what() + ")");
  }
  if (info.config.dim != 2 && info.config.dim != 3) throw IoError(what + ": model dim must be 2 or 3");
  return info;
}

}  // namespace detail

// Writes the weights, BatchNorm statistics and metadata of `net` atomically. info.config is
// replaced by the network's own configuration.
template <typename T, int Dim>
void save_model(const std::filesystem::path& path, Network<T, Dim>& net, ModelInfo info = {}) {
  info.config = net.config();
  SafetensorsFile f;
  f.metadata = detail::model_metadata(info);
  for (const auto& p : net.params()) f.tensors[p.name].assign(*p.value);
  for (const auto& b : net.buffers()) f.tensors[b.name].assign(*b.value);
  write_safetensors(path, f);
}

// Metadata of a model file (to choose the dimension before loading).
inline ModelInfo read_model_info(const std::filesystem::path& path) {
  return detail::model_info_from_metadata(read_safetensors(path).metadata, path.string());
}

template <typename T, int Dim>
Network<T, Dim> load_model(const std::filesystem::path& path, ModelInfo* info_out = nullptr) {
  const std::string what = path.string();
  SafetensorsFile f = read_safetensors(path);
  ModelInfo info = detail::model_info_from_metadata(f.metadata, what);
  if (info.config.dim != Dim)
    throw IoError(what + ": the model is " + std::to_string(info.config.dim) + "D, expected " + std::to_string(Dim) + "D");
  Network<T, Dim> net = [&] {
    try {
      return Network<T, Dim>(info.config);
    } catch (const InvalidArgument& e) {
      throw IoError(what + ": bad architecture in metadata (" + e.what() + ")");
    }
  }();
  std::size_t used = 0;
  auto take = [&](const std::string& name, Tensor<T>& dst) {
    auto it = f.tensors.find(name);
    if (it == f.tensors.end()) throw IoError(what + ": tensor '" + name + "' missing (model file does not match its metadata)");
    if (it->second.shape() != dst.shape())
      throw IoError(what + ": tensor '" + name + "' has shape " + it->second.shape().str() + ", the " +
                    to_string(info.config.architecture) + " model needs " + dst.shape().str());
    dst.assign(it->second);
    ++used;
  };
  for (const auto& p : net.params()) take(p.name, *p.value);
  for (const auto& b : net.buffers()) take(b.name, *b.value);
  if (used != f.tensors.size()) {
    for (const auto& [name, t] : f.tensors) {
      bool known = false;
      for (const auto& p : net.params()) known |= p.name == name;
      for (const auto& b : net.buffers()) known |= b.name == name;
      if (!known) throw IoError(what + ": unexpected tensor '" + name + "' (model file does not match its metadata)");
    }
  }
  if (info_out) *info_out = info;
  return net;
}

}  // namespace qanet::nn
