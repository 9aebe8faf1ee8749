// The xattr table: key/value pairs in metadata blocks (repeated values stored once and referenced
// out of line), a 16-byte-per-set id table, and the header the superblock points to.
#pragma once
#include <cstdint>
#include <vector>

#include "compress/compressor.h"
#include "format/xattr_pair.h"

namespace casper {

// Encodes every set of `sets` (set i gets xattr id i) for an image position `table_pos`; sets
// superblock_ref to the position of the xattr id table header. Returns the bytes to write at table_pos.
std::vector<uint8_t> encode_xattr_table(Compressor& comp, const std::vector<std::vector<XattrPair>>& sets,
                                        uint64_t table_pos, uint64_t* superblock_ref);

}  // namespace casper
