#pragma once
// Atomic file replacement: every qanet writer (TIFF, CSV, JSON reports, model files) writes a
// temporary file in the destination folder, flushes it to disk and renames it over the target,
// so a crash or a full disk never leaves a half-written file under the final name, and readers
// see either the old or the new content.

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <string_view>

#if !defined(_WIN32)
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#endif

#include "qanet/core/error.hpp"

namespace qanet {

namespace detail {

// The start of the names of a target's temporary files; the writer's process id follows.
inline std::string temporary_prefix(const std::filesystem::path& target) {
  return "." + target.filename().string() + ".qanet-tmp-";
}

// A unique name next to the target (same folder = same file system, so rename is atomic).
inline std::filesystem::path temporary_sibling(const std::filesystem::path& target) {
  static std::atomic<unsigned long> counter{0};
#if defined(_WIN32)
  const unsigned long pid = 0;
#else
  const unsigned long pid = static_cast<unsigned long>(::getpid());
#endif
  std::filesystem::path tmp = target;
  tmp.replace_filename(temporary_prefix(target) + std::to_string(pid) +
                       "-" + std::to_string(counter.fetch_add(1)));
  return tmp;
}

// fsync through a fresh descriptor: the writer may have used any API (libtiff, ofstream).
inline void sync_path(const std::filesystem::path& p, bool directory, const std::filesystem::path& target) {
#if !defined(_WIN32)
  const int fd = ::open(p.c_str(), directory ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
  if (fd < 0) {
    if (directory) return;  // some file systems refuse to open folders; the rename still happened
    throw IoError("cannot write " + target.string() + ": reopening the temporary file failed (" +
                  std::strerror(errno) + ")");
  }
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  // EINVAL: the file system does not support syncing (e.g. some pseudo file systems).
  if (rc != 0 && err != EINVAL && !directory)
    throw IoError("cannot write " + target.string() + ": flushing to disk failed (" +
                  std::strerror(err) + ")");
#else
  (void)p;
  (void)directory;
  (void)target;
#endif
}

}  // namespace detail

// Calls writer(tmp) to fill a temporary file next to `path`, syncs it and renames it to `path`.
// Parent folders are created. If the writer throws, the temporary file is removed and the
// exception propagates; `path` keeps its previous content.
inline void write_file_atomic(const std::filesystem::path& path,
                              const std::function<void(const std::filesystem::path& tmp)>& writer) {
  namespace fs = std::filesystem;
  if (path.empty()) throw InvalidArgument("write_file_atomic: empty path");
  if (!path.has_filename()) throw InvalidArgument("cannot write " + path.string() + ": not a file name");
  std::error_code ec;
  const fs::path parent = path.has_parent_path() ? path.parent_path() : fs::path(".");
  fs::create_directories(parent, ec);
  if (ec) throw IoError("cannot write " + path.string() + ": creating folder " + parent.string() +
                        " failed (" + ec.message() + ")");
  if (fs::is_directory(path, ec))
    throw IoError("cannot write " + path.string() + ": a folder of that name exists");

  const fs::path tmp = detail::temporary_sibling(path);
  try {
    writer(tmp);
    if (!fs::is_regular_file(tmp, ec))
      throw IoError("cannot write " + path.string() + ": the writer produced no file");
    detail::sync_path(tmp, false, path);
    fs::rename(tmp, path, ec);
    if (ec) throw IoError("cannot write " + path.string() + ": renaming the temporary file failed (" +
                          ec.message() + ")");
  } catch (...) {
    fs::remove(tmp, ec);
    throw;
  }
  detail::sync_path(parent, true, path);
}

// Atomically replaces `path` with `content` (binary, byte for byte).
inline void write_file_atomic(const std::filesystem::path& path, std::string_view content) {
  write_file_atomic(path, [&](const std::filesystem::path& tmp) {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw IoError("cannot write " + path.string() + ": cannot create a file in its folder");
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    out.flush();
    if (!out) throw IoError("cannot write " + path.string() + ": write failed (disk full?)");
  });
}

// Removes the temporary files of `target` that a killed writer left behind (those of processes
// that no longer run; a live writer's are kept); returns how many. The target itself is never
// touched: a crash leaves it whole, old or new. Call it before rewriting outputs after a crash.
inline int remove_stale_temporaries(const std::filesystem::path& target) {
  namespace fs = std::filesystem;
  int removed = 0;
#if !defined(_WIN32)
  const std::string prefix = detail::temporary_prefix(target);
  std::error_code ec;
  const fs::path parent = target.has_parent_path() ? target.parent_path() : fs::path(".");
  for (fs::directory_iterator it(parent, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    const std::string rest = name.substr(prefix.size());  // "PID-N"
    const std::size_t dash = rest.find('-');
    if (dash == 0 || dash == std::string::npos ||
        rest.find_first_not_of("0123456789") != dash)
      continue;
    const long pid = std::stol(rest.substr(0, dash));
    if (pid == static_cast<long>(::getpid()) || !(::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH)) continue;
    std::error_code rm;
    if (fs::remove(it->path(), rm)) ++removed;
  }
#else
  (void)target;
#endif
  return removed;
}

}  // namespace qanet
