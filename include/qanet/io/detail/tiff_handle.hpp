#pragma once
// libtiff plumbing: a RAII handle whose library messages never reach stderr but are captured
// (per calling thread) and put into the IoError that names the file.

#include <tiffio.h>

#include <cstdarg>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <string>

#include "qanet/core/error.hpp"

namespace qanet::detail {

// Messages libtiff reported on this thread during the current qanet call.
struct TiffMessages {
  std::string errors;
  std::string warnings;
  int depth = 0;  // > 0 while a qanet TIFF call runs on this thread
};

inline TiffMessages& tiff_messages() {
  thread_local TiffMessages m;
  return m;
}

inline void append_tiff_message(std::string& to, const char* module, const char* fmt, va_list ap) {
  char buf[1024];
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  if (to.size() > 4000) return;  // a badly broken file can repeat a message per row
  if (!to.empty()) to += "; ";
  // libtiff's module is a function name ("LZWDecode") or the file name; qanet names the file
  // itself, so only function names are kept.
  const std::string mod = module ? module : "";
  if (!mod.empty() && mod.find_first_of("/.\\") == std::string::npos) to += mod + ": ";
  to += buf;
}

// Process-wide handlers, chained: inside a qanet call they capture, outside they forward to
// whatever handler the application had installed, so embedding software keeps its behaviour.
struct TiffGlobalHandlers {
  TIFFErrorHandler previous_error = nullptr;
  TIFFErrorHandler previous_warning = nullptr;
};

inline TiffGlobalHandlers& tiff_global_handlers() {
  static TiffGlobalHandlers h;
  return h;
}

inline void tiff_error_handler(const char* module, const char* fmt, va_list ap) {
  TiffMessages& m = tiff_messages();
  if (m.depth > 0) return append_tiff_message(m.errors, module, fmt, ap);
  if (auto prev = tiff_global_handlers().previous_error) prev(module, fmt, ap);
}

inline void tiff_warning_handler(const char* module, const char* fmt, va_list ap) {
  TiffMessages& m = tiff_messages();
  if (m.depth > 0) return append_tiff_message(m.warnings, module, fmt, ap);
  if (auto prev = tiff_global_handlers().previous_warning) prev(module, fmt, ap);
}

inline void install_tiff_handlers() {
  static std::once_flag once;
  std::call_once(once, [] {
    tiff_global_handlers().previous_error = TIFFSetErrorHandler(tiff_error_handler);
    tiff_global_handlers().previous_warning = TIFFSetWarningHandler(tiff_warning_handler);
  });
}

#if defined(TIFFLIB_VERSION) && TIFFLIB_VERSION >= 20221213
// Per-handle handlers (libtiff >= 4.5): messages tied to our handle never reach the global ones.
inline int tiff_handle_error(TIFF*, void*, const char* module, const char* fmt, va_list ap) {
  append_tiff_message(tiff_messages().errors, module, fmt, ap);
  return 1;
}
inline int tiff_handle_warning(TIFF*, void*, const char* module, const char* fmt, va_list ap) {
  append_tiff_message(tiff_messages().warnings, module, fmt, ap);
  return 1;
}
#define QANET_TIFF_OPEN_OPTIONS 1
#endif

// Marks the current thread as inside a qanet TIFF call and clears earlier messages.
class TiffMessageScope {
 public:
  TiffMessageScope() {
    install_tiff_handlers();
    TiffMessages& m = tiff_messages();
    if (m.depth++ == 0) {
      m.errors.clear();
      m.warnings.clear();
    }
  }
  ~TiffMessageScope() { --tiff_messages().depth; }
  TiffMessageScope(const TiffMessageScope&) = delete;
  TiffMessageScope& operator=(const TiffMessageScope&) = delete;
};

// " (libtiff: ...)" with what libtiff said, or "" when it said nothing.
inline std::string tiff_said() {
  const TiffMessages& m = tiff_messages();
  const std::string& s = m.errors.empty() ? m.warnings : m.errors;
  return s.empty() ? std::string() : " (libtiff: " + s + ")";
}

// IoError "<verb> <file>: <problem> (libtiff: ...)".
[[noreturn]] inline void throw_tiff_error(const std::string& verb, const std::filesystem::path& file,
                                          const std::string& problem) {
  throw IoError(verb + " " + file.string() + ": " + problem + tiff_said());
}

// An open TIFF file. Must live inside a TiffMessageScope.
class TiffHandle {
 public:
  // mode "r" or "w" (libtiff modes; "w8" for BigTIFF).
  TiffHandle(const std::filesystem::path& path, const char* mode, const std::filesystem::path& named)
      : named_(named) {
#ifdef QANET_TIFF_OPEN_OPTIONS
    TIFFOpenOptions* opts = TIFFOpenOptionsAlloc();
    TIFFOpenOptionsSetErrorHandlerExtR(opts, tiff_handle_error, nullptr);
    TIFFOpenOptionsSetWarningHandlerExtR(opts, tiff_handle_warning, nullptr);
    tif_ = TIFFOpenExt(path.c_str(), mode, opts);
    TIFFOpenOptionsFree(opts);
#else
    tif_ = TIFFOpen(path.c_str(), mode);
#endif
    if (!tif_) {
      if (mode[0] == 'r') throw_tiff_error("cannot read", named_, "not a TIFF file, or truncated or corrupt");
      throw_tiff_error("cannot write", named_, "cannot create the file");
    }
  }
  ~TiffHandle() {
    if (tif_) TIFFClose(tif_);
  }
  TiffHandle(const TiffHandle&) = delete;
  TiffHandle& operator=(const TiffHandle&) = delete;

  TIFF* get() const { return tif_; }
  // Closes now (flushing a file being written); errors are reported, not swallowed.
  void close() {
    if (!tif_) return;
    TIFF* t = tif_;
    tif_ = nullptr;
    TIFFClose(t);
  }

 private:
  TIFF* tif_ = nullptr;
  std::filesystem::path named_;
};

}  // namespace qanet::detail
