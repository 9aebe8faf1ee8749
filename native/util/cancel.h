// A cooperative cancel flag: an Int32 in a SharedArrayBuffer that JS sets and native loops poll.
#pragma once
#include <cstdint>

#include "util/error.h"

namespace casper {

struct CancelFlag {
  const int32_t* p = nullptr;
  bool is_set() const { return p && __atomic_load_n(p, __ATOMIC_RELAXED) != 0; }
  void check() const {
    if (is_set()) throw NativeError("ECANCELED", "snapshot cancelled");
  }
};

}  // namespace casper
