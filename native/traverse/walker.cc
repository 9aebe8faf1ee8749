// The walk holds descriptors, not paths: every directory is opened relative to its parent's descriptor with
// O_NOFOLLOW|O_DIRECTORY and checked to be the inode its parent listed, every name is examined with the *at
// calls on the held directory. Whatever is renamed or swapped for a symlink meanwhile, the walk never leaves
// the captured root; what changed under it is reported ("replaced", "vanished"), never followed.
#include "traverse/walker.h"

#include "traverse/plan_feed.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <unordered_map>

#include "fs/beneath.h"
#include "fs/dir_list.h"
#include "fs/mounts.h"
#include "fs/xattrs.h"
#include "util/error.h"
#include "util/fd.h"
#include "util/paths.h"
#include "util/same_bytes.h"

namespace casper {
namespace {

struct DevIno {
  uint64_t dev, ino;
  bool operator==(const DevIno& o) const { return dev == o.dev && ino == o.ino; }
};
struct DevInoHash {
  size_t operator()(const DevIno& k) const { return std::hash<uint64_t>()(k.dev * 0x9e3779b97f4a7c15ULL ^ k.ino); }
};

constexpr int kDirFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
constexpr size_t kMaxTarget = 4096;      // SquashFS and Linux symlink target limit
constexpr size_t kSystemXattrPaths = 5;  // image paths named in the warning about xattrs SquashFS cannot store
// A failure code for an entry that is no longer what the walk saw (swapped for a symlink, another type or
// another inode): left out, named in a warning.
const char* const kReplaced = "EREPLACED";

// A symlink's target read from its parent's descriptor; -1 with errno on failure.
ssize_t read_target(int dir_fd, const std::string& name, size_t expected, std::string& out) {
  out.assign(std::max(expected, kMaxTarget) + 1, '\0');
  ssize_t r = ::readlinkat(dir_fd, name.c_str(), out.data(), out.size());
  out.resize(r < 0 ? 0 : size_t(r));
  return r;
}

using InodeSet = std::set<std::pair<uint64_t, uint64_t>>;

class Walker {
 public:
  // force_links: diff mode's second pass, the inodes whose every name must be captured.
  Walker(const WalkOptions& o, Tree& t, InodeSet force_links = {})
      : opts_(o), tree_(t), force_links_(std::move(force_links)) {
    exclude_.insert(o.exclude.begin(), o.exclude.end());
    empty_.insert(o.empty_dirs.begin(), o.empty_dirs.end());
    truncate_.insert(o.truncate.begin(), o.truncate.end());
    for (auto& p : o.exclude_inodes) excluded_inodes_.push_back({p.first, p.second});
  }

  void run(const std::string& root) {
    // The root itself is the one path followed as given: the user named it.
    Fd root_fd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!root_fd.valid()) {
      if (errno == ENOTDIR)
        throw NativeError("ENOTDIR", "source '" + printable(root) + "' is not a directory", "open", root);
      throw sys_error(errno, "open", root);
    }
    struct stat st;
    if (::fstat(root_fd.get(), &st) != 0) throw sys_error(errno, "fstat", root);
    tree_.root_path = strip_trailing_slashes(root);
    tree_.data_root = opts_.data_root;
    tree_.data_fd =
        opts_.data_root.empty() ? Fd(::fcntl(root_fd.get(), F_DUPFD_CLOEXEC, 0)) : open_dir(opts_.data_root);
    if (!tree_.data_fd.valid()) throw sys_error(errno, "open", opts_.data_root.empty() ? root : opts_.data_root);
    if (opts_.feed) opts_.feed->set_root_fd(tree_.data_fd.get());
    if (!opts_.merged_root.empty()) merged_fd_ = open_dir(opts_.merged_root);
    Fd lower_fd;
    if (!opts_.lower_root.empty()) lower_fd = open_dir(opts_.lower_root);
    Fd fold_fd, beneath_fd;
    if (!opts_.fold_root.empty()) fold_fd = open_dir(opts_.fold_root);
    if (!opts_.beneath_root.empty()) beneath_fd = open_dir(opts_.beneath_root);
    Entry e;
    fill(e, st);
    tree_.entries.push_back(e);
    found(e);
    read_entry_xattrs(0, root_fd.get(), ".", root, "/");
    root_dev_ = uint64_t(st.st_dev);
    if (opts_.one_file_system) mounts_ = std::make_unique<MountPoints>(root_fd.get());
    Frame top;
    top.fd = std::move(root_fd);
    top.lower = std::move(lower_fd);
    top.fold = std::move(fold_fd);
    top.fold_path = strip_trailing_slashes(opts_.fold_root);
    top.beneath = std::move(beneath_fd);
    top.path = tree_.root_path == "/" ? "" : tree_.root_path;
    top.key = {uint64_t(st.st_dev), uint64_t(st.st_ino)};
    walk(std::move(top));
    if (out_of_range_mtimes_ > 0)
      tree_.warnings.push_back(
          std::to_string(out_of_range_mtimes_) +
          " entries have modification times before 1970 or after 2106, which SquashFS cannot store; "
          "stored clamped to that range (first: '" +
          printable(first_out_of_range_) + "')");
  }

