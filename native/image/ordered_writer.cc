#include "image/ordered_writer.h"

#include "util/clock.h"
#include "util/error.h"

namespace casper {

namespace {

// Holds the writer's lock and records the holding thread, so the DataWriter can be checked to be used only
// under it; adds the thread's CPU time and the wall time spent holding it to the writer's totals (two clock
// reads on each side: a few hundred ns per step, nothing that touches the image).
class Locked {
 public:
  Locked(std::mutex& mu, std::thread::id& owner, std::atomic<uint64_t>& cpu_ns, std::atomic<uint64_t>& wall_ns)
      : lock_(mu), owner_(owner), cpu_ns_(cpu_ns), wall_ns_(wall_ns) {
    owner_ = std::this_thread::get_id();
    cpu0_ = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    wall0_ = clock_ns(CLOCK_MONOTONIC);
  }
  ~Locked() {
    // Still under the lock (lock_ is released after this body); atomics so that state() may read them without it.
    cpu_ns_.fetch_add(clock_ns(CLOCK_THREAD_CPUTIME_ID) - cpu0_, std::memory_order_relaxed);
    wall_ns_.fetch_add(clock_ns(CLOCK_MONOTONIC) - wall0_, std::memory_order_relaxed);
    owner_ = std::thread::id();
  }

 private:
  std::lock_guard<std::mutex> lock_;
  std::thread::id& owner_;
  std::atomic<uint64_t>& cpu_ns_;
  std::atomic<uint64_t>& wall_ns_;
  uint64_t cpu0_ = 0, wall0_ = 0;
};
}  // namespace

void OrderedWriter::check_owner() const {
  if (owner_ != std::this_thread::get_id()) throw call_order_fault("the data writer used without its lock");
}

// Each step decides under the lock and writes after releasing it (DataWriter::take_writes/issue).
std::vector<ClosedFragment> OrderedWriter::add_result(TaskResult&& result) {
  std::vector<ClosedFragment> closed;
  std::vector<DataWriter::Write> writes;
  {
    Locked l(mu_, owner_, held_cpu_ns_, held_wall_ns_);
    const uint32_t seq = result.seq;
    if (seq < next_seq_ || held_.count(seq) || (ended_ && seq >= planned_))
      throw call_order_fault("result " + std::to_string(seq) + " given twice or beyond the plan");
    pump(closed, &result);
    writes = data_.take_writes();
    publish();
  }
  data_.issue(writes);
  return closed;
}

std::vector<ClosedFragment> OrderedWriter::add_fragment(uint32_t index, uint32_t word, std::vector<uint8_t>&& bytes,
                                                        uint64_t digest) {
  std::vector<ClosedFragment> closed;
  std::vector<DataWriter::Write> writes;
  {
    Locked l(mu_, owner_, held_cpu_ns_, held_wall_ns_);
    Pending* f = nullptr;
    for (auto& c : fragments_)
      if (c.index == index) f = &c;
    if (!f || f->ready) throw call_order_fault("fragment " + std::to_string(index) + " was not waiting");
    f->ready = true;
    f->word = word;
    f->bytes = std::move(bytes);
    f->digest = digest;
    pump(closed, nullptr);
    writes = data_.take_writes();
    publish();
  }
  data_.issue(writes);
  return closed;
}

std::vector<ClosedFragment> OrderedWriter::end(uint32_t planned) {
  std::vector<ClosedFragment> closed;
  std::vector<DataWriter::Write> writes;
  {
    Locked l(mu_, owner_, held_cpu_ns_, held_wall_ns_);
    if (ended_) throw call_order_fault("the data phase ended twice");
    if (planned < next_seq_ || (!held_.empty() && held_.rbegin()->first >= planned))
      throw call_order_fault("results beyond the " + std::to_string(planned) + " planned tasks");
    ended_ = true;
    planned_ = planned;
    pump(closed, nullptr);
    writes = data_.take_writes();
    publish();
  }
  data_.issue(writes);
  return closed;
}

// With the lock held, at the end of each step: what state() reports.
void OrderedWriter::publish() {
  check_owner();
  tasks_written_.store(next_seq_, std::memory_order_relaxed);
  data_bytes_.store(data_.written_bytes(), std::memory_order_relaxed);
  entries_done_.store(data_.entries_done(), std::memory_order_relaxed);
  // Release: a thread that sees done sees every decision made before it. The last steps' writes are made by
  // their threads after this, before those return from the engine (the caller waits for every one).
  done_.store(ended_ && last_closed_ && next_seq_ == planned_ && fragments_.empty(), std::memory_order_release);
}

// Without the lock: the main thread polls this for progress while pool threads hold the lock for writes, and
// must never wait for them (a step can take milliseconds: a duplicate's bytes read back, a large pwrite).
WriterState OrderedWriter::state() const {
  WriterState s;
  s.done = done_.load(std::memory_order_acquire);
  s.tasks_written = tasks_written_.load(std::memory_order_relaxed);
  s.data_bytes = data_bytes_.load(std::memory_order_relaxed);
  s.entries_done = entries_done_.load(std::memory_order_relaxed);
  s.held_cpu_ns = held_cpu_ns_.load(std::memory_order_relaxed);
  s.held_wall_ns = held_wall_ns_.load(std::memory_order_relaxed);
  return s;
}

// Writes, in index order, every fragment block due before task `before_seq`; false when one is still being
// compressed (the task must wait for it).
bool OrderedWriter::write_due_fragments(uint32_t before_seq) {
  check_owner();
  while (!fragments_.empty() && fragments_.front().due <= before_seq) {
    Pending& f = fragments_.front();
    if (!f.ready) return false;
    data_.write_fragment(f.index, f.word, std::move(f.bytes), f.digest);
    fragments_.pop_front();
  }
  return true;
}

void OrderedWriter::collect_closed(std::vector<ClosedFragment>& closed, uint32_t due) {
  check_owner();
  for (auto& [index, raw] : data_.take_closed_fragments()) {
    Pending f;
    f.index = index;
    f.due = due;
    fragments_.push_back(std::move(f));
    closed.push_back(ClosedFragment{index, std::move(raw)});
  }
}

void OrderedWriter::pump(std::vector<ClosedFragment>& closed, TaskResult* current) {
  check_owner();
  for (;;) {
    TaskResult* r = nullptr;
    auto held = held_.find(next_seq_);
    if (current && current->seq == next_seq_)
      r = current;
    else if (held != held_.end())
      r = &held->second;
    if (!r) break;
    if (r->starts_file && !write_due_fragments(next_seq_)) break;  // a due fragment is still being compressed
    data_.add_result(*r);
    collect_closed(closed, next_seq_ + kFragmentLag);
    if (r == current)
      current = nullptr;
    else
      held_.erase(held);
    next_seq_++;
  }
  if (current) {
    const uint32_t seq = current->seq;
    held_.emplace(seq, std::move(*current));  // not its turn yet
  }
  if (!ended_ || next_seq_ != planned_) return;
  // Every task is written: the last fragment block closes, and every fragment goes out in index order.
  if (!last_closed_) {
    data_.close_open_fragment();
    collect_closed(closed, next_seq_);
    last_closed_ = true;
  }
  write_due_fragments(UINT32_MAX);
}

}  // namespace casper
