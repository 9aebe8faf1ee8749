// The captured tree as compact native records: one Entry per name, names and link targets in one arena.
// Children of a directory are contiguous and sorted bytewise, as the directory table requires.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace casper {

constexpr uint32_t kNone = 0xFFFFFFFFu;

struct XattrPair {
  std::string key;  // full name, e.g. "user.comment"
  std::string value;
  bool operator==(const XattrPair& o) const { return key == o.key && value == o.value; }
  bool operator!=(const XattrPair& o) const { return !(*this == o); }
};

struct Entry {
  uint32_t parent = kNone;
  uint32_t name_off = 0;  // in Tree::arena
  uint32_t name_len = 0;
  uint32_t first_child = kNone;  // directories: children are [first_child, first_child + child_count)
  uint32_t child_count = 0;
  uint32_t link_primary = kNone;  // hard links: index of the entry that owns the inode (kNone = itself)
  uint32_t xattr_set = kNone;     // index into Tree::xattr_sets
  uint32_t target_off = 0;        // symlink target in the arena
  uint32_t target_len = 0;
  mode_t mode = 0;
  uint32_t uid = 0, gid = 0;
  int64_t mtime = 0;
  uint64_t size = 0;
  uint64_t rdev = 0;
  uint64_t dev = 0, ino = 0;
  uint64_t disk_bytes = 0;  // st_blocks * 512, to spot possibly sparse files
  uint32_t nlink = 1;       // names of this inode inside the tree (filled after the walk)
  uint32_t subdirs = 0;     // directories: number of child directories
  bool skipped = false;     // vanished or unreadable: left out of the image
};

struct SkippedPath {
  std::string path;
  std::string code;  // ENOENT (vanished), EACCES, EIO, …
};

struct Tree {
  std::vector<Entry> entries;  // entries[0] is the root directory
  std::string arena;
  std::vector<std::vector<XattrPair>> xattr_sets;  // distinct sets, keys sorted
  uint64_t skipped_system_xattrs = 0;              // system.* (POSIX ACLs) cannot be stored
  std::string root_path;
  std::string data_root;  // when set, file data is read from here (an overlay's merged view), not root_path
  std::vector<std::string> warnings;
  std::vector<SkippedPath> skipped;  // entries left out (vanished, or unreadable with ignore_errors)

  std::string name(const Entry& e) const { return arena.substr(e.name_off, e.name_len); }
  std::string target(const Entry& e) const { return arena.substr(e.target_off, e.target_len); }
  // Absolute source path of entry i (root_path for the root).
  std::string path(uint32_t i) const;
  // Where entry i's data is read from: data_root (when set) or root_path, plus its image path.
  std::string data_path(uint32_t i) const;
  // Leaves entry i and everything below it out of the image.
  void leave_out(uint32_t i);
  // Path inside the image, "/" for the root.
  std::string image_path(uint32_t i) const;
};

}  // namespace casper
