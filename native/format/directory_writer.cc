#include "format/directory_writer.h"

#include "format/constants.h"
#include "format/directory_layout.h"
#include "util/bytes.h"

namespace casper {

DirListing write_directory(MetadataStream& dw, const MetadataStream& inodes, const std::vector<DirEntryRef>& entries,
                           bool with_index) {
  DirListing out;
  out.block = dw.block();
  out.offset = dw.offset();
  const uint64_t listing_start = dw.upos();
  uint64_t indexed_block = listing_start / kMetadataSize;
  size_t i = 0;
  while (i < entries.size()) {
    // One run: header, then entries while they fit its constraints.
    const uint64_t hdr_pos = dw.upos();
    const uint32_t inode_block = uint32_t(entries[i].inode_ref >> 16);
    const int64_t base = entries[i].inode_number;
    size_t j = i;
    uint64_t at = hdr_pos + kDirHeaderSize;
    while (j < entries.size() && j - i < kMaxDirEntriesPerHeader) {
      const DirEntryRef& e = entries[j];
      int64_t delta = int64_t(e.inode_number) - base;
      if (uint32_t(e.inode_ref >> 16) != inode_block || delta < kMinInodeDelta || delta > kMaxInodeDelta) break;
      if (j > i && at / kMetadataSize != hdr_pos / kMetadataSize) break;  // entered a new metadata block
      at += kDirEntrySize + e.name_len;
      j++;
    }
    if (with_index && hdr_pos / kMetadataSize != indexed_block) {
      indexed_block = hdr_pos / kMetadataSize;
      out.index.push_back(
          {uint32_t(hdr_pos - listing_start), dw.block(), std::string(entries[i].name, entries[i].name_len)});
    }
    ByteWriter w;
    w.u32(uint32_t(j - i - 1));
    w.u32(0);  // the inode block's compressed start: a patch
    w.u32(uint32_t(base));
    for (size_t k = i; k < j; k++) {
      const DirEntryRef& e = entries[k];
      w.u16(uint16_t(e.inode_ref & 0xFFFF));
      w.u16(uint16_t(int16_t(int64_t(e.inode_number) - base)));
      w.u16(e.basic_type);
      w.u16(uint16_t(e.name_len - 1));
      w.bytes(e.name, e.name_len);
    }
    dw.write(w.buf, {StartField{4, inode_block}}, &inodes);
    i = j;
  }
  out.size = dw.upos() - listing_start;
  return out;
}

}  // namespace casper
