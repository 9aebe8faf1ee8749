// The one tree comparer: two trees entry by entry (names, type, mode, owner, mtime, xattrs, symlink targets,
// device numbers, sizes, contents, hard links), like diff -r. Each tree is a CompareSide: an image's tree
// (compare/image_side.h) or a directory read beneath a descriptor (compare/tree_side.h). `verify IMAGE DIR` compares
// an image with a directory; --verify's restore proof compares a re-layered view with the live session.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "compare/difference.h"
#include "format/constants.h"
#include "util/cancel.h"
#include "util/printable.h"

namespace casper {

// What the comparer reads of one entry.
struct EntryAttrs {
  uint16_t basic = 0;  // the SquashFS basic type (InodeType, format/constants.h): kDir .. kSocket
  uint32_t mode = 0;   // permission bits (07777)
  uint32_t uid = 0, gid = 0;
  int64_t mtime = 0;  // seconds (SquashFS keeps no more)
  uint64_t size = 0;  // regular files
  uint32_t dev_major = 0, dev_minor = 0;
  std::string target;                            // symlinks
  std::map<std::string, std::string> xattrs;     // user., trusted. and security. (what SquashFS stores)
  std::pair<uint64_t, uint64_t> identity{0, 0};  // equal for two names of one inode (hard links)
};

struct SideEntry {
  std::string name;
  uint64_t handle = 0;  // the side's own reference to the entry (an image node); unused by a directory tree
};

class CompareSide {
 public:
  virtual ~CompareSide() = default;
  // How a path ("/etc/x") of this side is printed in a difference line.
  virtual std::string label(const std::string& rel) const = 0;
  virtual uint64_t root_handle() const { return 0; }
  // Makes directory rel the current one (handle: its SideEntry's) and lists it, sorted bytewise; 0 or an errno.
  virtual int enter(const std::string& rel, uint64_t handle, std::vector<SideEntry>& out) = 0;
  // The attributes of an entry of the current directory, or of the root when e is null; 0 or an errno.
  virtual int attrs(const SideEntry* e, EntryAttrs& out) = 0;
  // Something is mounted on this entry of the current directory (it is left out of the comparison).
  virtual bool mount_point(const SideEntry& e) { return false; }
  // Opens a regular file of the current directory for reading: an fd, or -1 with errno set.
  virtual int open_file(const SideEntry& e);
};

struct CompareOptions {
  std::set<std::string> ignore;  // fields left out: mode owner mtime xattrs content links
  std::set<std::string> skip;    // paths left out on both sides, with everything below them
  // The kinds of a name found on one side only.
  std::string only_a = "only-in-image", only_b = "only-in-dir";
  CancelFlag cancel;
  uint64_t* progress = nullptr;  // entries compared (relaxed atomic adds)
  // Regular files of the same size: with this, handed over (an image's data is read later, with the data
  // phase); without it, both sides are read now. content_filter (may be null): only these paths are read.
  // b_identity: the (device, inode) b's attrs gave, so only that file is read later.
  std::function<void(const std::string& rel, const SideEntry& a, const SideEntry& b,
                     std::pair<uint64_t, uint64_t> b_identity)>
      defer_content;
  const std::set<std::string>* content_filter = nullptr;
};

// Appends the differences to out, sorted like diff -r's (depth first, name order), and the paths left out
// because something is mounted on them to mounts. Throws NativeError when a root cannot be read at all.
void compare_trees(CompareSide& a, CompareSide& b, const CompareOptions& o, std::vector<TreeDifference>& out,
                   std::vector<std::string>& mounts);

}  // namespace casper
