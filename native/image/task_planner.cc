#include "image/task_planner.h"

#include <sys/stat.h>

#include <algorithm>

#include "data/task_format.h"

namespace casper {

namespace {
constexpr uint32_t kMaxSegmentsPerTask = 4096;
constexpr uint64_t kMaxSparseSegment = uint64_t(1) << 30;
}  // namespace

bool TaskPlanner::next(uint64_t task_bytes, TaskSpec& task, uint64_t* bytes) {
  const uint64_t bs = opts_.block_size;
  const uint64_t max_seg = std::max<uint64_t>(bs, task_bytes / bs * bs);
  task = TaskSpec();
  task.block_size = opts_.block_size;
  task.root_fd = tree_.data_fd.get();
  task.starts_file = offset_ == 0;
  uint64_t acc = 0;
  while (entry_ < tree_.entries.size() && acc < task_bytes && task.segments.size() < kMaxSegmentsPerTask) {
    const Entry& e = tree_.entries[entry_];
    if (!has_data(e) || e.from_base) {  // data copied from --base by the writer
      entry_++;
      offset_ = 0;
      continue;
    }
    uint64_t cap = max_seg;
    if (e.disk_bytes < e.size) {
      // A sparse file: holes cost no reading, so size its segments by allocated bytes (up to 1 GiB of
      // apparent length); a 2^40-byte file is then ~1,000 tasks, not half a million.
      uint64_t scale = e.size / std::max<uint64_t>(e.disk_bytes, bs);
      cap = std::min<uint64_t>(max_seg * std::max<uint64_t>(scale, 1), kMaxSparseSegment) / bs * bs;
      cap = std::max<uint64_t>(cap, max_seg);
    }
    uint64_t len = std::min(e.size - offset_, cap);
    if (acc > 0 && acc + len > task_bytes) break;
    SegmentSpec s;
    s.file = entry_;
    s.offset = offset_;
    s.length = len;
    s.stamp = tree_.stamps[e.stamp];
    s.last = offset_ + len == e.size;
    s.tail_fragment = tail_in_fragment(opts_, e.size);
    s.maybe_sparse = e.disk_bytes < e.size;
    s.rel = tree_.data_rel(entry_);
    task.segments.push_back(std::move(s));
    acc += len;
    if (offset_ + len == e.size) {
      entry_++;
      offset_ = 0;
    } else {
      offset_ += len;
    }
  }
  *bytes = acc;
  if (task.segments.empty()) return false;
  task.seq = seq_++;
  return true;
}

}  // namespace casper
