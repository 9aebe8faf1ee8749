#include "fs/xattrs.h"

#include <sys/xattr.h>

#include <cerrno>

namespace casper {

int read_xattrs(const std::string& lpath, std::vector<std::pair<std::string, std::string>>& out) {
  out.clear();
  std::string list;
  for (int attempt = 0;; attempt++) {  // the list can grow between sizing and reading it: ERANGE, again
    ssize_t n = ::llistxattr(lpath.c_str(), nullptr, 0);
    if (n < 0) return errno == ENOTSUP ? 0 : errno;
    if (n == 0) return 0;
    list.assign(size_t(n), '\0');
    n = ::llistxattr(lpath.c_str(), list.data(), list.size());
    if (n >= 0) {
      list.resize(size_t(n));
      break;
    }
    if (errno != ERANGE || attempt == 3) return errno;
  }
  for (size_t pos = 0; pos < list.size();) {
    std::string key(list.c_str() + pos);
    pos += key.size() + 1;
    if (key.empty()) continue;
    std::string value;
    for (int attempt = 0;; attempt++) {
      ssize_t vn = ::lgetxattr(lpath.c_str(), key.c_str(), nullptr, 0);
      if (vn < 0) {
        if (errno == ENODATA) goto next;  // removed meanwhile
        return errno;
      }
      value.assign(size_t(vn), '\0');
      vn = vn == 0 ? 0 : ::lgetxattr(lpath.c_str(), key.c_str(), value.data(), value.size());
      if (vn >= 0) {
        value.resize(size_t(vn));
        break;
      }
      if (errno == ENODATA) goto next;
      if (errno != ERANGE || attempt == 3) return errno;
    }
    out.emplace_back(std::move(key), std::move(value));
  next:;
  }
  return 0;
}

}  // namespace casper
