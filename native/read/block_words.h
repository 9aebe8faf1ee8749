// A regular file's block size words, read from the inode table in batches as they are needed, never held
// whole: a hostile image declares millions of words (a file of terabytes of holes) in a few KiB of metadata,
// and every file's list held at once could take gigabytes. A MetadataReader is not shared between threads:
// each thread reads through its own.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "read/inode_reader.h"
#include "read/metadata_reader.h"

namespace casper {

class BlockWords {
 public:
  BlockWords(MetadataReader& inodes, const Inode& n) : in_(inodes), at_(n.block_words), left_(n.block_count) {}
  // Up to max words into out; 0 at the end. Throws CorruptError when the words run past the inode table.
  size_t next(uint32_t* out, size_t max);

 private:
  MetadataReader& in_;
  MetaCursor at_;
  uint64_t left_;
};

// Every word of n, for a caller that must hold them (a file copied whole from a base image).
std::vector<uint32_t> all_block_words(MetadataReader& inodes, const Inode& n);

}  // namespace casper
