#pragma once
// Where the qanet program finds a model when --model is not given: $QANET_MODEL, then the
// bundled model next to the program, in the install prefix, or in the source tree of a build.

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "qanet/core/error.hpp"

namespace qanet::cli {

// The frame model (SEG) and the per-object model (`qanet score --per-object`), each with the
// environment variable that names another.
struct ModelKind {
  const char* file;
  const char* env;
};
inline constexpr ModelKind frame_model{"qanet-seg-2d-small.safetensors", "QANET_MODEL"};
inline constexpr ModelKind object_model{"qanet-iou-2d-small.safetensors", "QANET_OBJECT_MODEL"};

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
  if (const char* env = std::getenv(kind.env); env && *env) {
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
  throw IoError(std::string("no model given and no bundled model found; use --model FILE or ") + kind.env +
                ". Looked in:" + tried);
}

}  // namespace qanet::cli
