#include "image/write_behind.h"

#include <fcntl.h>

#include <system_error>

namespace casper {

WriteBehind::WriteBehind(int fd, uint64_t start) : fd_(fd), queued_(start), target_(start) {
  try {
    thread_ = std::thread([this] { run(); });
  } catch (const std::system_error&) {
    // no thread, no write-behind: the fsync does it all
  }
}

void WriteBehind::wrote_up_to(uint64_t end) {
  std::lock_guard<std::mutex> l(mu_);
  if (end < target_ + kStep) return;
  target_ = end;
  cv_.notify_one();
}

void WriteBehind::stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
    cv_.notify_one();
  }
  if (thread_.joinable()) thread_.join();
}

void WriteBehind::run() {
  std::unique_lock<std::mutex> l(mu_);
  for (;;) {
    cv_.wait(l, [this] { return stopping_ || target_ > queued_; });
    if (stopping_) return;
    const uint64_t from = queued_, to = target_;
    l.unlock();
    (void)::sync_file_range(fd_, off_t(from), off_t(to - from), SYNC_FILE_RANGE_WRITE);
    l.lock();
    queued_ = to;
  }
}

}  // namespace casper
