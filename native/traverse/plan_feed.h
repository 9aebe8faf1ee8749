// The files the walk has finished with, handed to the data phase while the walk goes on (the walk overlapped
// with compression). The walker publishes each directory's files once their entries are final, in entry
// order; the planner takes them in that order and cuts tasks exactly as it would from the finished tree:
// when the feed runs dry before the walk ends it waits rather than cutting a short task, so the plan (and
// the image) never depends on timing.
//
// Threads: publish()/close()/fail() from the walker's thread, take() from the planner's (under the data
// engine's lock), listen() from the main thread. The listener is called with no lock held.
#pragma once
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "traverse/tree.h"

namespace casper {

// What the planner needs of one regular file with data (a copy: the tree itself keeps growing).
struct FeedFile {
  uint32_t entry = 0;
  uint64_t size = 0;
  uint64_t disk_bytes = 0;
  FileStamp stamp;
  std::string rel;  // beneath root_fd
};

class PlanFeed {
 public:
  enum class Take { kFile, kWait, kEnd, kFailed };

  // The directory file data is opened beneath; set by the walker before its first publish().
  void set_root_fd(int fd);
  int root_fd();
  void publish(std::vector<FeedFile>&& files);
  // The walk is complete: every file is published.
  void close();
  // The walk failed: the data phase must stop (its caller reports the walk's error).
  void fail();
  Take take(FeedFile& out);
  // Called after each publish, close and fail (an empty function stops the calls).
  void listen(std::function<void()> fn);

 private:
  void notify();
  std::mutex mu_;
  std::deque<FeedFile> files_;
  int root_fd_ = -1;
  bool closed_ = false, failed_ = false;
  std::function<void()> listener_;
};

}  // namespace casper
