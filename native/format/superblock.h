// The 96-byte superblock at offset 0.
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

std::vector<uint8_t> encode_superblock(const Superblock& sb);

}  // namespace casper
