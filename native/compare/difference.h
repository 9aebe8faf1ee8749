// One difference the tree comparer (compare/dir_compare.h) finds between its two sides: what `verify IMAGE
// DIR` and --verify's restore proof report.
#pragma once
#include <string>

namespace casper {

struct TreeDifference {
  std::string path;  // relative to the root, starting with '/'
  std::string kind;  // only-in-image only-in-dir type content size mode owner group mtime xattrs symlink device links
                     // unreadable
  std::string image, dir;  // the two values (the first side's, the second's), where the kind has values
  std::string line;        // one line, like diff -r
};

}  // namespace casper
