#include "read/lookup_tables.h"

#include <algorithm>

#include "format/constants.h"
#include "format/lookup_entries.h"
#include "format/metadata_block.h"
#include "util/bytes.h"

namespace casper {

namespace {

// Reads `count` entries of `esz` bytes whose index list starts at index_pos. The index may not run past
// index_end; its blocks must lie in [lower, index_pos), strictly increasing. Returns the entry bytes.
std::vector<uint8_t> read_table(const ImageFile& f, Compressor& comp, const char* name, uint64_t count, uint32_t esz,
                                uint64_t index_pos, uint64_t index_end, uint64_t lower, uint64_t* first_block,
                                uint64_t blocks_end = 0) {
  // The metadata blocks end where the index starts, or (xattr ids) where the header before the index starts.
  if (blocks_end == 0) blocks_end = index_pos;
  const uint64_t total = count * esz;
  const uint64_t nblocks = (total + kMetadataSize - 1) / kMetadataSize;
  std::string index_name = std::string(name) + " index";
  if (nblocks == 0) {
    *first_block = index_pos;
    return {};
  }
  if (nblocks > (index_end - index_pos) / 8)
    f.corrupt(index_name, index_pos,
              std::to_string(count) + " entries need " + std::to_string(nblocks) + " index entries, which run past " +
                  std::to_string(index_end));
  std::vector<uint64_t> index(size_t(nblocks), 0);
  {
    std::vector<uint8_t> raw(size_t(nblocks * 8));
    f.read(index_pos, raw.data(), raw.size(), index_name.c_str());
    for (size_t i = 0; i < index.size(); i++) index[i] = load_u64(raw.data() + 8 * i);
  }
  for (size_t i = 0; i < index.size(); i++) {
    uint64_t prev = i == 0 ? lower : index[i - 1] + 3;
    if (index[i] < prev || index[i] >= blocks_end)
      f.corrupt(index_name, index_pos + 8 * i,
                "block location " + std::to_string(index[i]) + " is outside " + std::to_string(prev) + ".." +
                    std::to_string(blocks_end) + " or not increasing");
  }
  *first_block = index[0];
  MetadataReader mr(f, comp, name, index[0], blocks_end);
  std::vector<uint8_t> out;
  out.reserve(size_t(std::min<uint64_t>(total, 1 << 20)));
  for (size_t i = 0; i < index.size(); i++) {
    auto b = mr.block(index[i]);
    uint64_t want = std::min<uint64_t>(kMetadataSize, total - uint64_t(i) * kMetadataSize);
    if (b->data.size() != want)
      f.corrupt(
          name, index[i],
          "metadata block holds " + std::to_string(b->data.size()) + " bytes, " + std::to_string(want) + " expected");
    if (i + 1 < index.size() && b->next != index[i + 1])
      f.corrupt(name, index[i],
                "blocks are not contiguous (next block at " + std::to_string(b->next) + ", index says " +
                    std::to_string(index[i + 1]) + ")");
    if (i + 1 == index.size() && b->next != blocks_end)
      f.corrupt(name, index[i],
                "the last block ends at " + std::to_string(b->next) + ", not where the index starts (" +
                    std::to_string(blocks_end) + ")");
    out.insert(out.end(), b->data.begin(), b->data.end());
  }
  return out;
}

}  // namespace

LookupTables read_lookup_tables(const ImageFile& f, Compressor& comp, const ReadSuperblock& sb) {
  LookupTables t;
  const uint64_t end = sb.bytes_used;
  // Tables in on-disk order; each one's metadata begins after the previous table's index list.
  uint64_t xattr_start = end;  // where the id index must end
  uint64_t xattr_index_pos = 0;
  uint32_t xattr_count = 0;
  if (sb.has(sb.xattr_id_table)) {
    uint8_t h[kXattrIdTableHeaderSize];
    f.read(sb.xattr_id_table, h, kXattrIdTableHeaderSize, "xattr id table header");
    get_xattr_id_table_header(h, t.xattr_kv_start, xattr_count);
    xattr_index_pos = sb.xattr_id_table + kXattrIdTableHeaderSize;
    if (t.xattr_kv_start < sb.id_table || t.xattr_kv_start > sb.xattr_id_table)
      f.corrupt("xattr id table header", sb.xattr_id_table,
                "key/value start " + std::to_string(t.xattr_kv_start) + " is outside " + std::to_string(sb.id_table) +
                    ".." + std::to_string(sb.xattr_id_table));
    xattr_start = t.xattr_kv_start;
  }
  // id table: its index must end where the xattr data starts (or at bytes_used).
  uint64_t id_first = 0;
  uint64_t id_lower = sb.has(sb.export_table)     ? sb.export_table
                      : sb.has(sb.fragment_table) ? sb.fragment_table
                                                  : sb.directory_table;
  std::vector<uint8_t> ids =
      read_table(f, comp, "id table", sb.id_count, kIdEntrySize, sb.id_table, xattr_start, id_lower, &id_first);
  for (size_t i = 0; i < sb.id_count; i++) t.ids.push_back(load_u32(ids.data() + kIdEntrySize * i));
  uint64_t next_first = id_first;

  if (sb.has(sb.export_table)) {
    uint64_t first = 0;
    uint64_t lower = sb.has(sb.fragment_table) ? sb.fragment_table : sb.directory_table;
    std::vector<uint8_t> ex = read_table(f, comp, "export table", sb.inode_count, kExportEntrySize, sb.export_table,
                                         next_first, lower, &first);
    t.exports.resize(sb.inode_count);
    for (size_t i = 0; i < t.exports.size(); i++) t.exports[i] = load_u64(ex.data() + kExportEntrySize * i);
    t.has_exports = true;
    next_first = first;
  }
  if (sb.has(sb.fragment_table)) {
    uint64_t first = 0;
    std::vector<uint8_t> fr = read_table(f, comp, "fragment table", sb.fragment_count, kFragmentEntrySize,
                                         sb.fragment_table, next_first, sb.directory_table, &first);
    t.fragments.resize(sb.fragment_count);
    for (size_t i = 0; i < t.fragments.size(); i++)
      get_fragment_entry(fr.data() + kFragmentEntrySize * i, t.fragments[i].start, t.fragments[i].word);
    next_first = first;
  }
  t.directory_table_end = next_first;
  if (t.directory_table_end <= sb.directory_table)
    f.corrupt("directory table", sb.directory_table,
              "the table after it starts at " + std::to_string(t.directory_table_end) + ", leaving no room");

  if (sb.has(sb.xattr_id_table)) {
    uint64_t first = 0;
    std::vector<uint8_t> xi = read_table(f, comp, "xattr id table", xattr_count, kXattrIdEntrySize, xattr_index_pos,
                                         end, t.xattr_kv_start, &first, sb.xattr_id_table);
    t.xattr_ids.resize(xattr_count);
    for (size_t i = 0; i < t.xattr_ids.size(); i++) {
      XattrIdEntry& x = t.xattr_ids[i];
      get_xattr_id_entry(xi.data() + kXattrIdEntrySize * i, x.ref, x.count, x.size);
    }
    t.xattr_kv_end = xattr_count ? first : sb.xattr_id_table;
  }
  return t;
}

std::vector<XattrKV> read_xattr_set(MetadataReader& kv, const XattrIdEntry& e, uint32_t xattr_id) {
  static const char* const prefixes[] = {"user.", "trusted.", "security."};
  std::vector<XattrKV> out;
  MetaCursor c = kv.at_ref(e.ref);
  if ((e.ref & 0xFFFF) >= kMetadataSize)
    kv.corrupt(kv.start(), "xattr id " + std::to_string(xattr_id) + " has a bad reference");
  // The declared size is not checked: writers disagree on what it counts (mksquashfs: names with their
  // prefix and NUL plus values; others: the stored pairs). Each pair is at least 9 bytes, and the pairs
  // must parse within the table.
  if (e.count > 65536)
    kv.corrupt(c.block, "xattr id " + std::to_string(xattr_id) + " claims " + std::to_string(e.count) + " pairs");
  for (uint32_t i = 0; i < e.count; i++) {
    uint16_t type = kv.u16(c);
    uint16_t nlen = kv.u16(c);
    if ((type & 0xFF) > 2 || (type & ~0x1FF) != 0)
      kv.corrupt(c.block, "xattr id " + std::to_string(xattr_id) + ": unknown key type " + std::to_string(type));
    if (nlen == 0) kv.corrupt(c.block, "xattr id " + std::to_string(xattr_id) + ": empty key name");
    XattrKV p;
    p.key = prefixes[type & 0xFF] + kv.str(c, nlen);
    uint32_t vlen = kv.u32(c);
    if (type & 0x100) {
      if (vlen != 8)
        kv.corrupt(c.block, "xattr id " + std::to_string(xattr_id) + ": out-of-line value reference of " +
                                std::to_string(vlen) + " bytes");
      uint64_t ref = kv.u64(c);
      MetaCursor vc = kv.at_ref(ref);
      if ((ref & 0xFFFF) >= kMetadataSize || ref >> 16 >= kv.end() - kv.start())
        kv.corrupt(c.block, "xattr id " + std::to_string(xattr_id) + ": out-of-line value reference " +
                                std::to_string(ref) + " outside the table");
      uint32_t real = kv.u32(vc);
      if (real > 65536) kv.corrupt(vc.block, "xattr value of " + std::to_string(real) + " bytes (more than 64 KiB)");
      p.value = kv.str(vc, real);
    } else {
      if (vlen > 65536) kv.corrupt(c.block, "xattr value of " + std::to_string(vlen) + " bytes (more than 64 KiB)");
      p.value = kv.str(c, vlen);
    }
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace casper
