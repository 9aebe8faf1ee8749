// -regex excludes matched against the walked tree with glibc's regcomp/regexec (as mksquashfs does), on a
// pool thread: a POSIX engine without back-references runs in time linear in the name, so a name made to make
// a backtracking engine run for hours (`^(a+)+$` against "aaa…ab") is matched at once, and the main thread stays
// free to act on a signal.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "traverse/tree.h"
#include "util/cancel.h"

namespace casper {

// One pattern as src/policy/patterns.ts compiles it: per-component expressions, searched within each name. An
// entry matches when its first components match `anchored` one to one and, with `floating`, its last ones
// match `floating` (any number between); without, it has exactly the anchored components.
struct RegexPattern {
  std::vector<std::string> anchored;
  bool has_floating = false;
  std::vector<std::string> floating;
  bool non_dir_only = false;
};

struct PatternMatches {
  std::vector<uint32_t> entries;  // matched entries, in entry order
  std::vector<uint64_t> hits;     // per pattern: how many entries it matched
};

// Throws NativeError EINVAL naming the expression when regcomp refuses one, ECANCELED when cancelled.
PatternMatches match_regex(const Tree& tree, const std::vector<RegexPattern>& patterns, const CancelFlag& cancel);

}  // namespace casper
