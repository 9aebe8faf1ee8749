// Walks a source directory into a Tree: lstat, readlink and xattrs for every entry, never following symlinks.
#pragma once
#include "util/cancel.h"
#include <string>
#include <vector>

#include "traverse/tree.h"

namespace casper {

class PlanFeed;

struct WalkOptions {
  bool xattrs = true;
  bool one_file_system = false;
  // Image paths (like "/proc") left out entirely.
  std::vector<std::string> exclude;
  // Image paths kept as empty directories (their contents left out).
  std::vector<std::string> empty_dirs;
  // Image paths of regular files stored empty, same owner and mode (--scrub's /etc/machine-id).
  std::vector<std::string> truncate;
  // Inodes never captured wherever they appear (the output image and its temporary file).
  std::vector<std::pair<uint64_t, uint64_t>> exclude_inodes;  // (dev, ino)
  // Overlay upper layers (upper mode). Xattr names starting with any of these are dropped (overlay
  // bookkeeping that means nothing in another stack: origin, impure, uuid, …).
  std::vector<std::string> drop_xattr_prefixes;
  // Image paths (and what lies below) where xattrs SquashFS cannot store are expected, e.g. journald's POSIX
  // ACLs on /var/log/journal: counted apart, so the warning is kept for the unexpected ones.
  std::vector<std::string> expected_system_xattrs;
  // The xattr that marks an opaque directory ("trusted.overlay.opaque", or "user.overlay.opaque" under
  // userxattr) and the one that marks a redirected directory. Empty: no overlay handling.
  std::string opaque_xattr;
  std::string redirect_xattr;
  // The merged view of the overlay: a redirected directory is captured from there, whole, and made opaque,
  // so the image re-layers on a kernel mounted without redirect_dir.
  std::string merged_root;
  // Read file data from this tree instead (overlay upper mode: the merged view, so metacopy-only files
  // get their data from the lower layers).
  std::string data_root;
  // aufs upper branch: .wh.NAME becomes an overlayfs whiteout NAME, .wh..wh..opq makes its directory opaque,
  // other .wh..wh.* bookkeeping is dropped.
  bool aufs = false;
  // Diff mode: the source is the merged view and this is the lower view (the read-only layers). Only what
  // differs is captured; names gone from the merged view become whiteouts. Empty: a plain walk.
  std::string lower_root;
  // Cumulative saves in upper mode: the tree of the image being replaced (the lower layer directly beneath the
  // upper), merged under the upper as overlayfs merges them — upper entries win, upper whiteouts remove, opaque
  // upper directories hide what the image held there — so the new image holds every session so far.
  std::string fold_root;
  // With fold_root: the view of the layers beneath the replaced one. An upper whiteout is kept only where it
  // still hides something there (a file made in an earlier session and deleted in this one is simply gone).
  std::string beneath_root;
  // Diff mode: also compare the contents of files whose metadata is equal.
  bool compare_contents = false;
  // Unreadable entries (EACCES, EIO, …) are left out and listed in Tree::skipped instead of failing.
  bool ignore_errors = false;
  CancelFlag cancel;
  // Optional progress for a caller on another thread: [0] entries found, [1] regular file bytes found
  // (relaxed atomic stores; a diff-mode walk that must be taken again starts over).
  uint64_t* progress = nullptr;
  // The walk overlapped with the data phase (traverse/plan_feed.h): each directory's files are published here
  // once their entries are final, and the feed is closed at the end (failed on an error). Not with
  // lower_root (diff mode may walk again).
  PlanFeed* feed = nullptr;
};

// Throws NativeError naming the path on any failure.
Tree walk_tree(const std::string& root, const WalkOptions& opts);
// One walk (never diff mode, which may walk twice) into a tree the caller owns. With opts.feed the tree is read
// beside the walk only through the feed, which the caller closes (or fails) once it has read what it needs of
// the finished tree.
void walk_tree_into(Tree& tree, const std::string& root, const WalkOptions& opts);

}  // namespace casper
