// Nanosecond clocks for the phases' own accounting (the bench's serial-share figures): a thread's CPU time and
// the monotonic wall clock.
#pragma once
#include <time.h>

#include <cstdint>

namespace casper {

inline uint64_t clock_ns(clockid_t id) {
  timespec t{};
  clock_gettime(id, &t);
  return uint64_t(t.tv_sec) * 1000000000u + uint64_t(t.tv_nsec);
}

inline uint64_t thread_cpu_ns() { return clock_ns(CLOCK_THREAD_CPUTIME_ID); }

}  // namespace casper
