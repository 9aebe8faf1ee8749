#include "format/lookup_table.h"

#include "format/metadata_writer.h"
#include "util/bytes.h"

namespace casper {

EncodedTable encode_lookup_table(Compressor& comp, const std::vector<uint8_t>& entries, uint64_t table_pos) {
  MetadataWriter mw(comp);
  mw.write(entries);
  mw.finish();
  EncodedTable t;
  t.bytes = mw.bytes();
  t.index_offset = t.bytes.size();
  ByteWriter idx;
  for (uint32_t s : mw.block_starts()) idx.u64(table_pos + s);
  t.bytes.insert(t.bytes.end(), idx.buf.begin(), idx.buf.end());
  return t;
}

}  // namespace casper
