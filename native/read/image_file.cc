#include "read/image_file.h"

#include <fcntl.h>
#include <sys/stat.h>

namespace casper {

ImageFile::ImageFile(const std::string& path) : path_(path) {
  // Never blocking: a FIFO swapped in for the image (by a user who can write its directory) opens at once and is
  // refused below, instead of hanging the reader until someone writes to it.
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) throw sys_error(errno, "open", path);
  fd_ = Fd(fd);
  measure();
}

ImageFile::ImageFile(Fd fd, const std::string& path) : path_(path), fd_(std::move(fd)) { measure(); }

void ImageFile::measure() {
  const int fd = fd_.get();
  const std::string& path = path_;
  struct stat st;
  if (::fstat(fd, &st) != 0) throw sys_error(errno, "fstat", path);
  if (S_ISDIR(st.st_mode))
    throw NativeError("EISDIR", "'" + printable(path) + "' is a directory, not an image", "open", path);
  if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
    throw NativeError("EINVAL", "'" + printable(path) + "' is not a regular file or a block device, not an image",
                      "open", path);
  if (S_ISBLK(st.st_mode)) {
    off_t end = ::lseek(fd, 0, SEEK_END);
    if (end < 0) throw sys_error(errno, "lseek", path);
    size_ = uint64_t(end);
  } else {
    size_ = uint64_t(st.st_size);
  }
  limit_ = size_;
}

void ImageFile::check_range(uint64_t off, uint64_t n, const char* table) const {
  if (off > limit_ || n > limit_ - off)
    corrupt(table, off,
            std::to_string(n) + " bytes would run past the end of the image (" + std::to_string(limit_) + " bytes)");
}

void ImageFile::read(uint64_t off, void* out, size_t n, const char* table) const {
  check_range(off, n, table);
  if (pread_full(fd_.get(), out, n, off, path_) != n)
    corrupt(table, off, "the file is shorter than its superblock says");
}

void ImageFile::corrupt(const std::string& table, uint64_t offset, const std::string& what) const {
  throw CorruptError(table, offset, what, path_);
}

}  // namespace casper
