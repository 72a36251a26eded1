#pragma once
// Helpers shared by the test executables: where the optional real data lives, temporary
// folders, and running the Python reference tools.

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

#include <sys/wait.h>

#include <doctest/doctest.h>

namespace qanet::testing {

namespace fs = std::filesystem;

// ../shared/data, or $QANET_DATA. Empty path when absent.
inline fs::path data_dir() {
  const char* env = std::getenv("QANET_DATA");
  fs::path p = env ? fs::path(env) : fs::path(QANET_DATA_DIR);
  std::error_code ec;
  return fs::is_directory(p, ec) ? p : fs::path();
}

// The path of one data file or folder; empty when the data is absent.
inline fs::path data_path(const std::string& relative) {
  const fs::path d = data_dir();
  if (d.empty()) return {};
  std::error_code ec;
  fs::path p = d / relative;
  return fs::exists(p, ec) ? p : fs::path();
}

// A fresh, unique temporary folder removed at scope exit.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = fs::temp_directory_path() / ("qanet-test-" + std::to_string(rd()) + std::to_string(rd()));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& name) const { return path_ / name; }

 private:
  fs::path path_;
};

// A python3 with numpy and scipy (Debian's), or empty.
inline std::string python_with_scipy() {
  for (const char* py : {"/usr/bin/python3", "python3"}) {
    const std::string cmd = std::string(py) + " -c 'import numpy, scipy' >/dev/null 2>&1";
    if (std::system(cmd.c_str()) == 0) return py;
  }
  return {};
}

// Runs a shell command and returns its standard output; *status gets its exit code.
inline std::string run_command(const std::string& cmd, int* status = nullptr) {
  std::string out;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) throw std::runtime_error("cannot run: " + cmd);
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  const int rc = pclose(pipe);
  if (status) *status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  return out;
}

}  // namespace qanet::testing

// Skips the rest of the current test case, saying why, when `path` is empty.
#define QANET_REQUIRE_DATA(path, what)                                              \
  do {                                                                              \
    if ((path).empty()) {                                                           \
      MESSAGE("skipped: " << (what) << " not found (../shared/data or $QANET_DATA)"); \
      return;                                                                       \
    }                                                                               \
  } while (0)
