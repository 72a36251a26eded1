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

inline constexpr const char* bundled_model_name = "qanet-seg-2d-small.safetensors";

inline std::filesystem::path program_dir() {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::filesystem::current_path() : exe.parent_path();
}

inline std::filesystem::path find_model(const std::string& given) {
  namespace fs = std::filesystem;
  if (!given.empty()) {
    if (!fs::is_regular_file(given)) throw IoError("model " + given + ": no such file");
    return given;
  }
  if (const char* env = std::getenv("QANET_MODEL"); env && *env) {
    if (!fs::is_regular_file(env)) throw IoError("model " + std::string(env) + " (from QANET_MODEL): no such file");
    return env;
  }
  const fs::path dir = program_dir();
  const std::vector<fs::path> candidates = {dir / bundled_model_name,
                                            dir / ".." / "share" / "qanet" / "models" / bundled_model_name,
                                            dir / ".." / ".." / "models" / bundled_model_name};
  for (const auto& c : candidates)
    if (fs::is_regular_file(c)) return fs::weakly_canonical(c);
  std::string tried;
  for (const auto& c : candidates) tried += "\n  " + c.lexically_normal().string();
  throw IoError("no model given and no bundled model found; use --model FILE or QANET_MODEL. Looked in:" + tried);
}

}  // namespace qanet::cli
