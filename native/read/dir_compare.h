// Compares an image's tree with a directory tree, entry by entry (type, mode, owner, mtime, xattrs, symlink
// targets, device numbers, hard links, sizes), like diff -r. File contents are compared later, with the data.
#pragma once
#include <cstdint>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "read/image_reader.h"
#include "read/verifier.h"

namespace casper {

struct ContentCheck {
  std::string source;  // the file in the tree
  uint32_t node;       // its image node (for the path)
};

// Appends differences to out; content_checks receives, per file inode, the source file to compare its data with.
void compare_with_tree(Image& img, const std::string& image_label, const std::string& dir, const std::set<std::string>& ignore,
                       const CancelFlag& cancel, std::vector<VerifyDifference>& out, std::unordered_map<uint32_t, ContentCheck>& content_checks);

// A path for one-line output: control characters and backslashes escaped (\n, \t, \ooo).
std::string printable(const std::string& s);

}  // namespace casper
