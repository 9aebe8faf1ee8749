#include "fs/beneath.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>

#include "util/fd.h"

#if __has_include(<linux/openat2.h>)
#include <linux/openat2.h>
#else  // headers older than Linux 5.6: the ABI is fixed, so declare it
struct open_how {
  uint64_t flags, mode, resolve;
};
#define RESOLVE_NO_MAGICLINKS 0x02
#define RESOLVE_NO_SYMLINKS 0x04
#define RESOLVE_BENEATH 0x08
#endif
#ifndef __NR_openat2
#define __NR_openat2 437  // the same number on every architecture
#endif

namespace casper {
namespace {

// 1: openat2 works, 0: unknown yet, -1: not available (ENOSYS on kernels before 5.6) or forced off.
std::atomic<int> g_openat2{0};

int open_by_components(int root_fd, const std::string& rel, int flags) {
  Fd cur;
  int at = root_fd;
  size_t pos = 0;
  for (;;) {
    size_t slash = rel.find('/', pos);
    if (slash == std::string::npos) break;
    std::string comp = rel.substr(pos, slash - pos);
    pos = slash + 1;
    if (comp.empty()) continue;
    int fd = ::openat(at, comp.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
      // A symlink where a directory was: openat(O_PATH|O_NOFOLLOW|O_DIRECTORY) reports ENOTDIR; say ELOOP.
      if (errno == ENOTDIR) {
        int saved = errno;
        Fd probe(::openat(at, comp.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
        struct stat st;
        errno = probe.valid() && ::fstat(probe.get(), &st) == 0 && S_ISLNK(st.st_mode) ? ELOOP : saved;
      }
      return -1;
    }
    cur = Fd(fd);
    at = cur.get();
  }
  std::string last = rel.substr(pos);
  if (last.empty()) return ::openat(at, ".", (flags & ~O_NOFOLLOW) | O_CLOEXEC);
  return ::openat(at, last.c_str(), flags | O_NOFOLLOW | O_CLOEXEC);
}

}  // namespace

int open_beneath(int root_fd, const std::string& rel, int flags) {
  static const bool forced_off = [] {
    const char* v = ::getenv("CASPER_SNAPSHOT_NO_OPENAT2");
    if (v && *v && *v != '0') g_openat2.store(-1);
    return true;
  }();
  (void)forced_off;
  if (g_openat2.load(std::memory_order_relaxed) >= 0) {
    struct open_how how = {};
    how.flags = uint64_t(flags | O_NOFOLLOW | O_CLOEXEC);
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    const char* p = rel.empty() ? "." : rel.c_str();
    long fd = ::syscall(__NR_openat2, root_fd, p, &how, sizeof how);
    if (fd >= 0) {
      g_openat2.store(1, std::memory_order_relaxed);
      return int(fd);
    }
    // A path longer than PATH_MAX (any user can make one in a directory they own): the component walk has no
    // limit but the kernel's per-name one.
    if (errno == ENAMETOOLONG) return open_by_components(root_fd, rel, flags);
    // ENOSYS: kernel before 5.6. EPERM/EINVAL at the first call: a seccomp filter or an old struct size.
    bool unsupported =
        errno == ENOSYS || (g_openat2.load(std::memory_order_relaxed) == 0 && (errno == EPERM || errno == E2BIG));
    if (!unsupported) return -1;
    g_openat2.store(-1, std::memory_order_relaxed);
  }
  return open_by_components(root_fd, rel, flags);
}

std::string at_path(int dir_fd, const std::string& name, const std::string& fallback_path) {
  static const bool have_proc = ::access("/proc/self/fd", X_OK) == 0;
  if (!have_proc) return fallback_path;
  return "/proc/self/fd/" + std::to_string(dir_fd) + "/" + name;
}

}  // namespace casper
