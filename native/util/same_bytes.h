// The one check that bytes read from a file equal others, whoever compares: the base's content compare (the
// source against the base's data), verify IMAGE DIR (the tree's file against the image's), the tree comparer
// (two files), the walker's diff mode and the writer's duplicate check (two ranges). A short read is
// "different"; a read error throws NativeError naming the path.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "util/cancel.h"
#include "util/fd.h"

namespace casper {

// Whether the len bytes at off in fd are p's. buf: the caller's, reused from call to call.
inline bool file_holds(int fd, uint64_t off, const uint8_t* p, size_t len, std::vector<uint8_t>& buf,
                       const std::string& path) {
  if (len == 0) return true;  // nothing to read (and memcmp must not see an empty vector's null data())
  buf.resize(len);
  return pread_full(fd, buf.data(), len, off, path) == len && std::memcmp(buf.data(), p, len) == 0;
}

constexpr uint64_t kToTheEnd = ~uint64_t(0);

// Whether n bytes at a in fa equal n bytes at b in fb, read 1 MiB at a time; n = kToTheEnd: both files from
// there to their ends (so of the same length too). cancel, when given, is checked between reads.
inline bool same_range(int fa, uint64_t a, const std::string& path_a, int fb, uint64_t b, const std::string& path_b,
                       uint64_t n, const CancelFlag* cancel = nullptr) {
  std::vector<uint8_t> x(size_t(std::min<uint64_t>(n, 1 << 20))), y;
  for (uint64_t off = 0; off < n; off += x.size()) {
    if (cancel) cancel->check();
    const size_t want = size_t(std::min<uint64_t>(x.size(), n - off));
    const size_t got = pread_full(fa, x.data(), want, a + off, path_a);
    if (!file_holds(fb, b + off, x.data(), got, y, path_b)) return false;
    if (got < want) {
      if (n != kToTheEnd) return false;
      y.resize(1);
      return pread_full(fb, y.data(), 1, b + off + got, path_b) == 0;  // b ends there too
    }
  }
  return true;
}

}  // namespace casper
