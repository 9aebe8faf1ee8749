// Lowers the calling thread's scheduling priority for a scope (Linux: nice applies per thread, by its tid).
// The data phase's pool threads run this way so that the thread that started the job (an app's event loop)
// is scheduled first when every core is busy. Best effort: a failure changes nothing; the old nice value is
// put back at the end, which an unprivileged process may not be allowed to do (RLIMIT_NICE), and then the
// thread keeps the lower priority.
#pragma once
#include <errno.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace casper {

class ThreadNice {
 public:
  explicit ThreadNice(int by) : tid_(pid_t(::syscall(SYS_gettid))) {
    if (by <= 0) return;
    errno = 0;
    int old = ::getpriority(PRIO_PROCESS, id_t(tid_));
    if (old == -1 && errno != 0) return;
    int lowered = old + by > 19 ? 19 : old + by;
    if (lowered != old && ::setpriority(PRIO_PROCESS, id_t(tid_), lowered) == 0) {
      old_ = old;
      changed_ = true;
    }
  }
  ~ThreadNice() {
    if (changed_) ::setpriority(PRIO_PROCESS, id_t(tid_), old_);  // may fail unprivileged: see above
  }
  ThreadNice(const ThreadNice&) = delete;
  ThreadNice& operator=(const ThreadNice&) = delete;

 private:
  pid_t tid_;
  int old_ = 0;
  bool changed_ = false;
};

}  // namespace casper
