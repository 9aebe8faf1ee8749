// An image opened for reading: its size, bounds-checked positional reads, and the typed error every reader
// throws on a corrupt image (code ESQUASH_CORRUPT, naming the table and the byte offset).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "util/error.h"
#include "util/fd.h"

namespace casper {

// A corrupt image: `table` is the part being read ("superblock", "inode table", "data block", …) and
// `offset` the byte offset in the image file (kNoOffset when the fault is not at one place); both are fields
// of NativeError, so they survive a copy to another thread.
struct CorruptError : NativeError {
  CorruptError(const std::string& table_, uint64_t offset_, const std::string& what, const std::string& image)
      : NativeError("ESQUASH_CORRUPT", message(table_, offset_, what), "", image) {
    table = table_;
    offset = offset_;
  }
  static std::string message(const std::string& table, uint64_t offset, const std::string& what) {
    std::string m = "corrupt image: " + table;
    if (offset != kNoOffset) m += " at byte " + std::to_string(offset);
    return m + ": " + what;
  }
};

class ImageFile {
 public:
  // Opens path read-only; throws NativeError (ENOENT, EACCES, …) when it cannot.
  explicit ImageFile(const std::string& path);
  // An image already open (--base: opened once, with checks, and never by path again); path names it in errors.
  ImageFile(Fd fd, const std::string& path);
  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }
  int fd() const { return fd_.get(); }
  // The end of what readers may touch: bytes_used once the superblock is read, the file size before.
  uint64_t limit() const { return limit_; }
  void set_limit(uint64_t l) { limit_ = l; }
  // Reads exactly n bytes at off; a range past limit() is corruption of `table`.
  void read(uint64_t off, void* out, size_t n, const char* table) const;
  // Checks that [off, off+n) lies inside the image (no overflow), else throws CorruptError.
  void check_range(uint64_t off, uint64_t n, const char* table) const;
  [[noreturn]] void corrupt(const std::string& table, uint64_t offset, const std::string& what) const;

 private:
  void measure();
  std::string path_;
  Fd fd_;
  uint64_t size_ = 0;
  uint64_t limit_ = 0;
};

}  // namespace casper
