#pragma once
// Where the qanet program finds a model when --model is not given: $QANET_MODEL, then the
// bundled model next to the program, in the install prefix, or in the source tree of a build.

#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "qanet/core/error.hpp"
#include "qanet/nn/model_file.hpp"

namespace qanet::cli {

// The frame model (SEG), the per-object model (`qanet score --per-object`) and the models of
// the boundary metrics (`--metric mhd95|asd|nemhd`), each with the environment variable that
// names another (none for the boundary metrics: $QANET_MODEL is a SEG model).
struct ModelKind {
  std::string file;
  const char* env = nullptr;
};
inline const ModelKind frame_model{"qanet-seg-2d-small.safetensors", "QANET_MODEL"};
inline const ModelKind object_model{"qanet-iou-2d-small.safetensors", "QANET_OBJECT_MODEL"};

// The bundled 2D model of a frame metric (seg, mhd95, asd or nemhd).
inline ModelKind metric_model(const std::string& metric) {
  if (metric == "seg") return frame_model;
  if (metric != "mhd95" && metric != "asd" && metric != "nemhd")
    throw InvalidArgument("--metric: '" + metric + "' is not one of seg, mhd95, asd, nemhd");
  return {"qanet-" + metric + "-2d-small.safetensors", nullptr};
}

inline std::filesystem::path program_dir() {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::filesystem::current_path() : exe.parent_path();
}

inline std::filesystem::path find_model(const std::string& given, const ModelKind& kind = frame_model) {
  namespace fs = std::filesystem;
  if (!given.empty()) {
    if (!fs::is_regular_file(given)) throw IoError("model " + given + ": no such file");
    return given;
  }
  if (const char* env = kind.env ? std::getenv(kind.env) : nullptr; env && *env) {
    if (!fs::is_regular_file(env))
      throw IoError("model " + std::string(env) + " (from " + kind.env + "): no such file");
    return env;
  }
  const fs::path dir = program_dir();
  const std::vector<fs::path> candidates = {dir / kind.file, dir / ".." / "share" / "qanet" / "models" / kind.file,
                                            dir / ".." / ".." / "models" / kind.file};
  for (const auto& c : candidates)
    if (fs::is_regular_file(c)) return fs::weakly_canonical(c);
  std::string tried;
  for (const auto& c : candidates) tried += "\n  " + c.lexically_normal().string();
  throw IoError("no model given and no bundled " + kind.file + " found; use --model FILE" +
                (kind.env ? std::string(" or ") + kind.env : std::string()) + ". Looked in:" + tried);
}

// The model of a command that scores frames: --model FILE, else the bundled model of --metric
// (SEG when no metric is given). With a metric, the model found must predict it.
inline std::filesystem::path find_frame_model(const std::string& given, const std::string& metric) {
  const auto path = find_model(given, metric_model(metric.empty() ? "seg" : metric));
  if (!metric.empty()) {
    std::string predicts = nn::read_model_info(path).metric;
    for (auto& c : predicts) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (predicts != metric)
      throw InvalidArgument("--metric " + metric + ": model " + path.string() + " predicts " + predicts);
  }
  return path;
}

}  // namespace qanet::cli
