// Starts the disk writes of the data section while it grows, on a thread of its own: every kStep bytes the
// writer reports, sync_file_range(SYNC_FILE_RANGE_WRITE) queues what came before. The writeback then
// overlaps compression, and the fsync before the rename has only the rest to wait for. On its own thread
// because starting writeback costs CPU in the caller (block allocation, building I/O requests), which must
// not land on the writer's lock, the serial part of the data phase. Advisory: a file system that refuses it
// loses nothing, and a thread that cannot start means no write-behind.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

namespace casper {

class WriteBehind {
 public:
  static constexpr uint64_t kStep = uint64_t(8) << 20;

  WriteBehind(int fd, uint64_t start);
  ~WriteBehind() { stop(); }
  WriteBehind(const WriteBehind&) = delete;
  WriteBehind& operator=(const WriteBehind&) = delete;

  // The bytes before `end` are written (called by the writer, under its lock: only a few instructions).
  void wrote_up_to(uint64_t end);
  // Waits for a call in progress and ends the thread; the descriptor may be closed afterwards.
  void stop();

 private:
  void run();

  const int fd_;
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t queued_;  // writeback was asked for the bytes before this offset
  uint64_t target_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace casper
