// An owned file descriptor and whole-buffer read/write helpers that retry on EINTR and short transfers.
#pragma once
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "util/error.h"

namespace casper {

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd& operator=(Fd&& o) noexcept {
    reset();
    fd_ = o.fd_;
    o.fd_ = -1;
    return *this;
  }
  ~Fd() { reset(); }
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  // Gives the descriptor up to the caller (no longer closed here).
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_ = -1;
};

// Reads up to n bytes at off; returns the count read (short only at end of file).
inline size_t pread_full(int fd, void* buf, size_t n, uint64_t off, const std::string& path) {
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::pread(fd, static_cast<char*>(buf) + done, n - done, off_t(off + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      throw sys_error(errno, "read", path);
    }
    if (r == 0) break;
    done += size_t(r);
  }
  return done;
}

inline void pwrite_full(int fd, const void* buf, size_t n, uint64_t off, const std::string& path) {
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::pwrite(fd, static_cast<const char*>(buf) + done, n - done, off_t(off + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      throw sys_error(errno, "write", path);
    }
    done += size_t(r);
  }
}

}  // namespace casper
