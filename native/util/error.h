// Native errors carry what a JS caller needs: an errno-style code, the failing syscall and the path.
// They are thrown inside native code and turned into JS errors only at the binding layer.
#pragma once
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>

#include "util/printable.h"

namespace casper {

struct NativeError : std::runtime_error {
  static constexpr uint64_t kNoOffset = ~uint64_t(0);
  std::string code;     // "ENOENT", "EACCES", … or a casper code such as "ESQUASH_LIMIT"
  std::string syscall;  // empty when not from a syscall
  std::string path;     // empty when not tied to a path
  // A corrupt image (CorruptError, read/image_file.h): the part being read and the byte offset in the image.
  // Fields of the base type, so a copy (capture_error) keeps them and the JS error carries them.
  std::string table;            // empty for other errors
  uint64_t offset = kNoOffset;  // kNoOffset when the fault is not at one place
  NativeError(std::string code_, std::string message, std::string syscall_ = "", std::string path_ = "")
      : std::runtime_error(std::move(message)),
        code(std::move(code_)),
        syscall(std::move(syscall_)),
        path(std::move(path_)) {}
};

// A bug, never bad input: native code called in an order its contract forbids (a stage machine's method out of
// turn, a task's result given twice). Its own code, so no caller mistakes it for a bad option (EINVAL).
inline NativeError call_order_fault(const std::string& what) {
  return NativeError("EINTERNAL_ORDER", "internal: " + what);
}

const char* errno_name(int err);

// A failed syscall on `path`: message like "open '/x': Permission denied" (the path escaped for a terminal).
inline NativeError sys_error(int err, const char* syscall, const std::string& path) {
  std::string msg =
      std::string(syscall) + (path.empty() ? "" : " '" + printable(path) + "'") + ": " + std::strerror(err);
  return NativeError(errno_name(err), msg, syscall, path);
}

// For work off the JS thread or in worker threads: runs fn and returns its failure, or null, so nothing is
// thrown across threads. A NativeError comes back as it is; bad_alloc as ENOMEM; anything else EINTERNAL.
std::unique_ptr<NativeError> capture_error(const std::function<void()>& fn);

}  // namespace casper
