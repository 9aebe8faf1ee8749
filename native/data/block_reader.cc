#include "data/block_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "util/bytes.h"
#include "util/error.h"
#include "util/fd.h"
#include "util/hash.h"

namespace casper {
namespace {

constexpr uint64_t kZeroBlockMark = 0x5a45524f424c4bULL;  // fingerprint contribution of an all-zero block

bool all_zero(const uint8_t* p, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    if (w) return false;
  }
  for (; i < n; i++)
    if (p[i]) return false;
  return true;
}

// Returns an invalid Fd and sets *err when the file cannot be opened.
Fd open_for_read(const std::string& path, int* err) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOATIME | O_NOFOLLOW);
  if (fd < 0 && errno == EPERM) fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);  // O_NOATIME needs ownership
  *err = fd < 0 ? errno : 0;
  return Fd(fd);
}

}  // namespace

uint32_t compress_block(Compressor& comp, const uint8_t* in, size_t len, std::vector<uint8_t>& out) {
  out.resize(len);
  size_t c = comp.compress(in, len, out.data(), len);
  if (c == 0 || c >= len) {
    out.assign(in, in + len);
    return uint32_t(len) | (1u << 24);
  }
  out.resize(c);
  return uint32_t(c);
}

std::vector<uint8_t> read_and_compress(const TaskSpec& task, Compressor& comp, const CancelFlag& cancel) {
  const uint32_t bs = task.block_size;
  ByteWriter out;
  out.u32(uint32_t(task.segments.size()));
  std::vector<uint8_t> in(bs), packed;
  std::vector<uint32_t> words;
  std::vector<uint8_t> data, tail;
  for (const SegmentSpec& s : task.segments) {
    int open_err = 0;
    Fd fd = open_for_read(s.path, &open_err);
    if (open_err && s.offset == 0) {
      // Vanished or unreadable: the writer decides (skip with a warning, or fail naming the path).
      out.u32(s.file);
      out.u32(kSegFailed | (s.last ? kSegLast : 0));
      out.u64(s.offset);
      out.u64(s.length);
      out.u64(uint64_t(open_err));  // in the hash slot
      out.u64(0);
      out.u32(0);
      out.u32(0);
      out.u64(0);
      continue;
    }
    if (fd.valid() && s.offset == 0 && s.length > 4u * bs) ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
    words.clear();
    data.clear();
    tail.clear();
    uint64_t hash = 0, sparse = 0;
    bool changed = open_err != 0;  // gone after its first part was read: the rest reads as zeros
    uint64_t end = s.offset + s.length;
    uint64_t next_data = 0;  // with maybe_sparse: no data before this offset
    for (uint64_t pos = s.offset; pos < end; pos += bs) {
      cancel.check();
      size_t len = size_t(std::min<uint64_t>(bs, end - pos));
      bool is_tail = s.last && s.tail_fragment && len < bs;
      if (fd.valid() && s.maybe_sparse && !is_tail && pos >= next_data) {
        off_t nd = ::lseek(fd.get(), off_t(pos), SEEK_DATA);
        next_data = nd < 0 ? UINT64_MAX : uint64_t(nd);  // ENXIO: only a hole up to the end of the file
      }
      if (s.maybe_sparse && !is_tail && pos + len <= next_data) {
        words.push_back(0);  // a hole: never read
        sparse += len;
        hash = hash_combine(hash, kZeroBlockMark ^ len);
        continue;
      }
      size_t got = fd.valid() ? pread_full(fd.get(), in.data(), len, pos, s.path) : 0;
      if (got < len) {
        changed = true;  // the file shrank while we read it: keep the walked size, zero-filled
        std::memset(in.data() + got, 0, len - got);
      }
      if (is_tail) {
        tail.assign(in.begin(), in.begin() + long(len));
        hash = hash_combine(hash, hash_bytes(in.data(), len));
        break;
      }
      if (all_zero(in.data(), len)) {
        words.push_back(0);
        sparse += len;
        hash = hash_combine(hash, kZeroBlockMark ^ len);
        continue;
      }
      hash = hash_combine(hash, hash_bytes(in.data(), len));
      words.push_back(compress_block(comp, in.data(), len, packed));
      data.insert(data.end(), packed.begin(), packed.end());
    }
    if (s.last && fd.valid()) {
      struct stat st;
      if (::fstat(fd.get(), &st) == 0 && uint64_t(st.st_size) != s.file_size) changed = true;
    }
    out.u32(s.file);
    out.u32((s.last ? kSegLast : 0) | (changed ? kSegChanged : 0));
    out.u64(s.offset);
    out.u64(s.length);
    out.u64(hash);
    out.u64(sparse);
    out.u32(uint32_t(words.size()));
    out.u32(uint32_t(tail.size()));
    out.u64(data.size());
    for (uint32_t w : words) out.u32(w);
    out.bytes(data.data(), data.size());
    out.bytes(tail.data(), tail.size());
  }
  return std::move(out.buf);
}

std::vector<SegmentResult> parse_result(const uint8_t* buf, size_t n) {
  ByteReader r(buf, n);
  uint32_t count = r.u32();
  std::vector<SegmentResult> res(count);
  for (auto& s : res) {
    s.file = r.u32();
    uint32_t flags = r.u32();
    s.last = flags & kSegLast;
    s.changed = flags & kSegChanged;
    s.offset = r.u64();
    s.length = r.u64();
    s.hash = r.u64();
    if (flags & kSegFailed) s.failed_errno = int(s.hash);
    s.sparse_bytes = r.u64();
    uint32_t nblocks = r.u32();
    s.tail_len = r.u32();
    s.data_len = r.u64();
    s.block_words.resize(nblocks);
    for (auto& w : s.block_words) w = r.u32();
    s.data = r.take(size_t(s.data_len));
    s.tail = r.take(s.tail_len);
  }
  return res;
}

}  // namespace casper
