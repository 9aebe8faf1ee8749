// The fixed-size entries of the four lookup tables (format/lookup_table.h stores them in metadata blocks), as
// the writer lays them out and the reader takes them apart: one place for each entry's size and fields.
#pragma once
#include <cstdint>

#include "util/bytes.h"

namespace casper {

// Fragment table: where a fragment block is and its size word (format/block_word.h); a u32 left unused.
constexpr uint32_t kFragmentEntrySize = 16;
inline void put_fragment_entry(ByteWriter& w, uint64_t start, uint32_t word) {
  w.u64(start);
  w.u32(word);
  w.u32(0);
}
inline void get_fragment_entry(const uint8_t* p, uint64_t& start, uint32_t& word) {
  start = load_u64(p);
  word = load_u32(p + 8);
}

// Export table: each inode's reference, by inode number - 1.
constexpr uint32_t kExportEntrySize = 8;

// Id table: the uids and gids the inodes index.
constexpr uint32_t kIdEntrySize = 4;

// Xattr id table: where a set of xattrs starts in the key/value table (a reference), how many pairs, and
// their size; the table's own header (before its index list) says where the key/value table starts and
// how many sets there are, and leaves a u32 unused.
constexpr uint32_t kXattrIdEntrySize = 16;
constexpr uint32_t kXattrIdTableHeaderSize = 16;
inline void put_xattr_id_entry(ByteWriter& w, uint64_t ref, uint32_t count, uint32_t size) {
  w.u64(ref);
  w.u32(count);
  w.u32(size);
}
inline void get_xattr_id_entry(const uint8_t* p, uint64_t& ref, uint32_t& count, uint32_t& size) {
  ref = load_u64(p);
  count = load_u32(p + 8);
  size = load_u32(p + 12);
}
inline void put_xattr_id_table_header(ByteWriter& w, uint64_t kv_start, uint32_t sets) {
  w.u64(kv_start);
  w.u32(sets);
  w.u32(0);
}
inline void get_xattr_id_table_header(const uint8_t* p, uint64_t& kv_start, uint32_t& sets) {
  kv_start = load_u64(p);
  sets = load_u32(p + 8);
}

}  // namespace casper
