#include "image/task_planner.h"

#include <sys/stat.h>

#include <algorithm>

#include "data/task_format.h"

namespace casper {

namespace {
constexpr uint32_t kMaxSegmentsPerTask = 4096;
constexpr uint64_t kMaxSparseSegment = uint64_t(1) << 30;
}  // namespace

bool TaskPlanner::current(Next* why) {
  if (have_file_) return true;
  if (tree_) {
    while (entry_ < tree_->entries.size()) {
      const Entry& e = tree_->entries[entry_];
      if (has_data(e) && !e.from_base) {  // data copied from --base by the writer
        file_.entry = entry_;
        file_.size = e.size;
        file_.disk_bytes = e.disk_bytes;
        file_.stamp = tree_->stamps[e.stamp];
        file_.rel = tree_->data_rel(entry_);
        have_file_ = true;
        return true;
      }
      entry_++;
    }
    *why = Next::kDone;
    return false;
  }
  switch (feed_->take(file_)) {
    case PlanFeed::Take::kFile: have_file_ = true; return true;
    case PlanFeed::Take::kWait: *why = Next::kWait; return false;
    case PlanFeed::Take::kEnd: *why = Next::kDone; return false;
    case PlanFeed::Take::kFailed: *why = Next::kFailed; return false;
  }
  return false;
}

void TaskPlanner::advance() {
  have_file_ = false;
  offset_ = 0;
  if (tree_) entry_++;
}

TaskPlanner::Next TaskPlanner::next(uint64_t task_bytes, TaskSpec& task, uint64_t* bytes) {
  const uint64_t bs = opts_.block_size;
  const uint64_t max_seg = std::max<uint64_t>(bs, task_bytes / bs * bs);
  if (partial_.segments.empty() && partial_bytes_ == 0) {
    partial_ = TaskSpec();
    partial_.block_size = opts_.block_size;
    partial_.root_fd = tree_ ? tree_->data_fd.get() : feed_->root_fd();
    partial_.starts_file = offset_ == 0;
  }
  uint64_t& acc = partial_bytes_;
  Next why = Next::kDone;
  bool full = false;
  while (acc < task_bytes && partial_.segments.size() < kMaxSegmentsPerTask) {
    if (!current(&why)) break;
    uint64_t cap = max_seg;
    if (file_.disk_bytes < file_.size) {
      // A sparse file: holes cost no reading, so size its segments by allocated bytes (up to 1 GiB of
      // apparent length); a 2^40-byte file is then ~1,000 tasks, not half a million.
      uint64_t scale = file_.size / std::max<uint64_t>(file_.disk_bytes, bs);
      cap = std::min<uint64_t>(max_seg * std::max<uint64_t>(scale, 1), kMaxSparseSegment) / bs * bs;
      cap = std::max<uint64_t>(cap, max_seg);
    }
    uint64_t len = std::min(file_.size - offset_, cap);
    if (acc > 0 && acc + len > task_bytes) {
      full = true;
      break;
    }
    SegmentSpec s;
    s.file = file_.entry;
    s.offset = offset_;
    s.length = len;
    s.file_size = file_.size;
    s.stamp = file_.stamp;
    s.last = offset_ + len == file_.size;
    s.tail_fragment = tail_in_fragment(opts_, file_.size);
    s.maybe_sparse = file_.disk_bytes < file_.size;
    s.rel = s.last ? std::move(file_.rel) : file_.rel;
    partial_.segments.push_back(std::move(s));
    acc += len;
    if (offset_ + len == file_.size)
      advance();
    else
      offset_ += len;
  }
  if (acc >= task_bytes || partial_.segments.size() >= kMaxSegmentsPerTask) full = true;
  // Cut short only when no more files will come: waiting keeps the cut where the whole tree would put it.
  if (!full && why == Next::kWait) return Next::kWait;
  if (!full && why == Next::kFailed) return Next::kFailed;
  *bytes = acc;
  partial_bytes_ = 0;
  if (partial_.segments.empty()) return Next::kDone;
  task = std::move(partial_);
  partial_ = TaskSpec();
  task.seq = seq_++;
  return Next::kTask;
}

}  // namespace casper
