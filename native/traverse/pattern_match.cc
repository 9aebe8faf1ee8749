#include "traverse/pattern_match.h"

#include <regex.h>
#include <sys/stat.h>

#include <memory>

#include "util/error.h"

namespace casper {

namespace {

// One compiled expression, freed with it.
class Regex {
 public:
  explicit Regex(const std::string& src) {
    int rc = ::regcomp(&re_, src.c_str(), REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
      char why[256];
      ::regerror(rc, &re_, why, sizeof why);
      throw NativeError("EINVAL", "invalid regular expression '" + printable(src) + "': " + why);
    }
  }
  ~Regex() { ::regfree(&re_); }
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;
  bool search(const std::string& name) const { return ::regexec(&re_, name.c_str(), 0, nullptr, 0) == 0; }

 private:
  regex_t re_;
};

struct Compiled {
  std::vector<std::unique_ptr<Regex>> anchored, floating;
  bool has_floating = false, non_dir_only = false;
};

bool matches(const Compiled& p, const std::vector<std::string>& comps, bool is_dir) {
  if (p.non_dir_only && is_dir) return false;
  const size_t a = p.anchored.size();
  if (p.has_floating ? comps.size() < a + p.floating.size() : comps.size() != a) return false;
  for (size_t i = 0; i < a; i++)
    if (!p.anchored[i]->search(comps[i])) return false;
  const size_t off = comps.size() - p.floating.size();
  for (size_t i = 0; i < p.floating.size(); i++)
    if (!p.floating[i]->search(comps[off + i])) return false;
  return true;
}

}  // namespace

PatternMatches match_regex(const Tree& tree, const std::vector<RegexPattern>& patterns, const CancelFlag& cancel) {
  std::vector<Compiled> compiled(patterns.size());
  for (size_t k = 0; k < patterns.size(); k++) {
    for (auto& s : patterns[k].anchored) compiled[k].anchored.push_back(std::make_unique<Regex>(s));
    for (auto& s : patterns[k].floating) compiled[k].floating.push_back(std::make_unique<Regex>(s));
    compiled[k].has_floating = patterns[k].has_floating;
    compiled[k].non_dir_only = patterns[k].non_dir_only;
  }
  PatternMatches out;
  out.hits.assign(patterns.size(), 0);
  if (tree.entries.empty()) return out;
  // Depth first with an explicit stack, the path's components kept as it goes (no path rebuilt per entry).
  struct Frame {
    uint32_t dir, next;
  };
  std::vector<Frame> stack{{0, 0}};
  std::vector<std::string> comps;
  uint64_t seen = 0;
  while (!stack.empty()) {
    Frame& f = stack.back();
    const Entry& d = tree.entries[f.dir];
    if (f.next >= d.child_count || d.first_child == kNone) {
      stack.pop_back();
      if (!comps.empty() && !stack.empty()) comps.pop_back();
      continue;
    }
    uint32_t idx = d.first_child + f.next++;
    const Entry& e = tree.entries[idx];
    if (++seen % 4096 == 0) cancel.check();
    comps.push_back(tree.name(e));
    bool hit = false;
    for (size_t k = 0; k < compiled.size(); k++)
      if (matches(compiled[k], comps, S_ISDIR(e.mode))) {
        out.hits[k]++;
        hit = true;
      }
    if (hit) out.entries.push_back(idx);
    if (S_ISDIR(e.mode) && e.child_count > 0 && e.first_child != kNone)
      stack.push_back({idx, 0});  // its name stays on comps
    else
      comps.pop_back();
  }
  return out;
}

}  // namespace casper
