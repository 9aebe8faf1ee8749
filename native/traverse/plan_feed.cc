#include "traverse/plan_feed.h"

namespace casper {

void PlanFeed::set_root_fd(int fd) {
  std::lock_guard<std::mutex> l(mu_);
  root_fd_ = fd;
}

int PlanFeed::root_fd() {
  std::lock_guard<std::mutex> l(mu_);
  return root_fd_;
}

void PlanFeed::publish(std::vector<FeedFile>&& files) {
  if (files.empty()) return;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (auto& f : files) files_.push_back(std::move(f));
  }
  notify();
}

void PlanFeed::close() {
  {
    std::lock_guard<std::mutex> l(mu_);
    closed_ = true;
  }
  notify();
}

void PlanFeed::fail() {
  {
    std::lock_guard<std::mutex> l(mu_);
    failed_ = true;
  }
  notify();
}

PlanFeed::Take PlanFeed::take(FeedFile& out) {
  std::lock_guard<std::mutex> l(mu_);
  if (failed_) return Take::kFailed;
  if (files_.empty()) return closed_ ? Take::kEnd : Take::kWait;
  out = std::move(files_.front());
  files_.pop_front();
  return Take::kFile;
}

void PlanFeed::listen(std::function<void()> fn) {
  std::lock_guard<std::mutex> l(mu_);
  listener_ = std::move(fn);
}

void PlanFeed::notify() {
  std::function<void()> fn;
  {
    std::lock_guard<std::mutex> l(mu_);
    fn = listener_;
  }
  if (fn) fn();
}

}  // namespace casper
