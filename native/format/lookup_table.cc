#include "format/lookup_table.h"

#include "util/bytes.h"

namespace casper {

EncodedTable encode_lookup_table(const MetadataStream& entries, uint64_t table_pos) {
  EncodedTable t;
  t.bytes = entries.bytes();
  t.index_offset = t.bytes.size();
  ByteWriter idx;
  for (uint32_t s : entries.block_starts()) idx.u64(table_pos + s);
  t.bytes.insert(t.bytes.end(), idx.buf.begin(), idx.buf.end());
  return t;
}

}  // namespace casper
