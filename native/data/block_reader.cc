#include "data/block_reader.h"

#include "compress/incompressible.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "format/block_word.h"
#include "format/constants.h"
#include "format/integrity_record.h"
#include "fs/beneath.h"
#include "util/bytes.h"
#include "util/error.h"
#include "util/fd.h"
#include "util/hash.h"
#include "util/xxhash64.h"

namespace casper {
namespace {

// Opens the segment's file if it is still the walked inode. Sets r.status/r.error otherwise.
Fd open_walked(const TaskSpec& task, const SegmentSpec& s, SegmentResult& r) {
  constexpr int kFlags = O_RDONLY | O_NONBLOCK;
  int fd = open_beneath(task.root_fd, s.rel, kFlags | O_NOATIME);
  if (fd < 0 && errno == EPERM) fd = open_beneath(task.root_fd, s.rel, kFlags);  // O_NOATIME needs ownership
  if (fd < 0) {
    int err = errno;
    // ELOOP: a symlink on the way or at the end; ENOTDIR: a parent swapped for a file; ENXIO: a socket.
    if (err == ELOOP || err == ENOTDIR || err == ENXIO) r.status = SegmentStatus::kReplaced;
    else r.status = SegmentStatus::kFailed;
    r.error = err;
    return Fd();
  }
  Fd f(fd);
  struct stat st;
  if (::fstat(f.get(), &st) != 0) {
    r.status = SegmentStatus::kFailed;
    r.error = errno;
    return Fd();
  }
  if (!S_ISREG(st.st_mode) || uint64_t(st.st_dev) != s.stamp.dev || uint64_t(st.st_ino) != s.stamp.ino) {
    r.status = SegmentStatus::kReplaced;
    return Fd();
  }
  return f;
}

struct SegmentData {
  std::vector<uint32_t> words;
  std::vector<uint8_t> data, tail;
  uint64_t hash = 0, sparse = 0;
  uint64_t digest = 0;  // sum of digest_term over the segment's blocks (util/hash.h), absolute indices
  std::vector<uint64_t> stored_digests;  // per stored block: XXH64 of its stored bytes (the integrity record's)
  std::vector<uint32_t> terms;           // per stored block: content_term (format/integrity_record.h)
  uint32_t tail_term = 0;
  bool short_read = false;
};

// Reads and compresses the segment's blocks from fd.
void read_blocks(int fd, const SegmentSpec& s, uint32_t bs, Compressor& comp, const CancelFlag& cancel, std::vector<uint8_t>& in,
                 std::vector<uint8_t>& packed, SegmentData& d, const std::string& path) {
  d = SegmentData();
  if (s.offset == 0 && s.length > 4u * bs) ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  uint64_t end = s.offset + s.length;
  uint64_t next_data = 0;  // with maybe_sparse: no data before this offset
  for (uint64_t pos = s.offset; pos < end; pos += bs) {
    cancel.check();
    size_t len = size_t(std::min<uint64_t>(bs, end - pos));
    bool is_tail = s.last && s.tail_fragment && len < bs;
    if (s.maybe_sparse && !is_tail && pos >= next_data) {
      off_t nd = ::lseek(fd, off_t(pos), SEEK_DATA);
      next_data = nd < 0 ? UINT64_MAX : uint64_t(nd);  // ENXIO: only a hole up to the end of the file
    }
    const uint64_t index = pos / bs;
    if (s.maybe_sparse && !is_tail && pos + len <= next_data) {
      d.words.push_back(0);  // a hole: never read
      d.sparse += len;
      d.hash = hash_combine(d.hash, kZeroBlockMark ^ len);
      d.digest += digest_term(kZeroBlockMark ^ len, index);
      continue;
    }
    size_t got = pread_full(fd, in.data(), len, pos, path);
    if (got < len) {
      d.short_read = true;  // the file shrank while we read it: keep the walked size, zero-filled
      std::memset(in.data() + got, 0, len - got);
    }
    if (is_tail) {
      d.tail.assign(in.begin(), in.begin() + long(len));
      uint64_t h = hash_bytes(in.data(), len);
      d.hash = hash_combine(d.hash, h);
      const uint64_t content = all_zero_bytes(in.data(), len) ? kZeroBlockMark ^ len : h;
      d.digest += digest_term(content, index);
      d.tail_term = content_term(content, index);
      break;
    }
    if (all_zero_bytes(in.data(), len)) {
      d.words.push_back(0);
      d.sparse += len;
      d.hash = hash_combine(d.hash, kZeroBlockMark ^ len);
      d.digest += digest_term(kZeroBlockMark ^ len, index);
      continue;
    }
    uint64_t h = hash_bytes(in.data(), len);
    d.hash = hash_combine(d.hash, h);
    d.digest += digest_term(h, index);
    d.words.push_back(compress_block(comp, in.data(), len, packed));
    d.data.insert(d.data.end(), packed.begin(), packed.end());
    d.stored_digests.push_back(xxh64(packed.data(), packed.size()));  // while the stored bytes are in hand
    d.terms.push_back(content_term(h, index));
  }
}

bool stat_now(int fd, FileStamp& out) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return false;
  out = stamp_of(st);
  return true;
}

}  // namespace

