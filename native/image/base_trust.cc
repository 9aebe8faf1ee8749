#include "image/base_trust.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace casper {

namespace {

// Filesystems whose file owners and modes are real (enforced by this kernel); a base elsewhere proves nothing
// by its owner.
struct FsType {
  unsigned long magic;
  const char* name;
};
constexpr FsType kKeepsOwnership[] = {
    {0xEF53, "ext4"},         {0x9123683E, "btrfs"}, {0x58465342, "xfs"},      {0xF2F52010, "f2fs"},
    {0x01021994, "tmpfs"},    {0x858458F6, "ramfs"}, {0x794C7630, "overlay"},  {0x2FC12FC1, "zfs"},
    {0xCA451A4E, "bcachefs"}, {0x3153464A, "jfs"},   {0x52654973, "reiserfs"}, {0x3434, "nilfs2"},
};
constexpr FsType kOthers[] = {
    {0x4D44, "FAT (vfat/msdos)"}, {0x2011BAB0, "exFAT"},  {0x5346544E, "NTFS"}, {0x7366746E, "NTFS (ntfs3)"},
    {0x65735546, "FUSE"},         {0x4244, "HFS"},        {0x482B, "HFS+"},     {0x9660, "ISO 9660"},
    {0x15013346, "UDF"},          {0x6969, "NFS"},        {0xFF534D42, "CIFS"}, {0xFE534D42, "SMB"},
    {0x01021997, "9p"},           {0x786F4256, "vboxsf"},
};

std::string octal(mode_t m) {
  char b[16];
  std::snprintf(b, sizeof b, "%04o", unsigned(m & 07777));
  return b;
}

// The directory part and the last component of path ("." for a bare name).
void split(const std::string& path, std::string& dir, std::string& name) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) {
    dir = ".";
    name = path;
  } else {
    dir = slash == 0 ? "/" : path.substr(0, slash);
    name = path.substr(slash + 1);
  }
}

bool trusted_owner(uid_t uid) { return uid == ::geteuid() || uid == 0; }

std::string who(uid_t uid) { return "uid " + std::to_string(uid); }

}  // namespace

BaseOpen open_base(const std::string& path) {
  BaseOpen r;
  std::string dir, name;
  split(path, dir, name);
  if (name.empty() || name == "." || name == "..") {
    r.refused = "it does not name a file";
    return r;
  }
  const uid_t me = ::geteuid();
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) {
    r.refused = std::string("its directory cannot be opened (") + std::strerror(errno) + ")";
    return r;
  }
  Fd d(dfd);
  struct stat ds;
  if (::fstat(d.get(), &ds) != 0) {
    r.refused = std::string("its directory cannot be examined (") + std::strerror(errno) + ")";
    return r;
  }
  // Another user who can write the directory can put any image there (or rename ours away): only a
  // directory nobody else can write, or a sticky one of ours (others cannot replace what we own), will do.
  if (!trusted_owner(ds.st_uid)) {
    r.refused = "its directory is owned by " + who(ds.st_uid) + ", who could have put it there (the snapshot runs as " +
                who(me) + ")";
    return r;
  }
  if ((ds.st_mode & (S_IWGRP | S_IWOTH)) && !(ds.st_mode & S_ISVTX)) {
    r.refused = "its directory can be written by other users (mode " + octal(ds.st_mode) + ", not sticky)";
    return r;
  }
  int fd = ::openat(d.get(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    int err = errno;
    r.refused =
        err == ELOOP ? "it is a symbolic link" : std::string("it cannot be opened (") + std::strerror(err) + ")";
    return r;
  }
  Fd f(fd);
  struct stat st;
  if (::fstat(f.get(), &st) != 0) {
    r.refused = std::string("it cannot be examined (") + std::strerror(errno) + ")";
    return r;
  }
  if (!S_ISREG(st.st_mode)) {
    r.refused = S_ISFIFO(st.st_mode)  ? "it is a FIFO"
                : S_ISDIR(st.st_mode) ? "it is a directory"
                                      : "it is not a regular file";
    return r;
  }
  if (!trusted_owner(st.st_uid)) {
    r.refused = "it is owned by " + who(st.st_uid) + ", not by the user making the snapshot (" + who(me) + ")";
    return r;
  }
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    r.refused = "other users can write it (mode " + octal(st.st_mode) + ")";
    return r;
  }
  struct statfs fs;
  if (::fstatfs(f.get(), &fs) != 0) {
    r.content_only = "its filesystem cannot be identified";
  } else {
    bool keeps = false;
    for (const FsType& t : kKeepsOwnership) keeps = keeps || (unsigned long)(fs.f_type) == t.magic;
    if (!keeps) {
      std::string fsname;
      for (const FsType& t : kOthers)
        if ((unsigned long)(fs.f_type) == t.magic) fsname = t.name;
      if (fsname.empty()) {
        char b[32];
        std::snprintf(b, sizeof b, "0x%lx", (unsigned long)(fs.f_type));
        fsname = std::string("an unknown type (") + b + ")";
      }
      r.content_only = "it is on a " + fsname + " filesystem, which does not keep who wrote a file";
    }
  }
  r.fd = std::move(f);
  return r;
}

}  // namespace casper
