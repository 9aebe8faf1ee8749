#include "compare/image_side.h"

#include "compare/tree_side.h"
#include "util/paths.h"

namespace casper {

int ImageSide::enter(const std::string&, uint64_t handle, std::vector<SideEntry>& out) {
  const ImageNode& dn = img_.nodes[handle];
  out.reserve(dn.nchildren);
  for (uint32_t k = 0; k < dn.nchildren; k++) out.push_back({img_.nodes[dn.first_child + k].name, dn.first_child + k});
  return 0;  // children are stored sorted (read_tree checks it)
}

int ImageSide::attrs(const SideEntry* e, EntryAttrs& out) {
  const Inode& n = img_.inode.at(img_.nodes[e ? e->handle : 0].ino);
  out.basic = n.basic;
  out.mode = n.mode;
  out.uid = img_.tables.ids[n.uid_idx];
  out.gid = img_.tables.ids[n.gid_idx];
  out.mtime = n.mtime;
  out.size = n.size;
  out.dev_major = n.dev_major();
  out.dev_minor = n.dev_minor();
  out.target = n.target;
  for (auto& kv : img_.xattrs_of(n)) out.xattrs[kv.key] = kv.value;
  out.identity = {0, n.number};
  return 0;
}

void compare_with_tree(Image& img, const std::string& image_label, const std::string& dir_in,
                       const std::set<std::string>& ignore, const CancelFlag& cancel, std::vector<TreeDifference>& out,
                       std::unordered_map<uint32_t, ContentCheck>& content, Fd& root_out) {
  std::string dir = strip_trailing_slashes(dir_in);
  ImageSide a(img, printable(image_label));
  TreeSide b(dir, TreeSide::Label::kPath, dir, false);
  CompareOptions o;
  o.ignore = ignore;
  o.cancel = cancel;
  o.defer_content = [&](const std::string& rel, const SideEntry& ea, const SideEntry&,
                        std::pair<uint64_t, uint64_t> tree_identity) {
    uint32_t number = img.inode.at(img.nodes[ea.handle].ino).number;
    if (!content.count(number)) content.emplace(number, ContentCheck{rel, tree_identity});
  };
  std::vector<std::string> mounts;  // unused: no side tells mount points here
  compare_trees(a, b, o, out, mounts);
  root_out = b.root_dup();
}

}  // namespace casper
