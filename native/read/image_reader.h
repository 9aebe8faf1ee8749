// An opened SquashFS image: superblock, compressor, lookup tables, and the directory tree read from the
// inode and directory tables with the structural checks that need the whole tree (loops, numbering,
// parents, hard links, export table).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "compress/compressor.h"
#include "read/directory_reader.h"
#include "read/image_file.h"
#include "read/inode_reader.h"
#include "read/lookup_tables.h"
#include "read/metadata_reader.h"
#include "read/superblock_reader.h"
#include "util/cancel.h"

namespace casper {

struct ImageNode {
  std::string name;  // empty for the root
  uint32_t parent = 0;
  uint32_t first_child = 0, nchildren = 0;
  uint32_t ino = 0;
};

class Image {
 public:
  // Opens path and reads the superblock and every lookup table.
  explicit Image(const std::string& path);
  // The same for an image already open.
  explicit Image(ImageFile f);
  ImageFile file;
  ReadSuperblock sb;
  CompressorConfig comp_config;
  std::unique_ptr<Compressor> comp;
  LookupTables tables;
  std::unique_ptr<MetadataReader> inodes, dirs, xattr_kv;

  // Filled by read_tree(): nodes[0] is the root; children of a node are contiguous and sorted.
  std::vector<ImageNode> nodes;
  std::unordered_map<uint32_t, Inode> inode;     // by inode number
  std::unordered_map<uint32_t, uint32_t> names;  // inode number -> directory entries naming it
  uint64_t metadata_blocks_read() const;
  // The directory table's bytes, uncompressed (every block read once).
  uint64_t directory_bytes();

  // Reads the whole tree, checking everything that does not need file data. progress (may be null):
  // incremented once per inode read.
  void read_tree(const CancelFlag& cancel, uint64_t* progress);
  std::string path_of(uint32_t node) const;
  // The xattrs of an inode (empty when it has none); parsed once per xattr id.
  const std::vector<XattrKV>& xattrs_of(const Inode& n);

 private:
  std::unordered_map<uint32_t, std::vector<XattrKV>> xattr_cache_;
};

}  // namespace casper
