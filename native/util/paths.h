// Path text helpers shared by the walker, the tree and the reader.
#pragma once
#include <string>

namespace casper {

// "/a/b//" -> "/a/b"; "/" stays "/".
inline std::string strip_trailing_slashes(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

// The prefix to put before an image path ("/x"): "" for the root directory "/", else the path without
// trailing slashes.
inline std::string path_prefix(const std::string& dir) {
  std::string p = strip_trailing_slashes(dir);
  return p == "/" ? "" : p;
}

}  // namespace casper
