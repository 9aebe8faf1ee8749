// Mount points below a captured root. A name with something mounted on it (a directory or a file, from any
// filesystem, also a bind of the root's own filesystem) shows the mounted object; with one-file-system the
// walk must capture neither its data nor its listing.
#pragma once
#include <string>

namespace casper {

class MountPoints {
 public:
  // root_fd: the walk's root directory (its mount is the one being captured).
  explicit MountPoints(int root_fd);
  // Whether `name` in the directory held by dir_fd (on the root's mount) has something mounted on it. Never
  // follows a symlink; false when the name is gone (the caller's own calls report that).
  bool is_mount_point(int dir_fd, const std::string& name) const;
  // How it is told: "statx" (STATX_ATTR_MOUNT_ROOT, Linux 5.8+), "fdinfo" (the mount id in
  // /proc/self/fdinfo, Linux 3.15+, compared with the root's) or "none" (neither available: mount points are
  // known only by a device number differing from the root's).
  const char* method() const;

 private:
  enum class Method { kStatx, kFdinfo, kNone };
  Method method_ = Method::kNone;
  int root_mount_id_ = -1;
};

// CASPER_SNAPSHOT_NO_STATX_MOUNT_ROOT=1 in the environment forces the fdinfo method (how tests cover kernels
// before 5.8).

}  // namespace casper
