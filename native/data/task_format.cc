#include "data/task_format.h"

#include "util/bytes.h"

namespace casper {

namespace {
constexpr uint32_t kSegLast = 1, kSegTailFragment = 2, kSegMaybeSparse = 4, kSegChanged = 8;

void put_stamp(ByteWriter& w, const FileStamp& s) {
  w.u64(s.dev);
  w.u64(s.ino);
  w.u64(s.size);
  w.u64(uint64_t(s.mtime_sec));
  w.u64(uint64_t(s.ctime_sec));
  w.u32(s.mtime_nsec);
  w.u32(s.ctime_nsec);
}

FileStamp get_stamp(ByteReader& r) {
  FileStamp s;
  s.dev = r.u64();
  s.ino = r.u64();
  s.size = r.u64();
  s.mtime_sec = int64_t(r.u64());
  s.ctime_sec = int64_t(r.u64());
  s.mtime_nsec = r.u32();
  s.ctime_nsec = r.u32();
  return s;
}
}  // namespace

std::vector<uint8_t> encode_task(const TaskSpec& t) {
  ByteWriter w;
  w.u32(t.seq);
  w.u32(t.starts_file ? 1 : 0);
  w.u32(t.block_size);
  w.u32(uint32_t(t.root_fd));
  w.u32(uint32_t(t.segments.size()));
  for (auto& s : t.segments) {
    w.u32(s.file);
    w.u64(s.offset);
    w.u64(s.length);
    w.u32((s.last ? kSegLast : 0) | (s.tail_fragment ? kSegTailFragment : 0) | (s.maybe_sparse ? kSegMaybeSparse : 0));
    put_stamp(w, s.stamp);
    w.u32(uint32_t(s.rel.size()));
    w.str(s.rel);
  }
  return w.buf;
}

TaskSpec decode_task(const uint8_t* p, size_t n) {
  ByteReader r(p, n);
  TaskSpec t;
  t.seq = r.u32();
  t.starts_file = r.u32() != 0;
  t.block_size = r.u32();
  t.root_fd = int32_t(r.u32());
  uint32_t count = r.u32();
  t.segments.resize(count);
  for (auto& s : t.segments) {
    s.file = r.u32();
    s.offset = r.u64();
    s.length = r.u64();
    uint32_t f = r.u32();
    s.last = f & kSegLast;
    s.tail_fragment = f & kSegTailFragment;
    s.maybe_sparse = f & kSegMaybeSparse;
    s.stamp = get_stamp(r);
    s.rel = r.str(r.u32());
  }
  return t;
}

void encode_segment_result(ByteWriter& w, const SegmentResult& r, const uint8_t* data, const uint8_t* tail) {
  w.u32(r.file);
  w.u32((r.last ? kSegLast : 0) | (r.changed ? kSegChanged : 0));
  w.u32(uint32_t(r.status));
  w.u32(uint32_t(r.error));
  w.u64(r.offset);
  w.u64(r.length);
  w.u64(r.hash);
  w.u64(r.digest);
  w.u64(r.sparse_bytes);
  w.u32(uint32_t(r.block_words.size()));
  w.u32(r.tail_len);
  w.u64(r.data_len);
  for (uint32_t word : r.block_words) w.u32(word);
  w.bytes(data, size_t(r.data_len));
  w.bytes(tail, r.tail_len);
}

void encode_result_header(ByteWriter& w, const TaskSpec& task) {
  w.u32(task.seq);
  w.u32(task.starts_file ? 1 : 0);
  w.u32(uint32_t(task.segments.size()));
}

ResultHeader parse_result_header(const uint8_t* buf, size_t n) {
  ByteReader r(buf, n);
  ResultHeader h;
  h.seq = r.u32();
  h.starts_file = r.u32() != 0;
  return h;
}

std::vector<SegmentResult> parse_result(const uint8_t* buf, size_t n) {
  ByteReader r(buf, n);
  r.u32();  // seq
  r.u32();  // starts_file
  uint32_t count = r.u32();
  std::vector<SegmentResult> res(count);
  for (auto& s : res) {
    s.file = r.u32();
    uint32_t flags = r.u32();
    s.last = flags & kSegLast;
    s.changed = flags & kSegChanged;
    s.status = SegmentStatus(r.u32());
    s.error = int32_t(r.u32());
    s.offset = r.u64();
    s.length = r.u64();
    s.hash = r.u64();
    s.digest = r.u64();
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
