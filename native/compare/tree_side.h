// A directory tree as one side of the tree comparer (compare/dir_compare.h). It is read the way the walker reads:
// each directory is opened beneath the root's descriptor without following any symlink (fs/beneath.h), and
// every name is examined with the *at calls on that directory, so a tree changing meanwhile (a live session)
// never leads the comparison out of it.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "compare/dir_compare.h"
#include "fs/mounts.h"
#include "util/fd.h"

namespace casper {

class TreeSide : public CompareSide {
 public:
  // How its paths are printed: kPath "<shown>/etc/x" (a directory), kColon "<shown>:/etc/x" (a view named
  // by a word, e.g. "restored:/etc/x").
  enum class Label { kPath, kColon };
  // root: the directory (opened once, following symlinks in root itself); mounts: tell the entries that have
  // something mounted on them. Throws NativeError (ENOENT, ENOTDIR, …) when root cannot be opened.
  TreeSide(const std::string& root, Label style, std::string shown, bool mounts);
  std::string label(const std::string& rel) const override;
  int enter(const std::string& rel, uint64_t handle, std::vector<SideEntry>& out) override;
  int attrs(const SideEntry* e, EntryAttrs& out) override;
  bool mount_point(const SideEntry& e) override;
  int open_file(const SideEntry& e) override;
  // A descriptor of the root (a duplicate, the caller's to close), to open files beneath it later.
  Fd root_dup() const;

 private:
  std::string root_path_;
  Label style_;
  std::string shown_;
  Fd root_, cur_;  // the root, and the directory entered last
  std::string cur_rel_;
  std::unique_ptr<MountPoints> mounts_;
};

}  // namespace casper
