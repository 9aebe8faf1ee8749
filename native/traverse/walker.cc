#include "traverse/walker.h"

#include <dirent.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <set>
#include <cstring>
#include <unordered_map>

#include "util/error.h"

namespace casper {
namespace {

struct DevIno {
  uint64_t dev, ino;
  bool operator==(const DevIno& o) const { return dev == o.dev && ino == o.ino; }
};
struct DevInoHash {
  size_t operator()(const DevIno& k) const { return std::hash<uint64_t>()(k.dev * 0x9e3779b97f4a7c15ULL ^ k.ino); }
};

class Walker {
 public:
  Walker(const WalkOptions& o, Tree& t) : opts_(o), tree_(t) {
    exclude_.insert(o.exclude.begin(), o.exclude.end());
    empty_.insert(o.empty_dirs.begin(), o.empty_dirs.end());
    for (auto& p : o.exclude_inodes) excluded_inodes_.push_back({p.first, p.second});
  }

  void run(const std::string& root) {
    struct stat st;
    if (::lstat(root.c_str(), &st) != 0) throw sys_error(errno, "lstat", root);
    if (!S_ISDIR(st.st_mode)) throw NativeError("ENOTDIR", "source '" + root + "' is not a directory", "lstat", root);
    tree_.root_path = root;
    Entry e;
    fill(e, st);
    tree_.entries.push_back(e);
    read_xattrs(0, root);
    root_dev_ = uint64_t(st.st_dev);
    std::vector<DevIno> stack{{uint64_t(st.st_dev), uint64_t(st.st_ino)}};
    walk_dir(0, root == "/" ? "" : strip_slash(root), "", stack);
    finish_links();
  }

 private:
  static std::string strip_slash(std::string p) {
    while (p.size() > 1 && p.back() == '/') p.pop_back();
    return p;
  }

  void fill(Entry& e, const struct stat& st) {
    e.mode = st.st_mode;
    e.uid = st.st_uid;
    e.gid = st.st_gid;
    e.mtime = st.st_mtim.tv_sec;
    e.size = S_ISREG(st.st_mode) ? uint64_t(st.st_size) : 0;
    e.rdev = uint64_t(st.st_rdev);
    e.dev = uint64_t(st.st_dev);
    e.ino = uint64_t(st.st_ino);
    e.disk_bytes = uint64_t(st.st_blocks) * 512;
  }

  void check_cancel() { opts_.cancel.check(); }

  void walk_dir(uint32_t dir, const std::string& path, const std::string& ipath, std::vector<DevIno>& stack) {
    check_cancel();
    std::string dpath = path.empty() ? "/" : path;
    DIR* d = ::opendir(dpath.c_str());
    if (!d) {
      if (tolerate(errno, dpath, "opendir")) return;  // kept as an empty directory
      throw sys_error(errno, "opendir", dpath);
    }
    std::vector<std::string> names;
    errno = 0;
    while (struct dirent* de = ::readdir(d)) {
      const char* n = de->d_name;
      if (n[0] == '.' && (n[1] == 0 || (n[1] == '.' && n[2] == 0))) continue;
      names.emplace_back(n);
      errno = 0;
    }
    int err = errno;
    ::closedir(d);
    if (err && !tolerate(err, dpath, "readdir")) throw sys_error(err, "readdir", dpath);
    std::sort(names.begin(), names.end());  // bytewise: std::char_traits<char> compares as unsigned char

    // First pass: the children as contiguous entries.
    uint32_t first = uint32_t(tree_.entries.size());
    std::vector<std::string> child_paths;
    std::vector<std::string> child_ipaths;
    for (auto& n : names) {
      std::string cpath = path + "/" + n;
      std::string cipath = ipath + "/" + n;
      if (exclude_.count(cipath)) continue;
      struct stat st;
      if (::lstat(cpath.c_str(), &st) != 0) {
        if (errno == ENOENT) {
          tree_.skipped.push_back({cpath, "ENOENT"});  // vanished between readdir and lstat
          continue;
        }
        if (tolerate(errno, cpath, "lstat")) continue;
        throw sys_error(errno, "lstat", cpath);
      }
      DevIno key{uint64_t(st.st_dev), uint64_t(st.st_ino)};
      if (std::find(excluded_inodes_.begin(), excluded_inodes_.end(), key) != excluded_inodes_.end()) continue;
      Entry e;
      fill(e, st);
      e.parent = dir;
      e.name_off = uint32_t(tree_.arena.size());
      e.name_len = uint32_t(n.size());
      tree_.arena += n;
      if (S_ISLNK(st.st_mode)) {
        std::string target(size_t(st.st_size) + 1, '\0');
        ssize_t r = ::readlink(cpath.c_str(), target.data(), target.size());
        if (r < 0) {
          int e = errno;
          if (e == ENOENT || e == EINVAL) {  // vanished, or replaced by a non-link since lstat
            tree_.skipped.push_back({cpath, "ENOENT"});
            continue;
          }
          if (tolerate(e, cpath, "readlink")) continue;
          throw sys_error(e, "readlink", cpath);
        }
        target.resize(size_t(r));
        if (target.size() > 4096)
          throw NativeError("ENAMETOOLONG", "symlink target of '" + cpath + "' is longer than 4096 bytes", "readlink", cpath);
        e.target_off = uint32_t(tree_.arena.size());
        e.target_len = uint32_t(target.size());
        tree_.arena += target;
      }
      if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
        auto [it, inserted] = links_.emplace(key, uint32_t(tree_.entries.size()));
        if (!inserted) e.link_primary = it->second;
      }
      tree_.entries.push_back(e);
      child_paths.push_back(std::move(cpath));
      child_ipaths.push_back(std::move(cipath));
    }
    uint32_t count = uint32_t(tree_.entries.size()) - first;
    tree_.entries[dir].first_child = count ? first : kNone;
    tree_.entries[dir].child_count = count;

