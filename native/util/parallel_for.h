// The one thread pool for work split by index (the base's content compare, the verifier's data phase): each
// thread takes the next index until none is left, with state of its own (a compressor, buffers).
#pragma once
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#include "util/error.h"

namespace casper {

// Runs body(state, i) for every i in [0, n) on up to `threads` threads, the caller's among them; each thread
// first makes its state with make_state(). Nothing is thrown across threads: the first failure (its code and
// fields intact) stops the others from taking another index and is thrown here once all have joined. A
// thread that cannot be started means fewer threads, never a failure.
template <typename MakeState, typename Body>
void parallel_for(size_t n, unsigned threads, MakeState make_state, Body body) {
  if (n == 0) return;
  std::atomic<size_t> next{0};
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::unique_ptr<NativeError> first;
  auto work = [&]() {
    std::unique_ptr<NativeError> err = capture_error([&]() {
      auto state = make_state();
      for (size_t i; !stop.load(std::memory_order_relaxed) && (i = next.fetch_add(1)) < n;) body(state, i);
    });
    if (!err) return;
    std::lock_guard<std::mutex> g(mu);
    if (!first) first = std::move(err);
    stop = true;
  };
  const unsigned t = unsigned(std::max<size_t>(1, std::min<size_t>(threads, n)));
  std::vector<std::thread> pool;
  for (unsigned k = 1; k < t; k++) {
    try {
      pool.emplace_back(work);
    } catch (const std::system_error&) {
      break;  // fewer threads then
    }
  }
  work();
  for (auto& th : pool) th.join();
  if (first) throw *first;
}

}  // namespace casper
