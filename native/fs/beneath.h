// Opening names beneath a directory descriptor without ever following a symlink: a root process reading a
// tree that other users can rename and swap under it must never be led outside that tree.
#pragma once
#include <string>

namespace casper {

// Opens `rel` (a relative path with no "." or ".." components, e.g. "usr/share/doc") beneath `root_fd`:
// no component may be a symlink and resolution never leaves root_fd. `flags` are open(2) flags for the last
// component; O_NOFOLLOW and O_CLOEXEC are always added. Uses openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS) on
// Linux 5.6+, a component-by-component openat(O_NOFOLLOW) walk below that and for paths longer than PATH_MAX
// (so no path is too long: only a name over NAME_MAX is). Returns the fd, or -1 with errno set (ELOOP or ENOTDIR
// when a component was swapped for a symlink or a non-directory).
int open_beneath(int root_fd, const std::string& rel, int flags);

// CASPER_SNAPSHOT_NO_OPENAT2=1 in the environment forces the fallback (how tests cover kernels before 5.6).

// "/proc/self/fd/<dir_fd>/<name>": a path naming `name` inside the directory held by dir_fd, for calls that
// have no *at form (the l*xattr family). Resolving it cannot be redirected: the magic link is the held
// directory itself, and `name` is a single component used with l* calls (never followed). Falls back to
// `fallback_path` when /proc is not mounted.
std::string at_path(int dir_fd, const std::string& name, const std::string& fallback_path);

}  // namespace casper
