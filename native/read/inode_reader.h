// Decodes one inode of any of the 14 types from the inode table, checking each field it can on its own.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "format/constants.h"
#include "read/metadata_reader.h"
#include "read/superblock_reader.h"

namespace casper {

struct DirIndexRead {
  uint32_t index;  // byte offset of a header from the start of the listing
  uint32_t start;  // directory-table block of that header
  std::string name;
};

struct Inode {
  uint64_t ref = 0;
  uint16_t type = 0;   // on-disk type, 1..14
  uint16_t basic = 0;  // the basic InodeType (format/constants.h): kDir..kSocket, for basic and extended alike
  uint16_t mode = 0;   // permission bits
  uint16_t uid_idx = 0, gid_idx = 0;
  uint32_t mtime = 0;
  uint32_t number = 0;
  uint32_t nlink = 1;
  uint32_t xattr = 0xFFFFFFFFu;
  // regular files
  uint64_t blocks_start = 0, size = 0, sparse = 0;
  uint32_t fragment = 0xFFFFFFFFu, frag_offset = 0;
  // The block size words follow the inode in the table; they are read when needed (read/block_words.h), never
  // all at once: a file of terabytes of holes declares millions of them in a few KiB of image.
  uint64_t block_count = 0;
  MetaCursor block_words;
  // directories: listing position (block relative to the directory table), listing bytes, parent
  uint32_t dir_block = 0;
  uint16_t dir_offset = 0;
  uint32_t dir_listing = 0;  // file_size − 3
  uint32_t parent = 0;
  std::vector<DirIndexRead> index;
  // symlinks, devices
  std::string target;
  uint32_t rdev = 0;
  uint32_t dev_major() const { return (rdev >> 8) & 0xFFF; }
  uint32_t dev_minor() const { return (rdev & 0xFF) | ((rdev >> 12) & 0xFFF00); }
  bool is_dir() const { return basic == kDir; }
  bool is_file() const { return basic == kFile; }
};

// Reads the inode at `ref` (block relative to the inode table << 16 | offset).
Inode read_inode(MetadataReader& inodes, const ReadSuperblock& sb, uint64_t ref);

}  // namespace casper
