// A few threads kept for a job made of rounds (the table writer's waves of metadata blocks): run(n, fn) calls
// fn(i, member) for every i in [0, n), spread over the team, and returns when all are done. The calling thread
// is member 0 and works too; `member` lets each thread keep state of its own (a compressor). Threads are
// started once, not per round. A thread that cannot be started means a smaller team, never a failure.
#pragma once
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace casper {

class ThreadTeam {
 public:
  explicit ThreadTeam(unsigned threads);
  ~ThreadTeam();
  ThreadTeam(const ThreadTeam&) = delete;
  ThreadTeam& operator=(const ThreadTeam&) = delete;

  unsigned size() const { return unsigned(threads_.size()) + 1; }
  // The first exception thrown by fn is rethrown here once every member has stopped; the rest of the round
  // is then not started.
  void run(size_t n, const std::function<void(size_t, unsigned)>& fn);

 private:
  void serve(unsigned member);
  void work(unsigned member);

  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable start_cv_, done_cv_;
  uint64_t round_ = 0;  // bumped by run(): the helpers start on a new value
  unsigned busy_ = 0;   // helpers still in the current round
  bool quit_ = false;
  // The current round (set before round_ is bumped, read by the members).
  const std::function<void(size_t, unsigned)>* fn_ = nullptr;
  size_t n_ = 0, next_ = 0;
  std::exception_ptr failure_;
};

}  // namespace casper