  // Diff mode: inodes with a captured name and an unchanged name left out. Non-empty means the walk must
  // be taken again with these forced, or a hard link made in the session would come back as two files.
  InodeSet links_to_force() const {
    InodeSet out;
    for (auto& k : unchanged_multi_)
      if (captured_multi_.count(k)) out.insert(k);
    return out;
  }

 private:
  // An entry was added: the walk's progress for a caller on another thread (the tree itself is not shared).
  void found(const Entry& e) {
    if (!opts_.progress) return;
    if (S_ISREG(e.mode) && e.link_primary == kNone) bytes_found_ += e.size;
    __atomic_store_n(opts_.progress, uint64_t(tree_.entries.size()), __ATOMIC_RELAXED);
    __atomic_store_n(opts_.progress + 1, bytes_found_, __ATOMIC_RELAXED);
  }

  static Fd open_dir(const std::string& path) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd.valid()) throw sys_error(errno, "open", path);
    return fd;
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

  struct Name {
    std::string image, disk;  // the name in the image, the name on disk
    bool lower_only = false;  // diff mode: gone from the merged view, becomes a whiteout
    bool from_fold = false;   // cumulative upper mode: only in the replaced image, read from there
    bool operator<(const Name& o) const { return image < o.image; }  // bytewise (char_traits<char> is unsigned)
  };

  // A child of the directory being walked, as the first pass found it.
  struct Child {
    std::string path, ipath;
    bool in_lower = false;      // diff mode: a directory in both views (walked in both)
    bool prunable = false;      // diff mode: equal attributes in both views (dropped if nothing below differs)
    bool from_fold = false;     // cumulative upper mode: read from the replaced image, not the upper
    bool fold_dir = false;      // cumulative upper mode: an upper directory the replaced image also has
    bool force_opaque = false;  // cumulative upper mode: an upper directory over a non-directory of the image
  };

  // One directory on the walk's explicit stack. It stays open (with, in diff mode, the same directory in the
  // lower view) while the directories below it are walked; its children are listed when it is pushed and
  // entered one at a time.
  struct Frame {
    uint32_t dir = 0;
    Fd fd;
    Fd lower;                      // diff mode: the same directory in the lower view (invalid: it has none)
    Fd fold;                       // cumulative upper mode: the same directory in the replaced image, merged under
    std::string fold_path;         //   this upper one (invalid: none, or this one is opaque)
    Fd beneath;                    // cumulative upper mode: the same directory in the layers beneath the image
    bool fold_only = false;        // cumulative upper mode: a directory of the replaced image the upper lacks
    std::string path, ipath;       // source path ("" for "/"), image path ("" for the root)
    DevIno key{0, 0};              // for directory loops (a bind mount of an ancestor)
    bool prunable = false;         // diff mode: dropped once walked if nothing below it differs
    std::vector<Child> children;   // children[k] is entry first + k
    uint32_t first = 0, next = 0;  // next: the next child to consider entering
  };

