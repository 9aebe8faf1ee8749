// A metadata block (inode, directory, fragment, id, lookup and xattr tables), as the writer makes it and every
// reader reads it: a 16-bit header (the stored length, the top bit set when stored uncompressed), then up to
// 8 KiB; a reference into a table is the block's offset from the table start << 16 | the offset within it.
#pragma once
#include <cstddef>
#include <cstdint>

namespace casper {

constexpr size_t kMetadataSize = 8192;              // the most a block holds, uncompressed
constexpr uint16_t kMetadataUncompressed = 0x8000;  // header: stored raw
constexpr uint16_t kMetadataLengthMask = 0x7FFF;    // header: the stored length

inline uint16_t metadata_header(size_t stored, bool raw) {
  return uint16_t(stored | (raw ? kMetadataUncompressed : 0));
}

}  // namespace casper
