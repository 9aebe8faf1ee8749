// The data phase's work loop. Every pool thread (a piscina worker, or a libuv thread for a job that starts
// no workers) calls work() once and stays in it until the data section is complete: it takes the next job
// itself (a closed fragment block to compress, else the next planned read task while fewer than `window`
// tasks are unwritten), does it and hands the result straight to the OrderedWriter. No task or result
// crosses into JavaScript, so the main thread is idle during the data phase and per-task cost is a mutex
// hand-off rather than two event-loop round trips and two buffer copies per task.
//
// Ordering stays the writer's (image/ordered_writer.h): this loop only decides which thread does what, so
// the image is the same for any number of threads and any timing.
//
// Threads: work() from any number of threads at once; progress() and wake() from any thread. Engines
// are found by id (engine_by_id) because a piscina worker is another isolate and cannot be handed a native
// object, only a number.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>

#include "compress/compressor.h"
#include "image/ordered_writer.h"
#include "image/task_planner.h"
#include "util/cancel.h"
#include "util/error.h"

namespace casper {

struct DataProgress {
  uint64_t bytes_in = 0;  // file bytes of the tasks written so far
  uint64_t bytes_out =
      0;  // bytes of the data section written so far (the writer's; tails counted once, in their fragment block)
  uint32_t tasks = 0;      // tasks planned
  uint32_t fragments = 0;  // fragment blocks closed
  WriterState writer;
};

class DataEngine {
 public:
  // task_bytes: file bytes per read task; window: most tasks planned and not yet written (memory bound);
  // nice: how much lower than the caller's the priority of the threads running work() is (util/thread_nice.h).
  DataEngine(TaskPlanner& planner, OrderedWriter& writer, uint64_t task_bytes, uint32_t window, CancelFlag cancel,
             int nice = 0)
      : planner_(planner), writer_(writer), task_bytes_(task_bytes), window_(window), cancel_(cancel), nice_(nice) {}

  // Runs jobs until the data section is complete. Throws the first failure of any thread (each thread
  // throws the same one) or ECANCELED.
  void work(Compressor& comp);
  DataProgress progress();
  // Wakes waiting threads so they see the cancel flag (set by the caller) promptly.
  void wake();

 private:
  struct Job {
    enum class Kind { kRead, kFragment, kEnd, kStop } kind = Kind::kStop;
    TaskSpec task;
    ClosedFragment fragment;
  };
  Job take();  // with mu_ free: waits for the next job
  void handed_over(std::vector<ClosedFragment>&& closed);
  void fail(std::unique_ptr<NativeError> err);

  TaskPlanner& planner_;
  OrderedWriter& writer_;
  const uint64_t task_bytes_;
  const uint32_t window_;
  const CancelFlag cancel_;
  const int nice_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<ClosedFragment> fragments_;  // closed, waiting for a thread to compress them
  std::deque<uint64_t> task_bytes_of_;    // file bytes of each planned task not yet counted as written
  uint32_t planned_ = 0, written_ = 0, fragments_closed_ = 0;
  uint64_t bytes_in_ = 0;
  bool planner_done_ = false, end_taken_ = false, done_ = false;
  std::unique_ptr<NativeError> failure_;
};

// Engines by id, for the pool's threads (see above). register_engine keeps it alive until unregistered.
uint32_t register_engine(std::shared_ptr<DataEngine> engine);
std::shared_ptr<DataEngine> engine_by_id(uint32_t id);  // null once unregistered
void unregister_engine(uint32_t id);

}  // namespace casper
