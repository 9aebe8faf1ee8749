#include "read/image_reader.h"

#include <algorithm>

#include "format/constants.h"

namespace casper {

Image::Image(const std::string& path) : Image(ImageFile(path)) {}

Image::Image(ImageFile f) : file(std::move(f)), sb(read_superblock(file)) {
  comp_config.name = sb.compressor_name;
  comp_config.block_size = sb.block_size;
  comp = make_compressor(comp_config);
  tables = read_lookup_tables(file, *comp, sb);
  inodes = std::make_unique<MetadataReader>(file, *comp, "inode table", sb.inode_table, sb.directory_table);
  dirs =
      std::make_unique<MetadataReader>(file, *comp, "directory table", sb.directory_table, tables.directory_table_end);
  if (sb.has(sb.xattr_id_table))
    xattr_kv = std::make_unique<MetadataReader>(file, *comp, "xattr table", tables.xattr_kv_start, tables.xattr_kv_end);
}

uint64_t Image::directory_bytes() {
  uint64_t total = 0;
  for (uint64_t pos = dirs->start(); pos < dirs->end();) {
    auto b = dirs->block(pos);
    total += b->data.size();
    pos = b->next;
  }
  return total;
}

uint64_t Image::metadata_blocks_read() const {
  return inodes->blocks_read() + dirs->blocks_read() + (xattr_kv ? xattr_kv->blocks_read() : 0);
}

std::string Image::path_of(uint32_t n) const {
  if (n == 0) return "/";
  std::vector<const std::string*> parts;
  for (uint32_t i = n; i != 0; i = nodes[i].parent) parts.push_back(&nodes[i].name);
  std::string p;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) p += "/" + **it;
  return p;
}

const std::vector<XattrKV>& Image::xattrs_of(const Inode& n) {
  static const std::vector<XattrKV> none;
  if (n.xattr == kNoXattr) return none;
  auto it = xattr_cache_.find(n.xattr);
  if (it != xattr_cache_.end()) return it->second;
  if (!xattr_kv)
    inodes->corrupt(inodes->start() + (n.ref >> 16), "inode " + std::to_string(n.number) + " has xattr index " +
                                                         std::to_string(n.xattr) + " but the image has no xattr table");
  if (n.xattr >= tables.xattr_ids.size())
    inodes->corrupt(inodes->start() + (n.ref >> 16), "inode " + std::to_string(n.number) + ": xattr index " +
                                                         std::to_string(n.xattr) + " is past the xattr id table (" +
                                                         std::to_string(tables.xattr_ids.size()) + " ids)");
  return xattr_cache_.emplace(n.xattr, read_xattr_set(*xattr_kv, tables.xattr_ids[n.xattr], n.xattr)).first->second;
}

