#include "compare/tree_side.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "fs/beneath.h"
#include "fs/dir_list.h"
#include "fs/xattrs.h"
#include "util/error.h"
#include "util/paths.h"

namespace casper {

namespace {

uint16_t basic_of(mode_t m) {
  if (S_ISDIR(m)) return kDir;
  if (S_ISREG(m)) return kFile;
  if (S_ISLNK(m)) return kSymlink;
  if (S_ISBLK(m)) return kBlockDev;
  if (S_ISCHR(m)) return kCharDev;
  if (S_ISFIFO(m)) return kFifo;
  return kSocket;
}

bool stored_namespace(const std::string& key) {
  return key.rfind("user.", 0) == 0 || key.rfind("trusted.", 0) == 0 || key.rfind("security.", 0) == 0;
}

}  // namespace

TreeSide::TreeSide(const std::string& root, Label style, std::string shown, bool mounts)
    : root_path_(strip_trailing_slashes(root)), style_(style), shown_(std::move(shown)) {
  root_ = Fd(::open(root_path_.c_str(), O_RDONLY | O_CLOEXEC));
  if (!root_.valid()) throw sys_error(errno, "open", root_path_);
  struct stat st;
  if (::fstat(root_.get(), &st) != 0) throw sys_error(errno, "fstat", root_path_);
  if (!S_ISDIR(st.st_mode))
    throw NativeError("ENOTDIR", "'" + printable(root_path_) + "' is not a directory", "open", root_path_);
  if (mounts) mounts_ = std::make_unique<MountPoints>(root_.get());
}

std::string TreeSide::label(const std::string& rel) const {
  if (style_ == Label::kColon) return shown_ + ":" + printable(rel);
  std::string s = printable(path_prefix(shown_)) + printable(rel == "/" ? "" : rel);
  return s.empty() ? "/" : s;
}

int TreeSide::enter(const std::string& rel, uint64_t, std::vector<SideEntry>& out) {
  cur_.reset();
  cur_rel_ = rel;
  int fd = rel == "/" ? ::openat(root_.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                      : open_beneath(root_.get(), rel.substr(1), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return errno;
  cur_ = Fd(fd);
  std::vector<std::string> names;
  if (int err = list_dir(cur_.get(), names)) return err;
  std::sort(names.begin(), names.end());  // bytewise, as an image stores them
  out.reserve(names.size());
  for (auto& n : names) out.push_back({std::move(n), 0});
  return 0;
}

int TreeSide::attrs(const SideEntry* e, EntryAttrs& out) {
  struct stat st;
  int rc = e ? ::fstatat(cur_.get(), e->name.c_str(), &st, AT_SYMLINK_NOFOLLOW) : ::fstat(root_.get(), &st);
  if (rc != 0) return errno;
  out.basic = basic_of(st.st_mode);
  out.mode = st.st_mode & 07777;
  out.uid = st.st_uid;
  out.gid = st.st_gid;
  out.mtime = int64_t(st.st_mtim.tv_sec);
  out.size = uint64_t(st.st_size);
  out.dev_major = major(st.st_rdev);
  out.dev_minor = minor(st.st_rdev);
  out.identity = {uint64_t(st.st_dev), uint64_t(st.st_ino)};
  if (S_ISLNK(st.st_mode)) {
    std::string t(size_t(std::max<off_t>(st.st_size, 4096)) + 1, '\0');
    ssize_t k = ::readlinkat(cur_.get(), e->name.c_str(), &t[0], t.size());
    if (k < 0) return errno;
    t.resize(size_t(k));
    out.target = std::move(t);
  }
  // The l* calls through /proc/self/fd: the held directory, then one name never followed.
  std::string fallback = root_path_ + (e ? path_prefix(cur_rel_) + "/" + e->name : "");
  std::vector<std::pair<std::string, std::string>> xs;
  if (int err = e ? read_xattrs(cur_.get(), e->name, fallback, xs) : read_xattrs(root_.get(), "", fallback, xs))
    return err;
  for (auto& [k, v] : xs)
    if (stored_namespace(k)) out.xattrs[k] = v;
  return 0;
}

Fd TreeSide::root_dup() const {
  Fd d(::fcntl(root_.get(), F_DUPFD_CLOEXEC, 0));
  if (!d.valid()) throw sys_error(errno, "dup", root_path_);
  return d;
}

bool TreeSide::mount_point(const SideEntry& e) { return mounts_ && mounts_->is_mount_point(cur_.get(), e.name); }

int TreeSide::open_file(const SideEntry& e) {
  // Never a symlink, never blocking on a FIFO swapped in meanwhile; and only a regular file is read.
  int fd = ::openat(cur_.get(), e.name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return -1;
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    errno = EINVAL;
    return -1;
  }
  return fd;
}

}  // namespace casper