  // Depth first, children in name order, each directory's children contiguous (the order the directory
  // table and the inode numbering rely on). Iterative: depth costs heap and descriptors, never stack.
  void walk(Frame top) {
    std::vector<Frame> frames;
    frames.push_back(std::move(top));
    list_children(frames.back());
    while (!frames.empty()) {
      Frame& f = frames.back();
      if (f.next == f.children.size()) {  // post-order: everything below f is walked
        uint32_t dir = f.dir;
        bool prunable = f.prunable;
        frames.pop_back();
        if (prunable && live_children(dir) == 0) tree_.entries[dir].skipped = true;  // diff mode: nothing differs below
        continue;
      }
      uint32_t idx = f.first + f.next++;
      if (!S_ISDIR(tree_.entries[idx].mode) || tree_.entries[idx].skipped) continue;
      Frame child;
      if (!enter(idx, f, frames, child)) continue;
      frames.push_back(std::move(child));  // f is not used past here: the push may move it
      list_children(frames.back());
    }
  }

  std::vector<Name> read_names(uint32_t dir, int dfd, const std::string& dpath, int lfd,
                               std::set<std::string>& lower_names, int ffd = -1) {
    std::vector<std::string> raw;
    if (int err = list_dir(dfd, raw)) {
      if (tolerate(err, dpath)) return {};  // kept as an empty directory
      throw sys_error(err, "readdir", dpath);
    }
    std::vector<Name> names;
    bool aufs_opaque = false;
    for (auto& name : raw) {
      if (opts_.aufs && name.rfind(".wh.", 0) == 0) {
        if (name == ".wh..wh..opq")
          aufs_opaque = true;
        else if (name.rfind(".wh..wh.", 0) != 0)
          names.push_back({name.substr(4), name});  // whiteout
        continue;                                   // other .wh..wh.* entries are aufs bookkeeping
      }
      names.push_back({name, name});
    }
    if (lfd >= 0) {
      std::vector<std::string> lower;
      if (int err = list_dir(lfd, lower)) throw sys_error(err, "readdir", dpath + " (lower view)");
      std::set<std::string> merged;
      for (auto& n : names) merged.insert(n.image);
      for (auto& ln : lower) {
        lower_names.insert(ln);
        if (!merged.count(ln)) names.push_back({ln, ln, true});
      }
    }
    if (ffd >= 0) {
      // Cumulative upper mode: what only the replaced image has is kept from it.
      std::vector<std::string> folded;
      if (int err = list_dir(ffd, folded)) throw sys_error(err, "readdir", dpath + " (replaced image)");
      std::set<std::string> upper;
      for (auto& n : names) upper.insert(n.image);
      for (auto& fn : folded)
        if (!upper.count(fn)) {
          Name n{fn, fn};
          n.from_fold = true;
          names.push_back(n);
        }
    }
    std::sort(names.begin(), names.end());
    if (aufs_opaque) add_xattr(dir, opts_.opaque_xattr, "y");
    return names;
  }

  // Lists the directory of frame f as contiguous entries (first pass), then reads their xattrs (second
  // pass; whiteouts and secondary hard links have none of their own).
  void list_children(Frame& f) {
    check_cancel();
    std::set<std::string> lower_names;
    std::vector<Name> names =
        read_names(f.dir, f.fd.get(), f.path.empty() ? "/" : f.path, f.lower.get(), lower_names, f.fold.get());
    f.first = uint32_t(tree_.entries.size());
    for (auto& nm : names) admit(f, nm, lower_names);
    uint32_t count = uint32_t(tree_.entries.size()) - f.first;
    tree_.entries[f.dir].first_child = count ? f.first : kNone;
    tree_.entries[f.dir].child_count = count;
    for (uint32_t k = 0; k < count; k++) {
      uint32_t idx = f.first + k;
      if (tree_.entries[idx].link_primary == kNone && !whiteouts_.count(idx)) {
        const std::string& path = f.children[k].path;
        read_entry_xattrs(idx, f.children[k].from_fold ? f.fold.get() : f.fd.get(), path.substr(path.rfind('/') + 1),
                          path, f.children[k].ipath);
      }
      if (++seen_ % 4096 == 0) check_cancel();
    }
    if (opts_.feed) publish(f.first, count);
  }

  // The files among entries [first, first + count), final now, to the data phase (traverse/plan_feed.h).
  void publish(uint32_t first, uint32_t count) {
    std::vector<FeedFile> files;
    for (uint32_t idx = first; idx < first + count; idx++) {
      const Entry& e = tree_.entries[idx];
      if (!has_data(e) || e.from_base) continue;
      files.push_back(FeedFile{idx, e.size, e.disk_bytes, tree_.stamps[e.stamp], tree_.data_rel(idx)});
    }
    opts_.feed->publish(std::move(files));
  }

