#include "read/inode_reader.h"

#include <algorithm>

#include "format/constants.h"
#include "format/metadata_block.h"

namespace casper {

namespace {
constexpr uint32_t kMaxSymlink = 4096;  // PATH_MAX; the kernel refuses longer targets
}

// Long: one case per inode type of the format (14), each a few checked fields; split, the layout would
// be spread over as many functions.
Inode read_inode(MetadataReader& in, const ReadSuperblock& sb, uint64_t ref) {
  Inode n;
  n.ref = ref;
  if ((ref & 0xFFFF) >= kMetadataSize || (ref >> 16) >= in.end() - in.start())
    in.corrupt(in.start() + (ref >> 16), "inode reference " + std::to_string(ref) + " (block " +
                                             std::to_string(ref >> 16) + ", offset " + std::to_string(ref & 0xFFFF) +
                                             ") is outside the inode table");
  MetaCursor c = in.at_ref(ref);
  const uint64_t at = c.block;
  auto bad = [&](const std::string& what) {
    in.corrupt(at, "inode " + std::to_string(n.number) + " (reference " + std::to_string(ref) + "): " + what);
  };
  n.type = in.u16(c);
  n.mode = in.u16(c);
  n.uid_idx = in.u16(c);
  n.gid_idx = in.u16(c);
  n.mtime = in.u32(c);
  n.number = in.u32(c);
  if (n.type < kDir || n.type > kLSocket) bad("unknown inode type " + std::to_string(n.type));
  n.basic = basic_type(n.type);
  if (n.number == 0 || n.number > sb.inode_count) bad("inode number outside 1.." + std::to_string(sb.inode_count));
  if (n.uid_idx >= sb.id_count)
    bad("uid index " + std::to_string(n.uid_idx) + " is past the id table (" + std::to_string(sb.id_count) + " ids)");
  if (n.gid_idx >= sb.id_count)
    bad("gid index " + std::to_string(n.gid_idx) + " is past the id table (" + std::to_string(sb.id_count) + " ids)");
  if (n.mode & ~07777) bad("mode holds more than permission bits");
  switch (n.type) {
    case kDir:
      n.dir_block = in.u32(c);
      n.nlink = in.u32(c);
      n.dir_listing = in.u16(c);
      n.dir_offset = in.u16(c);
      n.parent = in.u32(c);
      break;
    case kLDir: {
      n.nlink = in.u32(c);
      n.dir_listing = in.u32(c);
      n.dir_block = in.u32(c);
      n.parent = in.u32(c);
      uint16_t count = in.u16(c);
      n.dir_offset = in.u16(c);
      n.xattr = in.u32(c);
      for (uint32_t i = 0; i < count; i++) {
        DirIndexRead ix;
        ix.index = in.u32(c);
        ix.start = in.u32(c);
        uint32_t len = in.u32(c) + 1;
        if (len == 0 || len > 256) bad("directory index name of " + std::to_string(len) + " bytes");
        ix.name = in.str(c, len);
        n.index.push_back(std::move(ix));
      }
      break;
    }
    case kFile:
    case kLFile: {
      if (n.type == kFile) {
        n.blocks_start = in.u32(c);
        n.fragment = in.u32(c);
        n.frag_offset = in.u32(c);
        n.size = in.u32(c);
      } else {
        n.blocks_start = in.u64(c);
        n.size = in.u64(c);
        n.sparse = in.u64(c);
        n.nlink = in.u32(c);
        n.fragment = in.u32(c);
        n.frag_offset = in.u32(c);
        n.xattr = in.u32(c);
      }
      const uint64_t bs = sb.block_size;
      bool frag = n.fragment != kNoFragment;
      if (frag && n.size % bs == 0) bad("a file whose size is a multiple of the block size has a fragment");
      if (frag && n.fragment >= sb.fragment_count)
        bad("fragment index " + std::to_string(n.fragment) + " is past the fragment table (" +
            std::to_string(sb.fragment_count) + " fragments)");
      if (frag && n.frag_offset >= bs)
        bad("fragment offset " + std::to_string(n.frag_offset) + " is past the block size");
      uint64_t nblocks = frag ? n.size / bs : (n.size + bs - 1) / bs;
      // Each block costs a 4-byte word in the inode table: a count the table cannot hold is corruption, and
      // is caught before anything is allocated for it.
      if (nblocks > (in.end() - in.start()) / 4 * (kMetadataSize / 2))
        bad("size " + std::to_string(n.size) + " needs " + std::to_string(nblocks) +
            " block words, more than the inode table holds");
      if (n.blocks_start > sb.inode_table)
        bad("data starts at " + std::to_string(n.blocks_start) + ", past the data area");
      n.block_count = nblocks;
      n.block_words = c;
      break;
    }
    case kSymlink:
    case kLSymlink: {
      n.nlink = in.u32(c);
      uint32_t len = in.u32(c);
      if (len == 0 || len > kMaxSymlink) bad("symlink target of " + std::to_string(len) + " bytes");
      n.target = in.str(c, len);
      if (n.target.find('\0') != std::string::npos) bad("symlink target holds a NUL byte");
      if (n.type == kLSymlink) n.xattr = in.u32(c);
      break;
    }
    case kBlockDev:
    case kCharDev:
    case kLBlockDev:
    case kLCharDev:
      n.nlink = in.u32(c);
      n.rdev = in.u32(c);
      if (n.type > 7) n.xattr = in.u32(c);
      break;
    default:  // fifo, socket
      n.nlink = in.u32(c);
      if (n.type > 7) n.xattr = in.u32(c);
      break;
  }
  if (n.nlink == 0) bad("link count 0");
  if (n.is_dir()) {
    if (n.dir_listing < 3) bad("directory size " + std::to_string(n.dir_listing) + " is below 3");
    n.dir_listing -= 3;
    if (n.dir_offset >= kMetadataSize)
      bad("directory offset " + std::to_string(n.dir_offset) + " is past a metadata block");
  }
  return n;
}

}  // namespace casper
