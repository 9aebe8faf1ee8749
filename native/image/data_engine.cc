#include "image/data_engine.h"

#include <chrono>
#include <map>

#include "data/block_reader.h"
#include "util/thread_nice.h"
#include "util/xxhash64.h"

namespace casper {

namespace {
// A waiting thread also wakes this often to see a cancel flag set from JavaScript (which cannot notify).
constexpr auto kCancelPoll = std::chrono::milliseconds(50);
}  // namespace

void DataEngine::work(Compressor& comp) {
  ThreadNice lower(nice_);
  for (;;) {
    Job job = take();
    if (job.kind == Job::Kind::kStop) break;
    std::unique_ptr<NativeError> err = capture_error([&]() {
      std::vector<ClosedFragment> closed;
      switch (job.kind) {
        case Job::Kind::kRead: {
          closed = writer_.add_result(read_and_compress(job.task, comp, cancel_));
          break;
        }
        case Job::Kind::kFragment: {
          std::vector<uint8_t> stored;
          const std::vector<uint8_t>& raw = *job.fragment.raw;
          uint32_t word = compress_block(comp, raw.data(), raw.size(), stored);
          const uint64_t digest = xxh64(stored.data(), stored.size());  // for the integrity record, while in hand
          closed = writer_.add_fragment(job.fragment.index, word, std::move(stored), digest);
          break;
        }
        case Job::Kind::kEnd: closed = writer_.end(planner_.planned()); break;
        case Job::Kind::kStop: break;
      }
      handed_over(std::move(closed));
    });
    if (err) fail(std::move(err));
  }
  std::lock_guard<std::mutex> l(mu_);
  if (failure_) throw NativeError(*failure_);
}

// Fragment blocks first: a task may not be written before the fragment blocks due ahead of it, so they are
// the critical path. Then a new read task while the window allows; the writer's end once all are planned.
DataEngine::Job DataEngine::take() {
  std::unique_lock<std::mutex> l(mu_);
  for (;;) {
    Job job;
    if (failure_ || done_) return job;
    if (cancel_.is_set()) {
      failure_ = std::make_unique<NativeError>("ECANCELED", "snapshot cancelled");
      cv_.notify_all();
      return job;
    }
    if (!fragments_.empty()) {
      job.kind = Job::Kind::kFragment;
      job.fragment = std::move(fragments_.front());
      fragments_.pop_front();
      return job;
    }
    if (!planner_done_ && planned_ - written_ < window_) {
      uint64_t bytes = 0;
      switch (planner_.next(task_bytes_, job.task, &bytes)) {
        case TaskPlanner::Next::kTask:
          planned_++;
          task_bytes_of_.push_back(bytes);
          job.kind = Job::Kind::kRead;
          return job;
        case TaskPlanner::Next::kDone: planner_done_ = true; break;
        case TaskPlanner::Next::kWait: break;  // the walk publishes more (its feed wakes us)
        case TaskPlanner::Next::kFailed:
          // The walk failed: its own error is what the caller reports.
          failure_ = std::make_unique<NativeError>("ECANCELED", "the walk failed: the data phase stops");
          cv_.notify_all();
          return job;
      }
    }
    if (planner_done_ && !end_taken_) {
      end_taken_ = true;
      job.kind = Job::Kind::kEnd;
      return job;
    }
    cv_.wait_for(l, kCancelPoll);
  }
}

// After a writer step: queue the fragment blocks it closed, count what it wrote, wake the waiting threads.
// The writer's state is read before taking mu_ (mu_ is never held while waiting for the writer's lock).
void DataEngine::handed_over(std::vector<ClosedFragment>&& closed) {
  WriterState s = writer_.state();
  std::lock_guard<std::mutex> l(mu_);
  fragments_closed_ += uint32_t(closed.size());
  for (auto& c : closed) fragments_.push_back(std::move(c));
  for (; written_ < s.tasks_written && !task_bytes_of_.empty(); written_++) {
    bytes_in_ += task_bytes_of_.front();
    task_bytes_of_.pop_front();
  }
  done_ = done_ || s.done;
  cv_.notify_all();
}

void DataEngine::fail(std::unique_ptr<NativeError> err) {
  std::lock_guard<std::mutex> l(mu_);
  if (!failure_) failure_ = std::move(err);
  cv_.notify_all();
}

DataProgress DataEngine::progress() {
  DataProgress p;
  p.writer = writer_.state();
  std::lock_guard<std::mutex> l(mu_);
  p.bytes_in = bytes_in_;
  p.bytes_out = p.writer.data_bytes;
  p.tasks = planned_;
  p.fragments = fragments_closed_;
  return p;
}

void DataEngine::wake() {
  std::lock_guard<std::mutex> l(mu_);
  cv_.notify_all();
}

namespace {
std::mutex registry_mu;
std::map<uint32_t, std::shared_ptr<DataEngine>> registry;
uint32_t next_id = 1;
}  // namespace

uint32_t register_engine(std::shared_ptr<DataEngine> engine) {
  std::lock_guard<std::mutex> l(registry_mu);
  uint32_t id = next_id++;
  registry.emplace(id, std::move(engine));
  return id;
}

std::shared_ptr<DataEngine> engine_by_id(uint32_t id) {
  std::lock_guard<std::mutex> l(registry_mu);
  auto it = registry.find(id);
  return it == registry.end() ? nullptr : it->second;
}

void unregister_engine(uint32_t id) {
  std::lock_guard<std::mutex> l(registry_mu);
  registry.erase(id);
}

}  // namespace casper
