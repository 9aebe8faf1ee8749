#include "data/task_format.h"

#include "util/bytes.h"

namespace casper {

namespace {
constexpr uint32_t kSegLast = 1, kSegChanged = 8;
}  // namespace

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
  w.u32(uint32_t(r.stored_digests.size()));
  for (size_t i = 0; i < r.stored_digests.size(); i++) {
    w.u64(r.stored_digests[i]);
    w.u32(r.terms[i]);
  }
  w.u32(r.tail_term);
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
    uint32_t stored = r.u32();
    if (stored > nblocks) throw std::out_of_range("bad native result buffer");
    s.stored_digests.resize(stored);
    s.terms.resize(stored);
    for (uint32_t i = 0; i < stored; i++) {
      s.stored_digests[i] = r.u64();
      s.terms[i] = r.u32();
    }
    s.tail_term = r.u32();
    s.data = r.take(size_t(s.data_len));
    s.tail = r.take(s.tail_len);
  }
  return res;
}

}  // namespace casper