uint32_t compress_block(Compressor& comp, const uint8_t* in, size_t len, std::vector<uint8_t>& out) {
  out.resize(len);
  size_t c = !comp.fast() && looks_incompressible(in, len) ? 0 : comp.compress(in, len, out.data(), len);
  if (c == 0 || c >= len) {
    out.assign(in, in + len);
    return block_word(uint32_t(len), true);
  }
  out.resize(c);
  return uint32_t(c);
}

std::vector<uint8_t> read_and_compress(const TaskSpec& task, Compressor& comp, const CancelFlag& cancel) {
  const uint32_t bs = task.block_size;
  ByteWriter out;
  // Room for the worst case (every block stored raw) up front: growing by doubling would copy it all again.
  uint64_t room = 64;
  for (const SegmentSpec& s : task.segments) room += s.length + 128 + (s.length / bs + 1) * 4;
  out.buf.reserve(size_t(std::min<uint64_t>(room, uint64_t(64) << 20)));
  encode_result_header(out, task);
  std::vector<uint8_t> in(bs), packed;
  SegmentData d;
  for (const SegmentSpec& s : task.segments) {
    SegmentResult r;
    r.file = s.file;
    r.offset = s.offset;
    r.length = s.length;
    r.last = s.last;
    Fd fd = open_walked(task, s, r);
    if (!fd.valid()) {
      encode_segment_result(out, r, nullptr, nullptr);
      continue;
    }
    const std::string path = s.rel;  // for read errors; the writer names the full path
    FileStamp before, after;
    bool whole_file = s.offset == 0 && s.last;
    for (int attempt = 0;; attempt++) {
      if (!stat_now(fd.get(), before)) before = FileStamp();
      read_blocks(fd.get(), s, bs, comp, cancel, in, packed, d, path);
      if (!stat_now(fd.get(), after)) after = FileStamp();
      // A whole file written to while it was read is read once more: a consistent copy of its newer
      // content beats a torn one (it is still reported if it differs from what the walk saw).
      if (!whole_file || attempt == 1 || after == before) break;
    }
    r.changed = d.short_read || after != s.stamp;
    r.hash = d.hash;
    r.digest = d.digest;
    r.sparse_bytes = d.sparse;
    r.block_words = d.words;
    r.stored_digests = d.stored_digests;
    r.terms = d.terms;
    r.tail_term = d.tail_term;
    r.tail_len = uint32_t(d.tail.size());
    r.data_len = d.data.size();
    encode_segment_result(out, r, d.data.data(), d.tail.data());
  }
  return std::move(out.buf);
}

}  // namespace casper
