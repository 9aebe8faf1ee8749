#include "traverse/tree.h"

namespace casper {

std::string Tree::image_path(uint32_t i) const {
  if (i == 0) return "/";
  std::vector<uint32_t> chain;
  for (uint32_t k = i; k != 0; k = entries[k].parent) chain.push_back(k);
  std::string p;
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) p += "/" + name(entries[*it]);
  return p;
}

std::string Tree::path(uint32_t i) const {
  if (i == 0) return root_path;
  std::string base = root_path;
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  if (base == "/") base.clear();
  return base + image_path(i);
}

}  // namespace casper
