// The determinism rule of the data section, in one place. Read results and compressed fragment blocks arrive
// in any order from any thread; they are written in plan order, and fragment block k, closed while task s was
// written, goes just before the first file-starting task at or after s + kFragmentLag (the rest after the last
// task, in index order). Positions then depend on the plan alone, so the image is byte-identical for any
// number of workers and any timing.
//
// Thread ownership: every public method may be called from any thread; calls are serialised by the writer's
// lock, and the DataWriter it drives is only ever touched with that lock held (checked on each use), but
// for the writes each step decided, which the calling thread makes after releasing it.
#pragma once
#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "image/data_writer.h"

namespace casper {

// A fragment block's uncompressed bytes, shared (not copied) by the thread that compresses it and the
// writer, which keeps them for duplicate checks until the block is written.
using FragmentBytes = std::shared_ptr<const std::vector<uint8_t>>;

struct ClosedFragment {
  uint32_t index = 0;
  FragmentBytes raw;  // uncompressed fragment block, to compress in the pool
};

struct WriterState {
  uint32_t tasks_written = 0;
  bool done = false;          // every task and fragment is in the image
  uint64_t data_bytes = 0;    // bytes of the data section written so far (what the image holds)
  uint32_t entries_done = 0;  // entries before the next file still to be written
  // Where the writer's time goes (the bench's serial-part figures): the CPU time of the threads holding the
  // lock (CLOCK_THREAD_CPUTIME_ID) and the wall time it was held, summed over every step.
  uint64_t held_cpu_ns = 0;
  uint64_t held_wall_ns = 0;
};

class OrderedWriter {
 public:
  // Part of the layout: changing it moves image bytes. Closed fragment blocks wait this many tasks (raw, for
  // duplicate checks, and compressed) before they are written: 32 held ~90 MiB on 100,000 small files.
  static constexpr uint32_t kFragmentLag = 8;

  explicit OrderedWriter(DataWriter& data) : data_(data) {}

  // A task's result; one that comes before its turn is kept (moved, not copied). Returns the fragment
  // blocks that filled up meanwhile.
  std::vector<ClosedFragment> add_result(TaskResult&& result);
  // Fragment `index` compressed: its size word (bit 24 = stored raw), the stored bytes and their XXH64.
  std::vector<ClosedFragment> add_fragment(uint32_t index, uint32_t word, std::vector<uint8_t>&& bytes,
                                           uint64_t digest);
  // No task beyond `planned` will come; the last, partly filled fragment block closes after the last task.
  std::vector<ClosedFragment> end(uint32_t planned);
  // Lock-free: what the last step published (every step publishes before releasing the lock).
  WriterState state() const;

 private:
  struct Pending {
    uint32_t index = 0, due = 0;
    bool ready = false;
    uint32_t word = 0;
    std::vector<uint8_t> bytes;
    uint64_t digest = 0;
  };
  // With the lock held: writes whatever is next in order. `current` (may be null) is the result just given,
  // kept in held_ when it is not its turn yet.
  void pump(std::vector<ClosedFragment>& closed, TaskResult* current);
  bool write_due_fragments(uint32_t before_seq);
  void collect_closed(std::vector<ClosedFragment>& closed, uint32_t due);
  void publish();
  void check_owner() const;

  DataWriter& data_;
  std::mutex mu_;
  std::thread::id owner_;                // the thread holding mu_ (checked before touching data_)
  std::map<uint32_t, TaskResult> held_;  // results that arrived before their turn
  std::deque<Pending> fragments_;        // closed fragment blocks in index order
  uint32_t next_seq_ = 0;
  uint32_t planned_ = 0;
  std::atomic<uint64_t> held_cpu_ns_{0}, held_wall_ns_{0};  // added to by each holder, with the lock held
  // state(), as published by the last step
  std::atomic<uint32_t> tasks_written_{0}, entries_done_{0};
  std::atomic<uint64_t> data_bytes_{0};
  std::atomic<bool> done_{false};
  bool ended_ = false, last_closed_ = false;
};

}  // namespace casper
