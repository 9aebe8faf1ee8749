// Cuts the walked tree's file data into read tasks, in entry order: about task_bytes per task, a large file
// split into segments of whole blocks, a sparse file's segments sized by its allocated bytes. The plan
// depends on the walk alone (never on what the data phase finds), so sequence numbers and file-start marks
// are the same on every run, whatever the number of workers.
#pragma once
#include <cstdint>
#include <vector>

#include "data/task_format.h"
#include "image/image_options.h"
#include "traverse/tree.h"

namespace casper {

class TaskPlanner {
 public:
  TaskPlanner(const ImageOptions& opts, const Tree& tree) : opts_(opts), tree_(tree) {}
  // The next task, or false when every file is planned. *bytes: the file bytes it covers.
  bool next(uint64_t task_bytes, TaskSpec& task, uint64_t* bytes);
  uint32_t planned() const { return seq_; }

 private:
  const ImageOptions& opts_;
  const Tree& tree_;
  uint32_t entry_ = 0;
  uint64_t offset_ = 0;  // within tree_.entries[entry_]
  uint32_t seq_ = 0;
};

}  // namespace casper