    // Second pass: xattrs, then recursion into subdirectories.
    for (uint32_t k = 0; k < count; k++) {
      uint32_t idx = first + k;
      if (tree_.entries[idx].link_primary == kNone) read_xattrs(idx, child_paths[k]);
      if (++seen_ % 4096 == 0) check_cancel();
    }
    for (uint32_t k = 0; k < count; k++) {
      uint32_t idx = first + k;
      Entry& e = tree_.entries[idx];
      if (!S_ISDIR(e.mode)) continue;
      tree_.entries[dir].subdirs++;
      if (empty_.count(child_ipaths[k])) continue;
      if (opts_.one_file_system && e.dev != root_dev_) continue;
      DevIno key{e.dev, e.ino};
      if (std::find(stack.begin(), stack.end(), key) != stack.end()) {
        tree_.warnings.push_back("directory loop at '" + child_paths[k] + "' (a bind mount of an ancestor): kept empty");
        continue;
      }
      stack.push_back(key);
      walk_dir(idx, child_paths[k], child_ipaths[k], stack);
      stack.pop_back();
    }
  }

  // With ignore_errors: records the failure and returns true (the caller leaves the entry out or empty).
  bool tolerate(int err, const std::string& path, const char* syscall) {
    if (!opts_.ignore_errors) return false;
    tree_.skipped.push_back({path, errno_name(err)});
    return true;
  }

  void read_xattrs(uint32_t idx, const std::string& path) {
    if (!opts_.xattrs) return;
    ssize_t n = ::llistxattr(path.c_str(), nullptr, 0);
    if (n < 0) {
      if (errno == ENOTSUP || errno == ENOENT) return;
      if (tolerate(errno, path, "llistxattr")) return;
      throw sys_error(errno, "llistxattr", path);
    }
    if (n == 0) return;
    std::string list(size_t(n), '\0');
    n = ::llistxattr(path.c_str(), list.data(), list.size());
    if (n < 0) throw sys_error(errno, "llistxattr", path);
    list.resize(size_t(n));
    std::vector<XattrPair> set;
    for (size_t pos = 0; pos < list.size();) {
      std::string key(list.c_str() + pos);
      pos += key.size() + 1;
      if (key.empty()) continue;
      if (key.rfind("user.", 0) != 0 && key.rfind("trusted.", 0) != 0 && key.rfind("security.", 0) != 0) {
        tree_.skipped_system_xattrs++;  // system.* (POSIX ACLs) and unknown namespaces cannot be encoded
        continue;
      }
      ssize_t vn = ::lgetxattr(path.c_str(), key.c_str(), nullptr, 0);
      if (vn < 0) {
        if (errno == ENODATA) continue;
        throw sys_error(errno, "lgetxattr", path);
      }
      std::string value(size_t(vn), '\0');
      vn = ::lgetxattr(path.c_str(), key.c_str(), value.data(), value.size());
      if (vn < 0) throw sys_error(errno, "lgetxattr", path);
      value.resize(size_t(vn));
      set.push_back({std::move(key), std::move(value)});
    }
    if (set.empty()) return;
    std::sort(set.begin(), set.end(), [](const XattrPair& a, const XattrPair& b) { return a.key < b.key; });
    std::string sig;
    for (auto& p : set) {
      sig += std::to_string(p.key.size()) + ":" + p.key + std::to_string(p.value.size()) + ":" + p.value;
    }
    auto [it, inserted] = xattr_index_.emplace(sig, uint32_t(tree_.xattr_sets.size()));
    if (inserted) tree_.xattr_sets.push_back(std::move(set));
    tree_.entries[idx].xattr_set = it->second;
  }

  // nlink: the number of names of each inode inside the tree; directories 2 + subdirectories.
  void finish_links() {
    for (auto& e : tree_.entries)
      if (!S_ISDIR(e.mode)) e.nlink = 0;
    for (uint32_t i = 0; i < tree_.entries.size(); i++) {
      Entry& e = tree_.entries[i];
      if (S_ISDIR(e.mode)) {
        e.nlink = 2 + e.subdirs;
      } else {
        uint32_t p = e.link_primary == kNone ? i : e.link_primary;
        tree_.entries[p].nlink++;
      }
    }
    for (auto& e : tree_.entries)
      if (e.link_primary != kNone) e.nlink = tree_.entries[e.link_primary].nlink;
  }

  const WalkOptions& opts_;
  Tree& tree_;
  std::set<std::string> exclude_, empty_;
  std::vector<DevIno> excluded_inodes_;
  std::unordered_map<DevIno, uint32_t, DevInoHash> links_;
  std::map<std::string, uint32_t> xattr_index_;
  uint64_t root_dev_ = 0;
  uint64_t seen_ = 0;
};

}  // namespace

Tree walk_tree(const std::string& root, const WalkOptions& opts) {
  Tree t;
  Walker w(opts, t);
  w.run(root);
  return t;
}

}  // namespace casper
