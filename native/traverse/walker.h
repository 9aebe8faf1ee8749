// Walks a source directory into a Tree: lstat, readlink and xattrs for every entry, never following symlinks.
#pragma once
#include "util/cancel.h"
#include <string>
#include <vector>

#include "traverse/tree.h"

namespace casper {

struct WalkOptions {
  bool xattrs = true;
  bool one_file_system = false;
  // Image paths (like "/proc") left out entirely.
  std::vector<std::string> exclude;
  // Image paths kept as empty directories (their contents left out).
  std::vector<std::string> empty_dirs;
  // Inodes never captured wherever they appear (the output image and its temporary file).
  std::vector<std::pair<uint64_t, uint64_t>> exclude_inodes;  // (dev, ino)
  // Unreadable entries (EACCES, EIO, …) are left out and listed in Tree::skipped instead of failing.
  bool ignore_errors = false;
  CancelFlag cancel;
};

// Throws NativeError naming the path on any failure.
Tree walk_tree(const std::string& root, const WalkOptions& opts);

}  // namespace casper
