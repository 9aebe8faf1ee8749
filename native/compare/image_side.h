// An image's tree as one side of the tree comparer, and `verify IMAGE DIR`'s comparison built on it.
#pragma once
#include <cstdint>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "compare/dir_compare.h"
#include "read/image_reader.h"
#include "util/fd.h"

namespace casper {

class ImageSide : public CompareSide {
 public:
  // label: how the image is named in difference lines ("IMAGE:/etc/x").
  ImageSide(Image& img, std::string label) : img_(img), label_(std::move(label)) {}
  std::string label(const std::string& rel) const override { return label_ + ":" + printable(rel); }
  int enter(const std::string& rel, uint64_t handle, std::vector<SideEntry>& out) override;
  int attrs(const SideEntry* e, EntryAttrs& out) override;

 private:
  Image& img_;
  std::string label_;
};

struct ContentCheck {
  std::string rel;                         // the file's path below the tree's root ("/etc/x")
  std::pair<uint64_t, uint64_t> identity;  // its (device, inode) when it was compared: only that inode is read
};

// Appends differences to out; content_checks receives, per file inode, the tree's file to compare its data
// with (the data is read later, with the data phase, opened beneath root_out: the tree's root, held open).
void compare_with_tree(Image& img, const std::string& image_label, const std::string& dir,
                       const std::set<std::string>& ignore, const CancelFlag& cancel, std::vector<TreeDifference>& out,
                       std::unordered_map<uint32_t, ContentCheck>& content_checks, Fd& root_out);

}  // namespace casper
