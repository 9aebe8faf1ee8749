#include "format/xattr_table.h"

#include <map>

#include "format/lookup_entries.h"
#include "format/metadata_writer.h"
#include "util/bytes.h"

namespace casper {
namespace {

constexpr uint16_t kValueOutOfLine = 0x0100;

// Prefix id and the rest of the key; the walker keeps only these three namespaces.
std::pair<uint16_t, std::string> split_key(const std::string& key) {
  static const std::pair<const char*, uint16_t> prefixes[] = {{"user.", 0}, {"trusted.", 1}, {"security.", 2}};
  for (auto& [p, id] : prefixes) {
    size_t n = std::char_traits<char>::length(p);
    if (key.compare(0, n, p) == 0) return {id, key.substr(n)};
  }
  return {0, key};
}

}  // namespace

std::vector<uint8_t> encode_xattr_table(Compressor& comp, const std::vector<std::vector<XattrPair>>& sets,
                                        uint64_t table_pos, uint64_t* superblock_ref) {
  MetadataWriter kv(comp);
  ByteWriter ids;
  std::map<std::string, uint64_t> value_refs;  // value bytes -> reference of its first, inline copy
  for (const auto& set : sets) {
    uint64_t ref = kv.ref();
    uint32_t size = 0;
    for (const auto& p : set) {
      auto [type, name] = split_key(p.key);
      auto seen = value_refs.find(p.value);
      bool ool = seen != value_refs.end() && p.value.size() > 8;
      ByteWriter w;
      w.u16(uint16_t(type | (ool ? kValueOutOfLine : 0)));
      w.u16(uint16_t(name.size()));
      w.str(name);
      kv.write(w.buf);
      size += uint32_t(w.size());
      w.clear();
      if (ool) {
        w.u32(8);
        w.u64(seen->second);
      } else {
        if (seen == value_refs.end()) value_refs.emplace(p.value, kv.ref());
        w.u32(uint32_t(p.value.size()));
        w.str(p.value);
      }
      kv.write(w.buf);
      size += uint32_t(w.size());
    }
    put_xattr_id_entry(ids, ref, uint32_t(set.size()), size);
  }
  kv.finish();
  MetadataWriter idw(comp);
  idw.write(ids.buf);
  idw.finish();

  std::vector<uint8_t> out = kv.bytes();
  uint64_t id_blocks_pos = table_pos + out.size();
  out.insert(out.end(), idw.bytes().begin(), idw.bytes().end());
  *superblock_ref = table_pos + out.size();
  ByteWriter hdr;
  put_xattr_id_table_header(hdr, table_pos, uint32_t(sets.size()));  // the key/value table starts the table
  for (uint32_t s : idw.block_starts()) hdr.u64(id_blocks_pos + s);
  out.insert(out.end(), hdr.buf.begin(), hdr.buf.end());
  return out;
}

}  // namespace casper
