// The output's directory held by a descriptor, and every operation on the output's own files relative to it:
// a root run writes into directories other users may write, so no name there is ever followed (O_NOFOLLOW,
// O_EXCL for new files), and a lock file is used only when it is a plain file of ours.
//
//   openDir(path) -> fd                 the directory, following links in `path` as the user named it
//   createAt(dirFd, name, mode) -> fd   a new file (O_CREAT|O_EXCL|O_NOFOLLOW, read-write); EEXIST if the name is taken
//   openOwnAt(dirFd, name) -> fd        our lock file: created, or opened when it is a regular file we own with one
//                                       link; anything else there (a symlink, another user's file, a hard link, a
//                                       FIFO) is never opened nor obeyed: it is removed (unlink never follows), or,
//                                       when it cannot be (a directory, a sticky directory), EFOREIGN
//   statAt(dirFd, name) -> { dev, ino, mode, uid, gid, nlink, size } | null   lstat; null when nothing is there
//   renameAt(dirFd, from, to), unlinkAt(dirFd, name), listAt(dirFd) -> names
#include <napi.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "bindings/js_error.h"
#include "fs/dir_list.h"
#include "util/error.h"
#include "util/fd.h"

namespace casper {

namespace {

int fd_arg(const Napi::CallbackInfo& info, size_t i) { return info[i].ToNumber().Int32Value(); }
std::string str_arg(const Napi::CallbackInfo& info, size_t i) { return info[i].ToString().Utf8Value(); }

Napi::Value OpenDir(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    std::string path = str_arg(info, 0);
    int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) throw sys_error(errno, "open", path);
    return Napi::Number::New(info.Env(), fd);
  });
}

Napi::Value CreateAt(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    std::string name = str_arg(info, 1);
    int fd = ::openat(fd_arg(info, 0), name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                      mode_t(info[2].ToNumber().Uint32Value()));
    if (fd < 0) throw sys_error(errno, "open", name);
    return Napi::Number::New(info.Env(), fd);
  });
}

// What is at `name` instead of a lock of ours, for the message.
std::string foreign_kind(const struct stat& st) {
  if (S_ISLNK(st.st_mode)) return "a symbolic link";
  if (!S_ISREG(st.st_mode)) return "not a regular file";
  if (st.st_uid != ::geteuid()) return "owned by uid " + std::to_string(st.st_uid);
  return "a file with " + std::to_string(st.st_nlink) + " links";
}

Napi::Value OpenOwnAt(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    int dir = fd_arg(info, 0);
    std::string name = str_arg(info, 1);
    for (int attempt = 0; attempt < 20; attempt++) {
      int fd = ::openat(dir, name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
      if (fd >= 0) return Napi::Number::New(info.Env(), fd);
      if (errno != EEXIST) throw sys_error(errno, "open", name);
      // Something is there: looked at without opening it (O_PATH opens nothing, follows nothing).
      Fd probe(::openat(dir, name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
      if (!probe.valid()) {
        if (errno == ENOENT) continue;  // removed meanwhile
        throw sys_error(errno, "open", name);
      }
      struct stat st;
      if (::fstat(probe.get(), &st) != 0) throw sys_error(errno, "fstat", name);
      if (S_ISREG(st.st_mode) && st.st_uid == ::geteuid() && st.st_nlink == 1) {
        Fd own(::openat(dir, name.c_str(), O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
        struct stat now;
        if (!own.valid()) {
          if (errno == ENOENT || errno == ELOOP) continue;
          throw sys_error(errno, "open", name);
        }
        if (::fstat(own.get(), &now) != 0) throw sys_error(errno, "fstat", name);
        if (now.st_dev != st.st_dev || now.st_ino != st.st_ino) continue;  // swapped between the two opens
        return Napi::Number::New(info.Env(), own.release());
      }
      std::string kind = foreign_kind(st);
      if (S_ISDIR(st.st_mode) || (::unlinkat(dir, name.c_str(), 0) != 0 && errno != ENOENT))
        throw NativeError("EFOREIGN", "'" + printable(name) + "' is " + kind + ": not used as a lock (remove it)",
                          "open", name);
    }
    throw NativeError("ELOCKED", "'" + printable(name) + "' keeps changing", "open", name);
  });
}

Napi::Value StatAt(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    std::string name = str_arg(info, 1);
    struct stat st;
    if (::fstatat(fd_arg(info, 0), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) return env.Null();
      throw sys_error(errno, "lstat", name);
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("dev", double(st.st_dev));
    o.Set("ino", double(st.st_ino));
    o.Set("mode", double(st.st_mode));
    o.Set("uid", double(st.st_uid));
    o.Set("gid", double(st.st_gid));
    o.Set("nlink", double(st.st_nlink));
    o.Set("size", double(st.st_size));
    return o;
  });
}

Napi::Value RenameAt(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    int dir = fd_arg(info, 0);
    std::string from = str_arg(info, 1), to = str_arg(info, 2);
    if (::renameat(dir, from.c_str(), dir, to.c_str()) != 0) throw sys_error(errno, "rename", to);
    return info.Env().Undefined();
  });
}

Napi::Value UnlinkAt(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    std::string name = str_arg(info, 1);
    if (::unlinkat(fd_arg(info, 0), name.c_str(), 0) != 0 && errno != ENOENT) throw sys_error(errno, "unlink", name);
    return info.Env().Undefined();
  });
}

Napi::Value ListAt(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    std::vector<std::string> names;
    if (int err = list_dir(fd_arg(info, 0), names)) throw sys_error(err, "readdir", "");
    Napi::Array a = Napi::Array::New(info.Env(), names.size());
    for (size_t i = 0; i < names.size(); i++) a.Set(uint32_t(i), names[i]);
    return a;
  });
}

}  // namespace

void define_output_dir(Napi::Env env, Napi::Object exports) {
  exports.Set("openDir", Napi::Function::New(env, OpenDir, "openDir"));
  exports.Set("createAt", Napi::Function::New(env, CreateAt, "createAt"));
  exports.Set("openOwnAt", Napi::Function::New(env, OpenOwnAt, "openOwnAt"));
  exports.Set("statAt", Napi::Function::New(env, StatAt, "statAt"));
  exports.Set("renameAt", Napi::Function::New(env, RenameAt, "renameAt"));
  exports.Set("unlinkAt", Napi::Function::New(env, UnlinkAt, "unlinkAt"));
  exports.Set("listAt", Napi::Function::New(env, ListAt, "listAt"));
}

}  // namespace casper
