#include "traverse/tree.h"

#include "util/paths.h"

namespace casper {

std::string Tree::image_path(uint32_t i) const {
  if (i == 0) return "/";
  std::vector<uint32_t> chain;
  for (uint32_t k = i; k != 0; k = entries[k].parent) chain.push_back(k);
  std::string p;
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) p += "/" + name(entries[*it]);
  return p;
}

std::string Tree::data_path(uint32_t i) const {
  if (data_root.empty()) return path(i);
  return path_prefix(data_root) + image_path(i);
}

void Tree::leave_out(uint32_t i) {
  std::vector<uint32_t> todo{i};
  while (!todo.empty()) {
    uint32_t k = todo.back();
    todo.pop_back();
    Entry& e = entries[k];
    if (e.skipped) continue;
    e.skipped = true;
    for (uint32_t c = 0; c < e.child_count; c++) todo.push_back(e.first_child + c);
  }
}

std::string Tree::path(uint32_t i) const {
  if (i == 0) return root_path;
  return path_prefix(root_path) + image_path(i);
}

}  // namespace casper
