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
#include "util/fd.h"

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
    tree_.data_root = opts_.data_root;
    Entry e;
    fill(e, st);
    tree_.entries.push_back(e);
    read_xattrs(0, root);
    root_dev_ = uint64_t(st.st_dev);
    std::vector<DevIno> stack{{uint64_t(st.st_dev), uint64_t(st.st_ino)}};
    walk_dir(0, root == "/" ? "" : strip_slash(root), "", stack, opts_.lower_root.empty() ? "" : strip_slash(opts_.lower_root));
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

  // lower: in diff mode, the same directory in the lower view ("" when it has none there).
  void walk_dir(uint32_t dir, const std::string& path, const std::string& ipath, std::vector<DevIno>& stack,
                const std::string& lower) {
    check_cancel();
    std::string dpath = path.empty() ? "/" : path;
    DIR* d = ::opendir(dpath.c_str());
    if (!d) {
      if (tolerate(errno, dpath, "opendir")) return;  // kept as an empty directory
      throw sys_error(errno, "opendir", dpath);
    }
    struct Name {
      std::string image, disk;  // the name in the image, the name on disk
      bool lower_only = false;  // diff mode: gone from the merged view, becomes a whiteout
      bool operator<(const Name& o) const { return image < o.image; }
    };
    std::vector<Name> names;
    bool aufs_opaque = false;
    errno = 0;
    while (struct dirent* de = ::readdir(d)) {
      const char* n = de->d_name;
      if (n[0] == '.' && (n[1] == 0 || (n[1] == '.' && n[2] == 0))) continue;
      std::string name(n);
      if (opts_.aufs && name.rfind(".wh.", 0) == 0) {
        if (name == ".wh..wh..opq") aufs_opaque = true;
        else if (name.rfind(".wh..wh.", 0) != 0) names.push_back({name.substr(4), name});  // whiteout
        errno = 0;
        continue;  // other .wh..wh.* entries are aufs bookkeeping
      }
      names.push_back({name, name});
      errno = 0;
    }
    int err = errno;
    ::closedir(d);
    if (err && !tolerate(err, dpath, "readdir")) throw sys_error(err, "readdir", dpath);
    std::set<std::string> lower_names = lower.empty() ? std::set<std::string>{} : list_names(lower);
    if (!lower.empty()) {
      std::set<std::string> merged_names;
      for (auto& n : names) merged_names.insert(n.image);
      for (auto& ln : lower_names)
        if (!merged_names.count(ln)) names.push_back({ln, ln, true});
    }
    // bytewise: std::char_traits<char> compares as unsigned char
    std::sort(names.begin(), names.end());
    if (aufs_opaque) add_xattr(dir, opts_.opaque_xattr, "y");

    // First pass: the children as contiguous entries.
    uint32_t first = uint32_t(tree_.entries.size());
    std::vector<std::string> child_paths;
    std::vector<std::string> child_ipaths;
    std::vector<std::string> child_lowers;  // diff mode: lower path of a child directory present in both
    std::vector<bool> child_prunable;       // diff mode: present in both with equal attributes
    for (auto& nm : names) {
      const std::string& n = nm.image;
      const std::string& disk_name = nm.disk;
      std::string cpath = path + "/" + disk_name;
      std::string cipath = ipath + "/" + n;
      if (exclude_.count(cipath)) continue;
      if (nm.lower_only) {
        tree_.entries.push_back(whiteout(dir, n));
        child_paths.push_back(std::move(cpath));
        child_ipaths.push_back(std::move(cipath));
        child_lowers.emplace_back();
        child_prunable.push_back(false);
        continue;
      }
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
      std::string child_lower;
      bool prunable = false;
      if (lower_names.count(n)) {
        std::string lpath = lower + "/" + n;
        struct stat lst;
        if (::lstat(lpath.c_str(), &lst) == 0) {
          bool same = same_attributes(st, lst, cpath, lpath);
          if (S_ISDIR(st.st_mode) && S_ISDIR(lst.st_mode)) {
            child_lower = lpath;  // recurse into both; kept only if something below differs
            prunable = same;
          } else if (same) {
            continue;  // unchanged since the lower layers: not captured
          }
        }
      }
      Entry e;
      fill(e, st);
      if (n != disk_name) {  // an aufs whiteout becomes an overlayfs one: a 0:0 character device
        e.mode = S_IFCHR;
        e.rdev = 0;
        e.size = 0;
      }
      e.parent = dir;
      e.name_off = uint32_t(tree_.arena.size());
      e.name_len = uint32_t(n.size());
      tree_.arena += n;
      if (S_ISLNK(e.mode)) {
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
      if (!S_ISDIR(e.mode) && st.st_nlink > 1 && n == disk_name) {
        auto [it, inserted] = links_.emplace(key, uint32_t(tree_.entries.size()));
        if (!inserted) e.link_primary = it->second;
      }
      tree_.entries.push_back(e);
      child_paths.push_back(std::move(cpath));
      child_ipaths.push_back(std::move(cipath));
      child_lowers.push_back(std::move(child_lower));
      child_prunable.push_back(prunable);
    }
    uint32_t count = uint32_t(tree_.entries.size()) - first;
    tree_.entries[dir].first_child = count ? first : kNone;
    tree_.entries[dir].child_count = count;

    // Second pass: xattrs, then recursion into subdirectories.
    for (uint32_t k = 0; k < count; k++) {
      uint32_t idx = first + k;
      if (tree_.entries[idx].link_primary == kNone && !whiteouts_.count(idx)) read_xattrs(idx, child_paths[k]);
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
      if (redirected_.count(idx)) {
        // Renamed directory in an overlay upper: take its whole merged content and make it opaque.
        add_xattr(idx, opts_.opaque_xattr, "y");
        walk_dir(idx, merged_path(child_ipaths[k]), child_ipaths[k], stack, "");
      } else {
        walk_dir(idx, child_paths[k], child_ipaths[k], stack, child_lowers[k]);
      }
      stack.pop_back();
      if (child_prunable[k] && live_children(idx) == 0) {
        tree_.entries[idx].skipped = true;  // diff mode: nothing below differs from the lower view
        tree_.entries[dir].subdirs--;
      }
    }
  }

  uint32_t live_children(uint32_t idx) const {
    const Entry& e = tree_.entries[idx];
    uint32_t n = 0;
    for (uint32_t k = 0; k < e.child_count; k++) n += !tree_.entries[e.first_child + k].skipped;
    return n;
  }

  Entry whiteout(uint32_t parent, const std::string& name) {
    Entry e;
    e.mode = S_IFCHR;  // an overlayfs whiteout: character device 0:0
    e.mtime = tree_.entries[parent].mtime;
    e.parent = parent;
    e.name_off = uint32_t(tree_.arena.size());
    e.name_len = uint32_t(name.size());
    tree_.arena += name;
    whiteouts_.insert(uint32_t(tree_.entries.size()));
    return e;
  }

  std::set<std::string> list_names(const std::string& dpath) {
    std::set<std::string> out;
    DIR* d = ::opendir(dpath.c_str());
    if (!d) {
      if (errno == ENOENT || errno == ENOTDIR) return out;
      throw sys_error(errno, "opendir", dpath);
    }
    while (struct dirent* de = ::readdir(d)) {
      const char* n = de->d_name;
      if (n[0] == '.' && (n[1] == 0 || (n[1] == '.' && n[2] == 0))) continue;
      out.insert(n);
    }
    ::closedir(d);
    return out;
  }

  // Diff mode: equal type, permissions, owner, size, mtime, device, link target, xattrs (and contents
  // when asked) means the merged entry is the lower one: nothing to capture.
  bool same_attributes(const struct stat& m, const struct stat& l, const std::string& mpath, const std::string& lpath) {
    if ((m.st_mode & S_IFMT) != (l.st_mode & S_IFMT) || (m.st_mode & 07777) != (l.st_mode & 07777)) return false;
    if (m.st_uid != l.st_uid || m.st_gid != l.st_gid) return false;
    if (m.st_mtim.tv_sec != l.st_mtim.tv_sec || m.st_mtim.tv_nsec != l.st_mtim.tv_nsec) return false;
    if (S_ISREG(m.st_mode) && m.st_size != l.st_size) return false;
    if ((S_ISCHR(m.st_mode) || S_ISBLK(m.st_mode)) && m.st_rdev != l.st_rdev) return false;
    if (S_ISLNK(m.st_mode) && link_target(mpath) != link_target(lpath)) return false;
    if (opts_.xattrs && xattr_list(mpath) != xattr_list(lpath)) return false;
    if (S_ISREG(m.st_mode) && opts_.compare_contents && !same_file_content(mpath, lpath, uint64_t(m.st_size))) return false;
    return true;
  }

  static std::string link_target(const std::string& p) {
    std::string t(4097, '\0');
    ssize_t r = ::readlink(p.c_str(), t.data(), t.size());
    if (r < 0) throw sys_error(errno, "readlink", p);
    t.resize(size_t(r));
    return t;
  }

  static std::vector<XattrPair> xattr_list(const std::string& p) {
    std::vector<XattrPair> out;
    ssize_t n = ::llistxattr(p.c_str(), nullptr, 0);
    if (n <= 0) return out;
    std::string list(size_t(n), '\0');
    n = ::llistxattr(p.c_str(), list.data(), list.size());
    if (n < 0) return out;
    list.resize(size_t(n));
    for (size_t pos = 0; pos < list.size();) {
      std::string key(list.c_str() + pos);
      pos += key.size() + 1;
      if (key.rfind("trusted.overlay.", 0) == 0 || key.rfind("system.", 0) == 0) continue;
      ssize_t vn = ::lgetxattr(p.c_str(), key.c_str(), nullptr, 0);
      std::string v(vn > 0 ? size_t(vn) : 0, '\0');
      if (vn > 0) vn = ::lgetxattr(p.c_str(), key.c_str(), v.data(), v.size());
      v.resize(vn > 0 ? size_t(vn) : 0);
      out.push_back({key, v});
    }
    std::sort(out.begin(), out.end(), [](const XattrPair& a, const XattrPair& b) { return a.key < b.key; });
    return out;
  }

  static bool same_file_content(const std::string& a, const std::string& b, uint64_t size) {
    Fd fa(::open(a.c_str(), O_RDONLY | O_CLOEXEC)), fb(::open(b.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fa.valid() || !fb.valid()) return false;
    std::vector<uint8_t> x(1 << 20), y(1 << 20);
    for (uint64_t off = 0; off < size; off += x.size()) {
      size_t n = size_t(std::min<uint64_t>(x.size(), size - off));
      if (pread_full(fa.get(), x.data(), n, off, a) != n || pread_full(fb.get(), y.data(), n, off, b) != n) return false;
      if (std::memcmp(x.data(), y.data(), n) != 0) return false;
    }
    return true;
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
      if (!opts_.redirect_xattr.empty() && key == opts_.redirect_xattr) {
        redirected_.insert(idx);
        continue;
      }
      if (dropped(key)) continue;
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
    intern_xattrs(idx, std::move(set));
  }

  bool dropped(const std::string& key) const {
    for (auto& p : opts_.drop_xattr_prefixes)
      if (key.rfind(p, 0) == 0) return true;
    return false;
  }

  // Stores the entry's set once per distinct content (identical sets share one xattr id).
  void intern_xattrs(uint32_t idx, std::vector<XattrPair> set) {
    if (set.empty()) {
      tree_.entries[idx].xattr_set = kNone;
      return;
    }
    std::sort(set.begin(), set.end(), [](const XattrPair& a, const XattrPair& b) { return a.key < b.key; });
    std::string sig;
    for (auto& p : set) sig += std::to_string(p.key.size()) + ":" + p.key + std::to_string(p.value.size()) + ":" + p.value;
    auto [it, inserted] = xattr_index_.emplace(sig, uint32_t(tree_.xattr_sets.size()));
    if (inserted) tree_.xattr_sets.push_back(std::move(set));
    tree_.entries[idx].xattr_set = it->second;
  }

  // Sets key=value on an entry (replacing any value), keeping sets shared.
  void add_xattr(uint32_t idx, const std::string& key, const std::string& value) {
    if (key.empty()) return;
    uint32_t cur = tree_.entries[idx].xattr_set;
    std::vector<XattrPair> set = cur == kNone ? std::vector<XattrPair>{} : tree_.xattr_sets[cur];
    set.erase(std::remove_if(set.begin(), set.end(), [&](const XattrPair& p) { return p.key == key; }), set.end());
    set.push_back({key, value});
    intern_xattrs(idx, std::move(set));
  }

  std::string merged_path(const std::string& ipath) const {
    std::string base = opts_.merged_root;
    while (base.size() > 1 && base.back() == '/') base.pop_back();
    return (base == "/" ? "" : base) + ipath;
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
  std::set<uint32_t> redirected_;  // directories carrying the overlay redirect xattr
  std::set<uint32_t> whiteouts_;   // diff mode: whiteouts for names gone from the merged view
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
