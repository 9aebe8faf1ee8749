// The 96-byte superblock at offset 0 (kSuperblockSize), written by encode_superblock and taken apart by
// decode_superblock in the same field order, so reader and writer share one layout.
#pragma once
#include <cstdint>
#include <vector>

namespace casper {

struct Superblock {
  uint32_t inode_count = 0;
  uint32_t mkfs_time = 0;
  uint32_t block_size = 0;
  uint32_t fragment_count = 0;
  uint16_t compressor = 0;
  uint16_t flags = 0;
  uint16_t id_count = 0;
  uint64_t root_inode = 0;
  uint64_t bytes_used = 0;
  uint64_t id_table = 0;
  uint64_t xattr_id_table = 0;
  uint64_t inode_table = 0;
  uint64_t directory_table = 0;
  uint64_t fragment_table = 0;
  uint64_t export_table = 0;
};

// What only a reader checks: the writer derives these (block_log from block_size, version 4.0, the magic).
struct SuperblockCheck {
  uint32_t magic = 0;
  uint16_t block_log = 0;
  uint16_t version_major = 0, version_minor = 0;
};

std::vector<uint8_t> encode_superblock(const Superblock& sb);
// b: kSuperblockSize bytes. Checks nothing (read/superblock_reader.cc does).
void decode_superblock(const uint8_t* b, Superblock& sb, SuperblockCheck& check);

}  // namespace casper
