#include "data/block_reader.h"

#include "compress/incompressible.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "format/block_word.h"
#include "format/constants.h"
#include "format/integrity_record.h"
#include "fs/beneath.h"
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
    if (err == ELOOP || err == ENOTDIR || err == ENXIO)
      r.status = SegmentStatus::kReplaced;
    else
      r.status = SegmentStatus::kFailed;
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

// Reads and compresses the segment's blocks from fd into r (block words, stored bytes, tail, hashes).
// Returns false when the file turned out shorter than the walk saw (the missing bytes read as zeros).
bool read_blocks(int fd, const SegmentSpec& s, uint32_t bs, Compressor& comp, const CancelFlag& cancel,
                 std::vector<uint8_t>& in, std::vector<uint8_t>& packed, SegmentResult& r, const std::string& path) {
  r.hash = r.digest = r.sparse_bytes = 0;
  r.block_words.clear();
  r.stored_digests.clear();
  r.terms.clear();
  r.tail_term = 0;
  r.data.clear();
  r.tail.clear();
  bool whole = true;
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
    uint64_t content = 0;
    bool zero = false;
    if (s.maybe_sparse && !is_tail && pos + len <= next_data) {
      content = zero_block_hash(len);  // a hole: never read
      zero = true;
    } else {
      size_t got = pread_full(fd, in.data(), len, pos, path);
      if (got < len) {
        whole = false;  // the file shrank while we read it: keep the walked size, zero-filled
        std::memset(in.data() + got, 0, len - got);
      }
      content = block_content_hash(in.data(), len, &zero);
    }
    r.hash = hash_combine(r.hash, content);
    r.digest += digest_term(content, index);
    if (is_tail) {
      r.tail.assign(in.begin(), in.begin() + long(len));
      r.tail_term = content_term(content, index);
      break;
    }
    if (zero) {
      r.block_words.push_back(0);
      r.sparse_bytes += len;
      continue;
    }
    r.block_words.push_back(compress_block(comp, in.data(), len, packed));
    r.data.insert(r.data.end(), packed.begin(), packed.end());
    r.stored_digests.push_back(xxh64(packed.data(), packed.size()));  // while the stored bytes are in hand
    r.terms.push_back(content_term(content, index));
  }
  return whole;
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

TaskResult read_and_compress(const TaskSpec& task, Compressor& comp, const CancelFlag& cancel) {
  const uint32_t bs = task.block_size;
  TaskResult out;
  out.seq = task.seq;
  out.starts_file = task.starts_file;
  out.segments.resize(task.segments.size());
  std::vector<uint8_t> in(bs), packed;
  for (size_t i = 0; i < task.segments.size(); i++) {
    const SegmentSpec& s = task.segments[i];
    SegmentResult& r = out.segments[i];
    r.file = s.file;
    r.offset = s.offset;
    r.length = s.length;
    r.last = s.last;
    r.file_size = s.file_size;
    Fd fd = open_walked(task, s, r);
    if (!fd.valid()) {
      r.rel = s.rel;
      continue;
    }
    const std::string path = s.rel;  // for read errors; the writer names the full path
    FileStamp before, after;
    bool whole_file = s.offset == 0 && s.last;
    bool whole = true;
    for (int attempt = 0;; attempt++) {
      if (!stat_now(fd.get(), before)) before = FileStamp();
      whole = read_blocks(fd.get(), s, bs, comp, cancel, in, packed, r, path);
      if (!stat_now(fd.get(), after)) after = FileStamp();
      // A whole file written to while it was read is read once more: a consistent copy of its newer
      // content beats a torn one (it is still reported if it differs from what the walk saw).
      if (!whole_file || attempt == 1 || after == before) break;
    }
    r.changed = !whole || after != s.stamp;
    if (r.status != SegmentStatus::kRead) r.rel = s.rel;
  }
  return out;
}

}  // namespace casper
