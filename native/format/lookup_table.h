// The two-level scheme shared by the fragment, export, id and xattr-id tables: fixed-size entries in
// metadata blocks, followed immediately by the uncompressed list of those blocks' absolute positions.
#pragma once
#include <cstdint>
#include <vector>

#include "format/metadata_stream.h"

namespace casper {

struct EncodedTable {
  std::vector<uint8_t> bytes;  // metadata blocks then the u64 index list
  uint64_t index_offset;       // where the index list starts, relative to the table's first byte
};

// entries: a stream of the raw entries back to back, compressed (compress_streams). table_pos: the absolute
// image position the table will be written at.
EncodedTable encode_lookup_table(const MetadataStream& entries, uint64_t table_pos);

}  // namespace casper
