#include "read/block_words.h"

#include <algorithm>

#include "util/bytes.h"

namespace casper {

size_t BlockWords::next(uint32_t* out, size_t max) {
  size_t n = size_t(std::min<uint64_t>(left_, max));
  if (n == 0) return 0;
  uint8_t raw[4096];
  for (size_t done = 0; done < n;) {
    size_t k = std::min(n - done, sizeof raw / 4);
    in_.read(at_, raw, k * 4);
    for (size_t i = 0; i < k; i++) out[done + i] = load_u32(raw + 4 * i);
    done += k;
  }
  left_ -= n;
  return n;
}

std::vector<uint32_t> all_block_words(MetadataReader& inodes, const Inode& n) {
  std::vector<uint32_t> out;
  BlockWords words(inodes, n);
  uint32_t batch[1024];
  for (size_t got; (got = words.next(batch, 1024)) > 0;) out.insert(out.end(), batch, batch + got);
  return out;
}

}  // namespace casper
