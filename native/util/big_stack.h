// Runs fn on a thread with a large stack and waits for it: the tree walk and the inode numbering recurse
// once per directory level, and a 1,000-level tree (or a sanitizer build's larger frames) would overflow
// a libuv pool thread's stack. Exceptions from fn are rethrown in the caller.
#pragma once
#include <pthread.h>

#include <exception>
#include <functional>

#include "util/error.h"

namespace casper {

inline void run_with_big_stack(const std::function<void()>& fn, size_t stack_bytes = size_t(1) << 30) {
  struct Call {
    const std::function<void()>* fn;
    std::exception_ptr err;
  } call{&fn, nullptr};
  auto trampoline = [](void* p) -> void* {
    auto* c = static_cast<Call*>(p);
    try {
      (*c->fn)();
    } catch (...) {
      c->err = std::current_exception();
    }
    return nullptr;
  };
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, stack_bytes);  // address space only: pages are used as the stack grows
  pthread_t th;
  int rc = pthread_create(&th, &attr, trampoline, &call);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    fn();  // no thread available: run here
    return;
  }
  pthread_join(th, nullptr);
  if (call.err) std::rethrow_exception(call.err);
}

}  // namespace casper
