// Cuts the walked tree's file data into read tasks, in entry order: about task_bytes per task, a large file
// split into segments of whole blocks, a sparse file's segments sized by its allocated bytes. The plan
// depends on the walk alone (never on what the data phase finds, nor on timing), so sequence numbers and
// file-start marks are the same on every run, whatever the number of workers.
//
// Its files come from the finished tree, or from a PlanFeed while the walk still runs (traverse/plan_feed.h):
// the same files in the same order, so the same tasks.
#pragma once
#include <cstdint>
#include <vector>

#include "data/task_format.h"
#include "image/image_options.h"
#include "traverse/plan_feed.h"
#include "traverse/tree.h"

namespace casper {

class TaskPlanner {
 public:
  enum class Next { kTask, kWait, kDone, kFailed };

  TaskPlanner(const ImageOptions& opts, const Tree& tree) : opts_(opts), tree_(&tree) {}
  TaskPlanner(const ImageOptions& opts, PlanFeed& feed) : opts_(opts), feed_(&feed) {}
  // The next task; kWait: the walk has not published enough files yet to cut it (call again once it has);
  // kDone: every file is planned; kFailed: the walk failed. *bytes: the file bytes the task covers.
  Next next(uint64_t task_bytes, TaskSpec& task, uint64_t* bytes);
  uint32_t planned() const { return seq_; }

 private:
  // The file being planned (offset_ into it), or false: kWait/kDone/kFailed in *why.
  bool current(Next* why);
  void advance();

  const ImageOptions& opts_;
  const Tree* tree_ = nullptr;
  PlanFeed* feed_ = nullptr;
  uint32_t entry_ = 0;  // tree source: the next entry to look at
  FeedFile file_;       // the file being planned
  bool have_file_ = false;
  uint64_t offset_ = 0;  // within file_
  uint32_t seq_ = 0;
  // A task cut so far while waiting for the feed (kept, so that the next call goes on from it).
  TaskSpec partial_;
  uint64_t partial_bytes_ = 0;
};

}  // namespace casper
