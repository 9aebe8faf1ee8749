#include "fs/mounts.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "util/fd.h"

#ifndef STATX_ATTR_MOUNT_ROOT
#define STATX_ATTR_MOUNT_ROOT 0x00002000  // Linux 5.8; older headers lack it
#endif

namespace casper {
namespace {

// The mount id of what fd refers to, from the "mnt_id:" line of /proc/self/fdinfo/<fd>; -1 when unknown.
int mount_id_of(int fd) {
  Fd info(::open(("/proc/self/fdinfo/" + std::to_string(fd)).c_str(), O_RDONLY | O_CLOEXEC));
  if (!info.valid()) return -1;
  char buf[512];
  ssize_t n = ::read(info.get(), buf, sizeof buf - 1);
  if (n <= 0) return -1;
  buf[n] = 0;
  const char* p = std::strstr(buf, "mnt_id:");
  return p ? std::atoi(p + 7) : -1;
}

}  // namespace

MountPoints::MountPoints(int root_fd) {
  const char* no_statx = std::getenv("CASPER_SNAPSHOT_NO_STATX_MOUNT_ROOT");
  struct statx sx;
  if (!(no_statx && std::strcmp(no_statx, "1") == 0) && ::statx(root_fd, "", AT_EMPTY_PATH, 0, &sx) == 0 &&
      (sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT)) {
    method_ = Method::kStatx;
    return;
  }
  root_mount_id_ = mount_id_of(root_fd);
  if (root_mount_id_ >= 0) method_ = Method::kFdinfo;
}

bool MountPoints::is_mount_point(int dir_fd, const std::string& name) const {
  if (method_ == Method::kStatx) {
    struct statx sx;
    if (::statx(dir_fd, name.c_str(), AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, 0, &sx) != 0) return false;
    return (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
  }
  if (method_ == Method::kFdinfo) {
    Fd fd(::openat(dir_fd, name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid()) return false;
    int id = mount_id_of(fd.get());
    return id >= 0 && id != root_mount_id_;
  }
  return false;
}

const char* MountPoints::method() const {
  return method_ == Method::kStatx ? "statx" : method_ == Method::kFdinfo ? "fdinfo" : "none";
}

}  // namespace casper
