#include "fs/xattrs.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "fs/beneath.h"

namespace casper {

namespace {

#ifndef SYS_listxattrat
#define SYS_listxattrat 465  // Linux 6.13; new system calls have one number on every architecture
#endif

// Off once the kernel (ENOSYS) or a seccomp filter (EPERM) refuses it, or when the environment says so.
std::atomic<bool> g_no_listxattrat{[] {
  const char* v = std::getenv("CASPER_SNAPSHOT_NO_LISTXATTRAT");
  return v != nullptr && std::strcmp(v, "1") == 0;
}()};

// The name list: listxattrat where the kernel has it (about 0.6 us a name against 3.5 us for a /proc path
// lookup on the walk's hot path), else llistxattr on at_path() (made on first use into lpath).
ssize_t list_names(int dir_fd, const std::string& name, const std::string& fallback, std::string& lpath, char* buf,
                   size_t size) {
  if (!g_no_listxattrat.load(std::memory_order_relaxed)) {
    unsigned flags = AT_SYMLINK_NOFOLLOW | (name.empty() ? AT_EMPTY_PATH : 0);
    ssize_t n = ::syscall(SYS_listxattrat, dir_fd, name.c_str(), flags, buf, size);
    if (n >= 0 || (errno != ENOSYS && errno != EPERM)) return n;
    g_no_listxattrat.store(true, std::memory_order_relaxed);
  }
  if (lpath.empty()) lpath = at_path(dir_fd, name, fallback);
  return ::llistxattr(lpath.c_str(), buf, size);
}

}  // namespace

int read_xattrs(int dir_fd, const std::string& name, const std::string& fallback_path,
                std::vector<std::pair<std::string, std::string>>& out) {
  out.clear();
  std::string list, lpath;
  for (int attempt = 0;; attempt++) {  // the list can grow between sizing and reading it: ERANGE, again
    ssize_t n = list_names(dir_fd, name, fallback_path, lpath, nullptr, 0);
    if (n < 0) return errno == ENOTSUP ? 0 : errno;
    if (n == 0) return 0;
    list.assign(size_t(n), '\0');
    n = list_names(dir_fd, name, fallback_path, lpath, list.data(), list.size());
    if (n >= 0) {
      list.resize(size_t(n));
      break;
    }
    if (errno != ERANGE || attempt == 3) return errno;
  }
  if (lpath.empty()) lpath = at_path(dir_fd, name, fallback_path);  // values: the l* calls through the held directory
  for (size_t pos = 0; pos < list.size();) {
    std::string key(list.c_str() + pos);
    pos += key.size() + 1;
    if (key.empty()) continue;
    std::string value;
    for (int attempt = 0;; attempt++) {
      ssize_t vn = ::lgetxattr(lpath.c_str(), key.c_str(), nullptr, 0);
      if (vn < 0) {
        if (errno == ENODATA) goto next;  // removed meanwhile
        return errno;
      }
      value.assign(size_t(vn), '\0');
      vn = vn == 0 ? 0 : ::lgetxattr(lpath.c_str(), key.c_str(), value.data(), value.size());
      if (vn >= 0) {
        value.resize(size_t(vn));
        break;
      }
      if (errno == ENODATA) goto next;
      if (errno != ERANGE || attempt == 3) return errno;
    }
    out.emplace_back(std::move(key), std::move(value));
  next:;
  }
  return 0;
}

}  // namespace casper
