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

}  // namespace casper
