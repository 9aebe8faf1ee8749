#include "data/task_format.h"

#include "util/bytes.h"

namespace casper {

std::vector<uint8_t> encode_task(const TaskSpec& t) {
  ByteWriter w;
  w.u32(t.block_size);
  w.u32(uint32_t(t.segments.size()));
  for (auto& s : t.segments) {
    w.u32(s.file);
    w.u64(s.offset);
    w.u64(s.length);
    w.u64(s.file_size);
    w.u32((s.last ? kSegLast : 0) | (s.tail_fragment ? kSegTailFragment : 0) | (s.maybe_sparse ? kSegMaybeSparse : 0));
    w.u32(uint32_t(s.path.size()));
    w.str(s.path);
  }
  return w.buf;
}

TaskSpec decode_task(const uint8_t* p, size_t n) {
  ByteReader r(p, n);
  TaskSpec t;
  t.block_size = r.u32();
  uint32_t count = r.u32();
  t.segments.resize(count);
  for (auto& s : t.segments) {
    s.file = r.u32();
    s.offset = r.u64();
    s.length = r.u64();
    s.file_size = r.u64();
    uint32_t f = r.u32();
    s.last = f & kSegLast;
    s.tail_fragment = f & kSegTailFragment;
    s.maybe_sparse = f & kSegMaybeSparse;
    s.path = r.str(r.u32());
  }
  return t;
}

}  // namespace casper
