#include "read/directory_reader.h"

#include <cstring>

#include "format/constants.h"
#include "format/directory_layout.h"
#include "format/metadata_block.h"
#include "util/printable.h"

namespace casper {

std::vector<DirEntryRead> read_directory(MetadataReader& d, const ReadSuperblock& sb, uint64_t inode_table_size,
                                         const Inode& dir) {
  std::vector<DirEntryRead> out;
  if (dir.dir_listing == 0) {
    if (!dir.index.empty())
      d.corrupt(d.start() + dir.dir_block, "empty directory (inode " + std::to_string(dir.number) + ") has an index");
    return out;
  }
  if (uint64_t(dir.dir_block) >= d.end() - d.start())
    d.corrupt(d.start() + dir.dir_block,
              "directory inode " + std::to_string(dir.number) + " starts past the end of the directory table");
  MetaCursor c{d.start() + dir.dir_block, dir.dir_offset};
  const std::string who = "directory inode " + std::to_string(dir.number);
  struct Header {
    uint32_t pos;
    uint64_t block;
    uint32_t offset;
    std::string first;
  };
  std::vector<Header> headers;
  uint64_t pos = 0;  // bytes of the listing consumed
  const uint64_t size = dir.dir_listing;
  while (pos < size) {
    if (size - pos < kDirHeaderSize) d.corrupt(c.block, who + ": listing ends inside a header");
    // Normalise the cursor so a header starting exactly at a block's end is recorded in the next block.
    {
      auto b = d.block(c.block);
      if (c.offset == b->data.size() && b->next < d.end()) c = MetaCursor{b->next, 0};
    }
    Header h{uint32_t(pos), c.block - d.start(), c.offset, {}};
    uint32_t count = d.u32(c) + 1;
    uint32_t start = d.u32(c);
    uint32_t base = d.u32(c);
    pos += kDirHeaderSize;
    if (count == 0 || count > kMaxDirEntriesPerHeader)
      d.corrupt(h.block + d.start(),
                who + ": a header claims " + std::to_string(uint64_t(count)) + " entries (at most 256)");
    if (start >= inode_table_size)
      d.corrupt(h.block + d.start(),
                who + ": entries point at inode block " + std::to_string(start) + ", past the inode table");
    for (uint32_t i = 0; i < count; i++) {
      if (size - pos < kDirEntrySize) d.corrupt(c.block, who + ": listing ends inside an entry");
      uint16_t off = d.u16(c);
      int16_t delta = int16_t(d.u16(c));
      uint16_t type = d.u16(c);
      uint32_t nlen = uint32_t(d.u16(c)) + 1;
      pos += kDirEntrySize;
      if (nlen > kMaxNameSize)
        d.corrupt(c.block, who + ": entry name of " + std::to_string(nlen) + " bytes (at most 256)");
      if (size - pos < nlen) d.corrupt(c.block, who + ": listing ends inside a name");
      DirEntryRead e;
      e.name = d.str(c, nlen);
      pos += nlen;
      if (off >= kMetadataSize)
        d.corrupt(c.block, who + ": entry '" + printable(e.name) + "' points at offset " + std::to_string(off) +
                               " in an inode block");
      if (type < kDir || type > kSocket)
        d.corrupt(c.block, who + ": entry '" + printable(e.name) + "' has type " + std::to_string(type));
      if (e.name == "." || e.name == ".." || e.name.find('/') != std::string::npos ||
          e.name.find('\0') != std::string::npos)
        d.corrupt(c.block, who + ": invalid entry name '" + printable(e.name) + "'");
      int64_t ino = int64_t(base) + delta;
      if (ino < 1 || ino > int64_t(sb.inode_count))
        d.corrupt(c.block, who + ": entry '" + printable(e.name) + "' has inode number " + std::to_string(ino) +
                               " outside 1.." + std::to_string(sb.inode_count));
      if (!out.empty()) {
        const std::string& prev = out.back().name;
        int cmp = std::memcmp(prev.data(), e.name.data(), std::min(prev.size(), e.name.size()));
        if (cmp > 0 || (cmp == 0 && prev.size() >= e.name.size()))
          d.corrupt(c.block, who + ": entries are not sorted ('" + prev + "' before '" + e.name + "')");
      }
      e.inode_ref = (uint64_t(start) << 16) | off;
      e.inode_number = uint32_t(ino);
      e.type = type;
      if (i == 0) h.first = e.name;
      out.push_back(std::move(e));
    }
    headers.push_back(std::move(h));
  }
  // The index: every entry must name a header by its position, block and first name, in order.
  size_t hi = 0;
  for (size_t k = 0; k < dir.index.size(); k++) {
    const DirIndexRead& ix = dir.index[k];
    while (hi < headers.size() && headers[hi].pos < ix.index) hi++;
    if (hi == headers.size() || headers[hi].pos != ix.index)
      d.corrupt(d.start() + dir.dir_block, who + ": index entry " + std::to_string(k) + " points at byte " +
                                               std::to_string(ix.index) + ", which is not a header");
    const Header& h = headers[hi];
    if (h.block != ix.start || (uint64_t(dir.dir_offset) + ix.index) % kMetadataSize != h.offset)
      d.corrupt(d.start() + dir.dir_block, who + ": index entry " + std::to_string(k) + " gives block " +
                                               std::to_string(ix.start) + ", the header is in block " +
                                               std::to_string(h.block));
    if (h.first != ix.name)
      d.corrupt(d.start() + dir.dir_block, who + ": index entry " + std::to_string(k) + " names '" +
                                               printable(ix.name) + "', the header's first entry is '" +
                                               printable(h.first) + "'");
    hi++;
  }
  return out;
}

}  // namespace casper