  // First pass for one name: appends its entry and its Child to f, or leaves it out (excluded, unchanged
  // since the lower layers, vanished or replaced).
  void admit(Frame& f, const Name& nm, const std::set<std::string>& lower_names) {
    int dfd = nm.from_fold ? f.fold.get() : f.fd.get();
    Child c{(nm.from_fold ? f.fold_path : f.path) + "/" + nm.disk, f.ipath + "/" + nm.image};
    c.from_fold = nm.from_fold;
    if (exclude_.count(c.ipath)) {
      tree_.excluded.push_back(c.ipath);
      return;
    }
    if (nm.lower_only) {
      tree_.entries.push_back(whiteout(f.dir, nm.image));
      found(tree_.entries.back());
      f.children.push_back(std::move(c));
      return;
    }
    struct stat st;
    if (::fstatat(dfd, nm.disk.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) {
        tree_.skipped.push_back({c.path, "ENOENT"});  // vanished between readdir and fstatat
        return;
      }
      if (tolerate(errno, c.path)) return;
      throw sys_error(errno, "lstat", c.path);
    }
    DevIno key{uint64_t(st.st_dev), uint64_t(st.st_ino)};
    if (std::find(excluded_inodes_.begin(), excluded_inodes_.end(), key) != excluded_inodes_.end()) return;
    if (mounts_ && !S_ISDIR(st.st_mode) && mounts_->is_mount_point(dfd, nm.disk)) {
      // A file mounted over this name: what lies under it cannot be read from this mount namespace, and the
      // mounted file belongs to another filesystem (mksquashfs -one-file-system ignores it too).
      tree_.warnings.push_back("'" + printable(c.path) +
                               "' has a file mounted over it: what lies under the mount cannot be read here, left out");
      return;
    }
    if (lower_names.count(nm.image) && !differs_from_lower(st, dfd, f.lower.get(), nm.image, c)) return;
    if (!nm.from_fold && !f.fold_only && !opts_.fold_root.empty() && !fold_upper_entry(f, nm, st, c)) return;
    Entry e;
    if (!make_entry(e, st, f.dir, dfd, nm, c)) return;
    if (!S_ISDIR(e.mode) && st.st_nlink > 1 && nm.image == nm.disk) {
      link_or_register(e, st);
      captured_multi_.insert({key.dev, key.ino});
    }
    tree_.entries.push_back(e);
    found(e);
    f.children.push_back(std::move(c));
  }

  // Cumulative upper mode, a name of the upper: false when it is left out (a whiteout that hides nothing
  // beneath the replaced image any more); notes how an upper directory merges with the image's.
  bool fold_upper_entry(Frame& f, const Name& nm, const struct stat& st, Child& c) {
    if (S_ISCHR(st.st_mode) && st.st_rdev == 0 && nm.image == nm.disk) {
      struct stat bst;
      return f.beneath.valid() && ::fstatat(f.beneath.get(), nm.disk.c_str(), &bst, AT_SYMLINK_NOFOLLOW) == 0;
    }
    if (!S_ISDIR(st.st_mode) || !f.fold.valid()) return true;
    struct stat fst;
    if (::fstatat(f.fold.get(), nm.disk.c_str(), &fst, AT_SYMLINK_NOFOLLOW) != 0) return true;  // new in this session
    if (S_ISDIR(fst.st_mode))
      c.fold_dir = true;
    else
      c.force_opaque = true;  // over a file or whiteout of the image: what lies beneath stays hidden
    return true;
  }

