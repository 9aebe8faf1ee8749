// One extended attribute as an image stores it: the full name (prefix included) and the value. The walk
// collects them into sets (traverse/tree.h) and the xattr table (format/xattr_table.h) writes the sets.
#pragma once
#include <string>

namespace casper {

struct XattrPair {
  std::string key;  // full name, e.g. "user.comment"
  std::string value;
  bool operator==(const XattrPair& o) const { return key == o.key && value == o.value; }
  bool operator!=(const XattrPair& o) const { return !(*this == o); }
};

}  // namespace casper
