#include "format/superblock.h"

#include "format/constants.h"
#include "util/bytes.h"

namespace casper {

std::vector<uint8_t> encode_superblock(const Superblock& sb) {
  uint16_t block_log = 0;
  while ((1u << block_log) < sb.block_size) block_log++;
  ByteWriter w;
  w.u32(kMagic);
  w.u32(sb.inode_count);
  w.u32(sb.mkfs_time);
  w.u32(sb.block_size);
  w.u32(sb.fragment_count);
  w.u16(sb.compressor);
  w.u16(block_log);
  w.u16(sb.flags);
  w.u16(sb.id_count);
  w.u16(4);  // version major
  w.u16(0);  // version minor
  w.u64(sb.root_inode);
  w.u64(sb.bytes_used);
  w.u64(sb.id_table);
  w.u64(sb.xattr_id_table);
  w.u64(sb.inode_table);
  w.u64(sb.directory_table);
  w.u64(sb.fragment_table);
  w.u64(sb.export_table);
  return w.buf;
}

void decode_superblock(const uint8_t* b, Superblock& sb, SuperblockCheck& check) {
  size_t at = 0;
  auto u16 = [&]() {
    uint16_t v = uint16_t(b[at] | b[at + 1] << 8);
    at += 2;
    return v;
  };
  auto u32 = [&]() {
    uint32_t v = load_u32(b + at);
    at += 4;
    return v;
  };
  auto u64 = [&]() {
    uint64_t v = load_u64(b + at);
    at += 8;
    return v;
  };
  check.magic = u32();
  sb.inode_count = u32();
  sb.mkfs_time = u32();
  sb.block_size = u32();
  sb.fragment_count = u32();
  sb.compressor = u16();
  check.block_log = u16();
  sb.flags = u16();
  sb.id_count = u16();
  check.version_major = u16();
  check.version_minor = u16();
  sb.root_inode = u64();
  sb.bytes_used = u64();
  sb.id_table = u64();
  sb.xattr_id_table = u64();
  sb.inode_table = u64();
  sb.directory_table = u64();
  sb.fragment_table = u64();
  sb.export_table = u64();
}

}  // namespace casper
