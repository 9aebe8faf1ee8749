// Who could have written a --base image. Its blocks are copied into the new image as they are stored, so a
// base is taken only when nobody but the user running the snapshot (or root) could have written it. The
// checks and the open are one step: the directory is opened and checked, the image is opened beneath it
// (O_NOFOLLOW|O_NONBLOCK: a symlink is refused, a FIFO cannot block) and checked with fstat, and from then on
// only that descriptor is read, never the path again.
#pragma once
#include <string>

#include "util/fd.h"

namespace casper {

struct BaseOpen {
  Fd fd;                // the image, open read-only (invalid when refused)
  std::string refused;  // why the base is not used at all (empty: it may be used)
  // Non-empty: the filesystem does not keep file ownership (FAT, exFAT, NTFS, FUSE, network filesystems…),
  // so the checks above prove nothing; every file taken from the base must be compared with the source.
  std::string content_only;
};

// Never throws for a base that cannot be used (refused says why); throws NativeError only for ENOMEM.
BaseOpen open_base(const std::string& path);

}  // namespace casper