// Long: one iterative loop holds the walk's stack, the seen-inode bitmap and the link counts together;
// split, they would have to be passed between the pieces.
void Image::read_tree(const CancelFlag& cancel, uint64_t* progress) {
  const uint64_t inode_table_size = sb.directory_table - sb.inode_table;
  nodes.clear();
  inode.clear();
  names.clear();
  Inode root = read_inode(*inodes, sb, sb.root_inode);
  if (!root.is_dir())
    inodes->corrupt(sb.inode_table + (sb.root_inode >> 16),
                    "the root inode is not a directory (type " + std::to_string(root.type) + ")");
  nodes.push_back(ImageNode{"", 0, 0, 0, root.number});
  inode.emplace(root.number, root);
  names[root.number] = 1;
  auto where = [&](uint32_t node) { return "'" + printable(path_of(node)) + "'"; };
  // The reader's work is bounded by the image: a listing belongs to one directory (no writer shares one, and K
  // directories naming one listing of M names would be K x M entries from a few KiB), and listings never
  // overlap, so all of them together hold no more than the directory table does.
  std::unordered_map<uint64_t, uint32_t> listing_owner;  // listing start (block << 16 | offset) -> directory
  uint64_t listing_bytes = 0;
  const uint64_t table_bytes = directory_bytes();
  // Breadth first: the children of each directory are appended together, so they are contiguous.
  for (size_t qi = 0; qi < nodes.size(); qi++) {
    cancel.check();
    const Inode& dir = inode.at(nodes[qi].ino);
    if (!dir.is_dir()) continue;
    // Copy what is needed: `inode` may rehash while children are added.
    const Inode d = dir;
    if (d.dir_listing > 0) {
      auto [owner, first] = listing_owner.emplace((uint64_t(d.dir_block) << 16) | d.dir_offset, d.number);
      if (!first)
        dirs->corrupt(dirs->start() + d.dir_block,
                      "directory inode " + std::to_string(d.number) + " shares the listing of directory inode " +
                          std::to_string(owner->second) + " (a listing belongs to one directory)");
      listing_bytes += d.dir_listing;
      if (listing_bytes > table_bytes)
        dirs->corrupt(dirs->start() + d.dir_block, "the listings up to directory inode " + std::to_string(d.number) +
                                                       " hold " + std::to_string(listing_bytes) +
                                                       " bytes, more than the directory table's " +
                                                       std::to_string(table_bytes) + ": listings overlap");
    }
    std::vector<DirEntryRead> entries = read_directory(*dirs, sb, inode_table_size, d);
    nodes[qi].first_child = uint32_t(nodes.size());
    nodes[qi].nchildren = uint32_t(entries.size());
    uint32_t subdirs = 0;
    for (auto& e : entries) {
      uint32_t child = uint32_t(nodes.size());
      nodes.push_back(ImageNode{std::move(e.name), uint32_t(qi), 0, 0, e.inode_number});
      auto seen = inode.find(e.inode_number);
      if (seen != inode.end()) {
        if (seen->second.ref != e.inode_ref)
          dirs->corrupt(dirs->start() + d.dir_block, "entry " + where(child) + " has inode number " +
                                                         std::to_string(e.inode_number) + " at reference " +
                                                         std::to_string(e.inode_ref) + ", another entry has it at " +
                                                         std::to_string(seen->second.ref));
        if (seen->second.is_dir())
          dirs->corrupt(dirs->start() + d.dir_block,
                        "entry " + where(child) + " names directory inode " + std::to_string(e.inode_number) +
                            " a second time (a directory loop or a hard link to a directory)");
        if (seen->second.basic != e.type)
          dirs->corrupt(dirs->start() + d.dir_block, "entry " + where(child) + " has type " + std::to_string(e.type) +
                                                         ", its inode type " + std::to_string(seen->second.type));
        names[e.inode_number]++;
        continue;
      }
      Inode n = read_inode(*inodes, sb, e.inode_ref);
      if (progress) __atomic_add_fetch(progress, 1, __ATOMIC_RELAXED);
      if (n.number != e.inode_number)
        inodes->corrupt(sb.inode_table + (e.inode_ref >> 16),
                        "entry " + where(child) + " says inode " + std::to_string(e.inode_number) +
                            ", the inode at reference " + std::to_string(e.inode_ref) + " is number " +
                            std::to_string(n.number));
      if (n.basic != e.type)
        inodes->corrupt(sb.inode_table + (e.inode_ref >> 16), "entry " + where(child) + " has type " +
                                                                  std::to_string(e.type) + ", its inode type " +
                                                                  std::to_string(n.type));
      if (n.is_dir()) {
        subdirs++;
        if (n.parent != d.number)
          inodes->corrupt(sb.inode_table + (e.inode_ref >> 16), "directory " + where(child) + " names parent inode " +
                                                                    std::to_string(n.parent) + ", it is in inode " +
                                                                    std::to_string(d.number));
      }
      xattrs_of(n);  // checks the xattr index and its set
      names[n.number] = 1;
      inode.emplace(n.number, std::move(n));
    }
    (void)subdirs;
  }
  xattrs_of(root);
  // Every inode number 1..inode_count is used exactly once.
  if (inode.size() != sb.inode_count)
    file.corrupt("superblock", 4,
                 "inode count is " + std::to_string(sb.inode_count) + " but the directory tree reaches " +
                     std::to_string(inode.size()) + " inodes");
  // Link counts. Directories: 2 + subdirectories (mksquashfs, the kernel's view) or 2 + entries (gensquashfs).
  for (size_t i = 0; i < nodes.size(); i++) {
    const Inode& n = inode.at(nodes[i].ino);
    if (n.is_dir()) {
      uint32_t subdirs = 0;
      for (uint32_t k = 0; k < nodes[i].nchildren; k++)
        if (inode.at(nodes[nodes[i].first_child + k].ino).is_dir()) subdirs++;
      if (n.nlink != 2 + subdirs && n.nlink != 2 + nodes[i].nchildren)
        inodes->corrupt(sb.inode_table + (n.ref >> 16), "directory " + where(uint32_t(i)) + " has link count " +
                                                            std::to_string(n.nlink) + " with " +
                                                            std::to_string(subdirs) + " subdirectories and " +
                                                            std::to_string(nodes[i].nchildren) + " entries");
    } else if (n.nlink != names.at(n.number)) {
      inodes->corrupt(sb.inode_table + (n.ref >> 16), where(uint32_t(i)) + " (inode " + std::to_string(n.number) +
                                                          ") has link count " + std::to_string(n.nlink) + " but " +
                                                          std::to_string(names.at(n.number)) + " names in the tree");
    }
  }
  if (tables.has_exports) {
    for (const auto& [number, n] : inode) {
      if (tables.exports[number - 1] != n.ref)
        file.corrupt("export table", sb.export_table,
                     "inode " + std::to_string(number) + " is at reference " + std::to_string(n.ref) +
                         ", the export table says " + std::to_string(tables.exports[number - 1]));
    }
  }
}

}  // namespace casper