  // Diff mode, a name also in the lower view: false when it is unchanged there and so not captured. A
  // directory in both views is walked in both (c.in_lower), and dropped afterwards if nothing below it
  // differs (c.prunable).
  bool differs_from_lower(const struct stat& st, int dfd, int lfd, const std::string& name, Child& c) {
    struct stat lst;
    if (::fstatat(lfd, name.c_str(), &lst, AT_SYMLINK_NOFOLLOW) != 0) return true;
    bool same = same_attributes(st, lst, dfd, lfd, name, c.path);
    if (S_ISDIR(st.st_mode) && S_ISDIR(lst.st_mode)) {
      c.in_lower = true;
      c.prunable = same;
      return true;
    }
    if (!same) return true;
    // Unchanged since the lower layers: not captured, unless it is another name of an inode that has a
    // captured name (a hard link made in the session): then the link must come along.
    if (S_ISDIR(st.st_mode) || st.st_nlink <= 1) return false;
    std::pair<uint64_t, uint64_t> key{uint64_t(st.st_dev), uint64_t(st.st_ino)};
    if (force_links_.count(key)) return true;
    unchanged_multi_.insert(key);
    return false;
  }

  // Fills the entry for one name of directory `dir` (held by dfd): attributes, name and symlink target in
  // the arena, the stamp its data must match. False when it is left out (vanished or replaced).
  bool make_entry(Entry& e, const struct stat& st, uint32_t dir, int dfd, const Name& nm, const Child& c) {
    fill(e, st);
    if (nm.image != nm.disk) {  // an aufs whiteout becomes an overlayfs one: a 0:0 character device
      e.mode = S_IFCHR;
      e.rdev = 0;
      e.size = 0;
    }
    if (st.st_mtim.tv_sec < 0 || st.st_mtim.tv_sec > 0xFFFFFFFFLL) {
      if (out_of_range_mtimes_++ == 0) first_out_of_range_ = c.path;
    }
    e.parent = dir;
    e.name_off = uint32_t(tree_.arena.size());
    e.name_len = uint32_t(nm.image.size());
    if (S_ISLNK(e.mode)) {
      std::string target;
      if (read_target(dfd, nm.disk, size_t(st.st_size), target) < 0) {
        if (errno == ENOENT || errno == EINVAL) {  // vanished, or replaced by a non-link since fstatat
          tree_.skipped.push_back({c.path, errno == ENOENT ? "ENOENT" : kReplaced});
          return false;
        }
        if (tolerate(errno, c.path)) return false;
        throw sys_error(errno, "readlink", c.path);
      }
      if (target.size() > kMaxTarget)
        throw NativeError("ENAMETOOLONG", "symlink target of '" + printable(c.path) + "' is longer than 4096 bytes",
                          "readlink", c.path);
      tree_.arena += nm.image;
      e.target_off = uint32_t(tree_.arena.size());
      e.target_len = uint32_t(target.size());
      tree_.arena += target;
    } else {
      tree_.arena += nm.image;
    }
    if (S_ISREG(e.mode) && truncate_.count(c.ipath)) e.size = e.disk_bytes = 0;  // stored empty (--scrub)
    return !(S_ISREG(e.mode) && e.size > 0 && !take_stamp(e, st, c));
  }

