// lockFile(fd) -> boolean: an exclusive, non-blocking flock(2) on an open file. The kernel releases it when
// the process dies, so a crashed writer never leaves a stale lock behind, and taking it is atomic.
#include <napi.h>
#include <sys/file.h>

#include <cerrno>

#include "bindings/js_error.h"
#include "util/error.h"

namespace casper {

namespace {
Napi::Value LockFile(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    int fd = info[0].ToNumber().Int32Value();
    for (;;) {
      if (::flock(fd, LOCK_EX | LOCK_NB) == 0) return Napi::Boolean::New(info.Env(), true);
      if (errno == EWOULDBLOCK) return Napi::Boolean::New(info.Env(), false);
      if (errno != EINTR) throw sys_error(errno, "flock", "");
    }
  });
}
}  // namespace

void define_file_lock(Napi::Env env, Napi::Object exports) {
  exports.Set("lockFile", Napi::Function::New(env, LockFile, "lockFile"));
}

}  // namespace casper
