#include "read/data_reader.h"

#include "format/block_word.h"
#include "format/constants.h"
#include "util/xxhash64.h"

namespace casper {

void DataReader::read_block(Compressor& comp, uint64_t pos, uint32_t word, size_t expected, std::vector<uint8_t>& out,
                            std::vector<uint8_t>& scratch, const char* table, uint64_t* stored_digest) const {
  const uint32_t bs = sb_.block_size;
  if (stored_digest) *stored_digest = 0;
  if (word == 0) {
    out.assign(expected, 0);
    return;
  }
  if (unknown_bits(word)) f_.corrupt(table, pos, "size word " + std::to_string(word) + " has unknown bits set");
  const uint32_t len = stored_size(word);
  const bool raw = stored_raw(word);
  if (len == 0) f_.corrupt(table, pos, "block of on-disk size 0 marked uncompressed");
  if (len > bs)
    f_.corrupt(
        table, pos,
        "block size word says " + std::to_string(len) + " bytes, more than the block size " + std::to_string(bs));
  if (pos < sb_.data_start || pos > sb_.inode_table || len > sb_.inode_table - pos)
    f_.corrupt(table, pos,
               std::to_string(len) + "-byte block outside the data area (" + std::to_string(sb_.data_start) + ".." +
                   std::to_string(sb_.inode_table) + ")");
  if (raw) {
    out.resize(len);
    f_.read(pos, out.data(), len, table);
    if (stored_digest) *stored_digest = xxh64(out.data(), len);
  } else {
    scratch.resize(len);
    f_.read(pos, scratch.data(), len, table);
    if (stored_digest) *stored_digest = xxh64(scratch.data(), len);
    out.resize(bs);
    size_t n = 0;
    try {
      n = comp.decompress(scratch.data(), len, out.data(), out.size());
    } catch (const NativeError& e) {
      if (e.code == "ENOMEM") throw;
      f_.corrupt(table, pos, std::string("block does not decompress (") + e.what() + ")");
    }
    out.resize(n);
  }
  if (expected != 0 && out.size() != expected)
    f_.corrupt(table, pos,
               "block holds " + std::to_string(out.size()) + " bytes, " + std::to_string(expected) + " declared");
  if (out.empty()) f_.corrupt(table, pos, "block decompresses to nothing");
}

}  // namespace casper
