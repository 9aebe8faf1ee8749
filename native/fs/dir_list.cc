#include "fs/dir_list.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace casper {

int list_dir(int fd, std::vector<std::string>& out) {
  out.clear();
  int dup_fd = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (dup_fd < 0) return errno;
  DIR* d = ::fdopendir(dup_fd);
  if (!d) {
    int err = errno;
    ::close(dup_fd);
    return err;
  }
  errno = 0;
  while (struct dirent* de = ::readdir(d)) {
    const char* n = de->d_name;
    if (!(n[0] == '.' && (n[1] == 0 || (n[1] == '.' && n[2] == 0)))) out.emplace_back(n);
    errno = 0;
  }
  int err = errno;
  ::closedir(d);
  return err;
}

}  // namespace casper