  // Opens child directory idx of frame `parent` into `out`, checked to be the inode that was listed. False
  // when it is not walked: kept empty (excluded contents, another filesystem, a loop, tolerated error) or
  // left out (vanished, replaced). On success the child's paths move into `out`.
  bool enter(uint32_t idx, Frame& parent, const std::vector<Frame>& frames, Frame& out) {
    Child& c = parent.children[idx - parent.first];
    if (empty_.count(c.ipath)) return false;
    const Entry& e = tree_.entries[idx];
    std::string disk = c.path.substr(c.path.rfind('/') + 1);
    // Another filesystem, or a bind mount (even of this one): kept as an empty directory.
    if (mounts_ && (e.dev != root_dev_ || mounts_->is_mount_point(parent.fd.get(), disk))) return false;
    DevIno key{e.dev, e.ino};
    if (std::any_of(frames.begin(), frames.end(), [&](const Frame& f) { return f.key == key; })) {
      tree_.warnings.push_back("directory loop at '" + printable(c.path) +
                               "' (a bind mount of an ancestor): kept empty");
      return false;
    }
    bool redirected = redirected_.count(idx) > 0;
    // A renamed directory in an overlay upper: its whole merged content, made opaque.
    Fd fd(redirected ? open_beneath(merged_fd_.get(), c.ipath.substr(1), O_RDONLY | O_DIRECTORY)
                     : ::openat(c.from_fold ? parent.fold.get() : parent.fd.get(), disk.c_str(), kDirFlags));
    if (!fd.valid()) {
      int err = errno;
      if (err == ENOENT || err == ELOOP || err == ENOTDIR) {
        // Vanished, or swapped for a symlink or a file since it was listed: never followed.
        tree_.skipped.push_back({c.path, err == ENOENT ? "ENOENT" : kReplaced});
        tree_.leave_out(idx);
        return false;
      }
      if (tolerate(err, c.path)) return false;  // kept as an empty directory
      throw sys_error(err, "open", c.path);
    }
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) throw sys_error(errno, "fstat", c.path);
    if (!redirected && (uint64_t(st.st_dev) != e.dev || uint64_t(st.st_ino) != e.ino)) {
      tree_.skipped.push_back({c.path, kReplaced});  // another directory renamed into its place
      tree_.leave_out(idx);
      return false;
    }
    if (c.in_lower && !redirected) {
      out.lower = Fd(::openat(parent.lower.get(), disk.c_str(), kDirFlags));
      if (!out.lower.valid()) throw sys_error(errno, "open", c.path + " (lower view)");
    }
    if (redirected) add_xattr(idx, opts_.opaque_xattr, "y");
    if (!opts_.fold_root.empty()) enter_fold(idx, parent, c, disk, redirected, out);
    out.dir = idx;
    out.fd = std::move(fd);
    out.path = std::move(c.path);  // the child's paths are not needed in its parent's frame any more
    out.ipath = std::move(c.ipath);
    out.key = key;
    out.prunable = c.prunable;
    return true;
  }

  // Cumulative upper mode: the child directory's counterparts in the replaced image (merged under it unless it
  // is opaque) and beneath it (for whiteouts). A directory only the image has is walked there alone.
  void enter_fold(uint32_t idx, Frame& parent, const Child& c, const std::string& disk, bool redirected, Frame& out) {
    if (parent.beneath.valid()) out.beneath = Fd(::openat(parent.beneath.get(), disk.c_str(), kDirFlags));
    if (c.from_fold || parent.fold_only) {
      out.fold_only = true;
      return;
    }
    if (c.force_opaque) add_xattr(idx, opts_.opaque_xattr, "y");
    if (!c.fold_dir || redirected || has_xattr(idx, opts_.opaque_xattr)) return;
    out.fold = Fd(::openat(parent.fold.get(), disk.c_str(), kDirFlags));
    if (!out.fold.valid()) throw sys_error(errno, "open", parent.fold_path + "/" + disk + " (replaced image)");
    out.fold_path = parent.fold_path + "/" + disk;
    // An opaque directory of the image stays opaque under the upper's copy (overlayfs keeps that xattr private).
    std::vector<std::pair<std::string, std::string>> xs;
    if (read_xattrs(parent.fold.get(), disk, out.fold_path, xs) == 0)
      for (auto& [k, v] : xs)
        if (k == opts_.opaque_xattr && !v.empty() && v != "n") add_xattr(idx, opts_.opaque_xattr, "y");
  }

  bool has_xattr(uint32_t idx, const std::string& key) const {
    uint32_t set = tree_.entries[idx].xattr_set;
    if (key.empty() || set == kNone) return false;
    for (auto& p : tree_.xattr_sets[set])
      if (p.key == key && p.value != "n") return true;
    return false;
  }

  // Records what the data must still be when read; false (entry left out) when that cannot be known.
  bool take_stamp(Entry& e, const struct stat& st, const Child& c) {
    FileStamp s = stamp_of(st);
    if (!tree_.data_root.empty()) {
      // Data comes from another view of the same tree (an overlay's merged view): its inode there.
      Fd fd(open_beneath(tree_.data_fd.get(), c.ipath.substr(1), O_PATH));
      struct stat dst;
      if (!fd.valid() || ::fstat(fd.get(), &dst) != 0 || !S_ISREG(dst.st_mode)) {
        int err = fd.valid() ? EINVAL : errno;
        tree_.skipped.push_back({c.path, err == ENOENT ? "ENOENT" : kReplaced});
        return false;
      }
      s = stamp_of(dst);
    }
    e.stamp = uint32_t(tree_.stamps.size());
    tree_.stamps.push_back(s);
    return true;
  }

  // Hard links: the same (dev, ino) is one inode only when everything else about it agrees too. On an
  // overlay's merged view, inode numbers from different layers can collide (xino=off); two different files
  // must never become one inode, so a mismatch keeps them apart.
  void link_or_register(Entry& e, const struct stat& st) {
    DevIno key{uint64_t(st.st_dev), uint64_t(st.st_ino)};
    auto it = links_.find(key);
    if (it == links_.end()) {
      links_.emplace(key, LinkSeen{uint32_t(tree_.entries.size()), stamp_of(st), st.st_mode, st.st_uid, st.st_gid});
      return;
    }
    const LinkSeen& p = it->second;
    if (p.stamp == stamp_of(st) && p.mode == st.st_mode && p.uid == st.st_uid && p.gid == st.st_gid)
      e.link_primary = p.index;
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

  // Diff mode: equal type, permissions, owner, size, mtime, device, link target, xattrs (and contents
  // when asked) means the merged entry is the lower one: nothing to capture.
  bool same_attributes(const struct stat& m, const struct stat& l, int mfd, int lfd, const std::string& name,
                       const std::string& mpath) {
    if ((m.st_mode & S_IFMT) != (l.st_mode & S_IFMT) || (m.st_mode & 07777) != (l.st_mode & 07777)) return false;
    if (m.st_uid != l.st_uid || m.st_gid != l.st_gid) return false;
    if (m.st_mtim.tv_sec != l.st_mtim.tv_sec || m.st_mtim.tv_nsec != l.st_mtim.tv_nsec) return false;
    if (S_ISREG(m.st_mode) && m.st_size != l.st_size) return false;
    if ((S_ISCHR(m.st_mode) || S_ISBLK(m.st_mode)) && m.st_rdev != l.st_rdev) return false;
    if (S_ISLNK(m.st_mode)) {
      std::string mt, lt;
      if (read_target(mfd, name, size_t(m.st_size), mt) < 0 || read_target(lfd, name, size_t(l.st_size), lt) < 0)
        return false;
      if (mt != lt) return false;
    }
    if (opts_.xattrs && comparable_xattrs(mfd, name, mpath) != comparable_xattrs(lfd, name, "")) return false;
    if (S_ISREG(m.st_mode) && opts_.compare_contents && !same_file_content(mfd, lfd, name, m, l)) return false;
    return true;
  }

  // The xattrs diff mode compares: overlay bookkeeping and system.* left out, sorted by name.
  static std::vector<std::pair<std::string, std::string>> comparable_xattrs(int dir_fd, const std::string& name,
                                                                            const std::string& path) {
    std::vector<std::pair<std::string, std::string>> all;
    if (read_xattrs(dir_fd, name, path, all) != 0) return {};
    all.erase(std::remove_if(all.begin(), all.end(),
                             [](const auto& p) {
                               return p.first.rfind("trusted.overlay.", 0) == 0 || p.first.rfind("system.", 0) == 0;
                             }),
              all.end());
    std::sort(all.begin(), all.end());
    return all;
  }

  // Both files opened from their held directories without following links or blocking (a FIFO swapped in
  // cannot hang the walk), and checked to be the inodes that were compared.
  static bool same_file_content(int mfd, int lfd, const std::string& name, const struct stat& m, const struct stat& l) {
    constexpr int kFlags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;
    Fd fa(::openat(mfd, name.c_str(), kFlags)), fb(::openat(lfd, name.c_str(), kFlags));
    struct stat sa, sb;
    if (!fa.valid() || !fb.valid() || ::fstat(fa.get(), &sa) != 0 || ::fstat(fb.get(), &sb) != 0) return false;
    if (sa.st_ino != m.st_ino || sa.st_dev != m.st_dev || sb.st_ino != l.st_ino || sb.st_dev != l.st_dev) return false;
    return same_range(fa.get(), 0, name, fb.get(), 0, name, uint64_t(m.st_size));
  }

  // With ignore_errors: records the failure and returns true (the caller leaves the entry out or empty).
  // EACCES and EPERM always: what even root may not look at (another user's FUSE mount without allow_other
  // refuses root an lstat of its mount point; NFS with root_squash) is left out with a warning, never fatal.
  bool tolerate(int err, const std::string& path) {
    if (!opts_.ignore_errors && err != EACCES && err != EPERM) return false;
    tree_.skipped.push_back({path, errno_name(err)});
    return true;
  }

  void read_entry_xattrs(uint32_t idx, int dir_fd, const std::string& disk_name, const std::string& path,
                         const std::string& ipath) {
    if (!opts_.xattrs) return;
    std::vector<std::pair<std::string, std::string>> all;
    if (int err = read_xattrs(dir_fd, disk_name, path, all)) {
      if (err == ENOENT) return;  // vanished: its data read reports it
      if (opts_.ignore_errors && tolerate(err, path))
        return;  // the entry is kept: only --ignore-errors goes on without its xattrs
      throw sys_error(err, "llistxattr", path);
    }
    std::vector<XattrPair> set;
    for (auto& [key, value] : all) {
      if (key.rfind("user.", 0) != 0 && key.rfind("trusted.", 0) != 0 && key.rfind("security.", 0) != 0) {
        note_system_xattr(ipath);  // system.* (POSIX ACLs) and unknown namespaces cannot be encoded
        continue;
      }
      if (!opts_.redirect_xattr.empty() && key == opts_.redirect_xattr) {
        redirected_.insert(idx);
        continue;
      }
      if (dropped(key)) continue;
      set.push_back({key, value});
    }
    intern_xattrs(idx, std::move(set));
  }

  // Counts an xattr SquashFS cannot store; where the policy expects them (journald's ACLs) they are only noted.
  void note_system_xattr(const std::string& ipath) {
    tree_.skipped_system_xattrs++;
    for (auto& p : opts_.expected_system_xattrs)
      if (ipath == p || (ipath.size() > p.size() && ipath.compare(0, p.size(), p) == 0 && ipath[p.size()] == '/')) {
        tree_.expected_system_xattrs++;
        return;
      }
    if (tree_.system_xattr_paths.size() < kSystemXattrPaths &&
        (tree_.system_xattr_paths.empty() || tree_.system_xattr_paths.back() != ipath))
      tree_.system_xattr_paths.push_back(ipath);
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
    for (auto& p : set)
      sig += std::to_string(p.key.size()) + ":" + p.key + std::to_string(p.value.size()) + ":" + p.value;
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

  struct LinkSeen {
    uint32_t index;
    FileStamp stamp;
    mode_t mode;
    uid_t uid;
    gid_t gid;
  };

  const WalkOptions& opts_;
  uint64_t bytes_found_ = 0;  // progress only
  Tree& tree_;
  InodeSet force_links_, unchanged_multi_, captured_multi_;
  Fd merged_fd_;
  std::unique_ptr<MountPoints> mounts_;  // with one_file_system: tells mount points below the root
  std::set<std::string> exclude_, empty_, truncate_;
  std::vector<DevIno> excluded_inodes_;
  std::unordered_map<DevIno, LinkSeen, DevInoHash> links_;
  std::map<std::string, uint32_t> xattr_index_;
  std::set<uint32_t> redirected_;  // directories carrying the overlay redirect xattr
  std::set<uint32_t> whiteouts_;   // diff mode: whiteouts for names gone from the merged view
  uint64_t root_dev_ = 0;
  uint64_t seen_ = 0;
  uint64_t out_of_range_mtimes_ = 0;
  std::string first_out_of_range_;
};

}  // namespace

void walk_tree_into(Tree& tree, const std::string& root, const WalkOptions& opts) {
  if (!opts.lower_root.empty()) throw NativeError("EINTERNAL", "internal: a diff-mode walk cannot feed the data phase");
  Walker w(opts, tree);
  w.run(root);
}

Tree walk_tree(const std::string& root, const WalkOptions& opts) {
  Tree t;
  Walker w(opts, t);
  w.run(root);
  if (opts.lower_root.empty()) return t;
  // Diff mode: names are judged one by one, so the name a session linked to an unchanged lower file looks
  // unchanged. A second walk (only when such links exist) captures every name of those inodes; names of
  // inodes shared only within the lower layers stay out.
  InodeSet force = w.links_to_force();
  if (force.empty()) return t;
  Tree again;
  Walker w2(opts, again, std::move(force));
  w2.run(root);
  return again;
}

}  // namespace casper
