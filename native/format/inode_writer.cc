#include "format/inode_writer.h"

#include "format/constants.h"

namespace casper {
namespace {

void header(ByteWriter& w, uint16_t type, const InodeCommon& c) {
  w.u16(type);
  w.u16(c.mode_bits);
  w.u16(c.uid_idx);
  w.u16(c.gid_idx);
  w.u32(c.mtime);
  w.u32(c.number);
}

bool has_xattr(const InodeCommon& c) { return c.xattr != kNoXattr; }

}  // namespace

uint16_t encode_file(ByteWriter& w, const InodeCommon& c, const FileInode& f) {
  bool extended = f.blocks_start > 0xFFFFFFFFu || f.size > 0xFFFFFFFFu || c.nlink > 1 || f.sparse > 0 || has_xattr(c);
  if (extended) {
    header(w, kLFile, c);
    w.u64(f.blocks_start);
    w.u64(f.size);
    w.u64(f.sparse);
    w.u32(c.nlink);
    w.u32(f.fragment);
    w.u32(f.fragment_offset);
    w.u32(c.xattr);
  } else {
    header(w, kFile, c);
    w.u32(uint32_t(f.blocks_start));
    w.u32(f.fragment);
    w.u32(f.fragment_offset);
    w.u32(uint32_t(f.size));
  }
  for (uint32_t i = 0; i < f.nblocks; i++) w.u32(f.words[i]);
  return kFile;
}

uint16_t encode_dir(ByteWriter& w, const InodeCommon& c, const DirInode& d, std::vector<StartField>& fields) {
  const DirListing& l = *d.listing;
  uint64_t file_size = l.size + 3;  // the kernel synthesises "." and ".."
  bool extended = d.extended || file_size > 0xFFFF || !l.index.empty() || has_xattr(c);
  if (extended) {
    header(w, kLDir, c);
    w.u32(c.nlink);
    w.u32(uint32_t(file_size));
    fields.push_back(StartField{w.size(), l.block});
    w.u32(0);
    w.u32(d.parent);
    w.u16(uint16_t(l.index.size()));
    w.u16(l.offset);
    w.u32(c.xattr);
    for (const auto& ix : l.index) {
      w.u32(ix.index);
      fields.push_back(StartField{w.size(), ix.start});
      w.u32(0);
      w.u32(uint32_t(ix.name.size() - 1));
      w.str(ix.name);
    }
  } else {
    header(w, kDir, c);
    fields.push_back(StartField{w.size(), l.block});
    w.u32(0);
    w.u32(c.nlink);
    w.u16(uint16_t(file_size));
    w.u16(l.offset);
    w.u32(d.parent);
  }
  return kDir;
}

uint16_t encode_symlink(ByteWriter& w, const InodeCommon& c, const std::string& target) {
  header(w, has_xattr(c) ? kLSymlink : kSymlink, c);
  w.u32(c.nlink);
  w.u32(uint32_t(target.size()));
  w.str(target);
  if (has_xattr(c)) w.u32(c.xattr);
  return kSymlink;
}

uint16_t encode_device(ByteWriter& w, const InodeCommon& c, bool block, uint32_t major, uint32_t minor) {
  uint16_t basic = block ? kBlockDev : kCharDev;
  header(w, has_xattr(c) ? extended_type(basic) : basic, c);
  w.u32(c.nlink);
  // Linux new_encode_dev: minor low byte, major, then the rest of minor.
  w.u32((minor & 0xFFu) | (major << 8) | ((minor & ~0xFFu) << 12));
  if (has_xattr(c)) w.u32(c.xattr);
  return basic;
}

uint16_t encode_ipc(ByteWriter& w, const InodeCommon& c, bool socket) {
  uint16_t basic = socket ? kSocket : kFifo;
  header(w, has_xattr(c) ? extended_type(basic) : basic, c);
  w.u32(c.nlink);
  if (has_xattr(c)) w.u32(c.xattr);
  return basic;
}

}  // namespace casper
