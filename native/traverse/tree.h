// The captured tree as compact native records: one Entry per name, names and link targets in one arena.
// Children of a directory are contiguous and sorted bytewise, as the directory table requires.
#pragma once
#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "format/xattr_pair.h"
#include "util/fd.h"

namespace casper {

constexpr uint32_t kNone = 0xFFFFFFFFu;

// What a regular file's data must still be when it is read: the inode the walk saw (in the tree its data is
// read from) and its size and times. A read from another inode, or a file whose size, mtime or ctime
// differ after its blocks were read, is "replaced" or "changed", never silently stored.
struct FileStamp {
  uint64_t dev = 0, ino = 0, size = 0;
  int64_t mtime_sec = 0, ctime_sec = 0;
  uint32_t mtime_nsec = 0, ctime_nsec = 0;
  bool operator==(const FileStamp& o) const {
    return dev == o.dev && ino == o.ino && size == o.size && mtime_sec == o.mtime_sec && mtime_nsec == o.mtime_nsec &&
           ctime_sec == o.ctime_sec && ctime_nsec == o.ctime_nsec;
  }
  bool operator!=(const FileStamp& o) const { return !(*this == o); }
};

inline FileStamp stamp_of(const struct stat& st) {
  FileStamp s;
  s.dev = uint64_t(st.st_dev);
  s.ino = uint64_t(st.st_ino);
  s.size = uint64_t(st.st_size);
  s.mtime_sec = st.st_mtim.tv_sec;
  s.mtime_nsec = uint32_t(st.st_mtim.tv_nsec);
  s.ctime_sec = st.st_ctim.tv_sec;
  s.ctime_nsec = uint32_t(st.st_ctim.tv_nsec);
  return s;
}

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
  uint32_t stamp = kNone;  // regular files with data: index into Tree::stamps
  mode_t mode = 0;
  uint32_t uid = 0, gid = 0;
  int64_t mtime = 0;
  uint64_t size = 0;
  uint64_t rdev = 0;
  uint64_t dev = 0, ino = 0;
  uint64_t disk_bytes = 0;  // st_blocks * 512, to spot possibly sparse files
  bool skipped = false;     // vanished or unreadable: left out of the image
  bool from_base = false;   // unchanged since the --base image: its stored data is copied (image/base_image.h)
};

// A regular file whose bytes are read in the data phase (hard links share their primary's).
inline bool has_data(const Entry& e) {
  return S_ISREG(e.mode) && e.link_primary == kNone && e.size > 0 && !e.skipped && e.stamp != kNone;
}

struct SkippedPath {
  std::string path;
  std::string code;  // ENOENT (vanished), EACCES, EIO, …
};

struct Tree {
  std::vector<Entry> entries;  // entries[0] is the root directory
  std::string arena;
  std::vector<std::vector<XattrPair>> xattr_sets;  // distinct sets, keys sorted
  uint64_t skipped_system_xattrs = 0;              // system.* (POSIX ACLs) cannot be stored
  uint64_t expected_system_xattrs = 0;             // of those, on paths where the policy expects them
  std::vector<std::string> system_xattr_paths;     // the first image paths of the others (for the warning)
  std::vector<FileStamp> stamps;
  std::string root_path;
  std::string data_root;  // when set, file data is read from here (an overlay's merged view), not root_path
  Fd data_fd;             // the directory file data is read beneath (data_root, or root_path)
  std::vector<std::string> warnings;
  std::vector<SkippedPath> skipped;   // entries left out (vanished, or unreadable with ignore_errors)
  std::vector<std::string> excluded;  // image paths an exact exclude left out (an exclude never met is warned about)

  std::string name(const Entry& e) const { return arena.substr(e.name_off, e.name_len); }
  std::string target(const Entry& e) const { return arena.substr(e.target_off, e.target_len); }
  // Absolute source path of entry i (root_path for the root).
  std::string path(uint32_t i) const;
  // Where entry i's data is read from: data_root (when set) or root_path, plus its image path.
  std::string data_path(uint32_t i) const;
  // Entry i's image path without the leading "/": where its data lies beneath data_fd.
  std::string data_rel(uint32_t i) const { return image_path(i).substr(1); }
  // Leaves entry i and everything below it out of the image.
  void leave_out(uint32_t i);
  // Path inside the image, "/" for the root.
  std::string image_path(uint32_t i) const;
};

}  // namespace casper
