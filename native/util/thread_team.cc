#include "util/thread_team.h"

#include <system_error>

namespace casper {

ThreadTeam::ThreadTeam(unsigned threads) {
  for (unsigned m = 1; m < threads; m++) {
    try {
      threads_.emplace_back([this, m] { serve(m); });
    } catch (const std::system_error&) {
      break;  // a smaller team
    }
  }
}

ThreadTeam::~ThreadTeam() {
  {
    std::lock_guard<std::mutex> l(mu_);
    quit_ = true;
  }
  start_cv_.notify_all();
  for (auto& t : threads_) t.join();
}

// Takes items of the current round until none is left (or one failed).
void ThreadTeam::work(unsigned member) {
  for (;;) {
    size_t i = 0;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (failure_ || next_ >= n_) return;
      i = next_++;
    }
    try {
      (*fn_)(i, member);
    } catch (...) {
      std::lock_guard<std::mutex> l(mu_);
      if (!failure_) failure_ = std::current_exception();
      return;
    }
  }
}

void ThreadTeam::serve(unsigned member) {
  uint64_t seen = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> l(mu_);
      start_cv_.wait(l, [&] { return quit_ || round_ != seen; });
      if (quit_) return;
      seen = round_;
    }
    work(member);
    std::lock_guard<std::mutex> l(mu_);
    if (--busy_ == 0) done_cv_.notify_all();
  }
}

void ThreadTeam::run(size_t n, const std::function<void(size_t, unsigned)>& fn) {
  if (n == 0) return;
  {
    std::lock_guard<std::mutex> l(mu_);
    fn_ = &fn;
    n_ = n;
    next_ = 0;
    failure_ = nullptr;
    busy_ = unsigned(threads_.size());
    round_++;
  }
  start_cv_.notify_all();
  work(0);
  std::exception_ptr failure;
  {
    std::unique_lock<std::mutex> l(mu_);
    done_cv_.wait(l, [&] { return busy_ == 0; });
    fn_ = nullptr;
    failure = failure_;
  }
  if (failure) std::rethrow_exception(failure);
}

}  // namespace casper
