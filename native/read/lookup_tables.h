// The two-level lookup tables: id, fragment, export and xattr id. Each is a run of metadata blocks holding
// fixed-size entries, followed by an uncompressed list of u64 block locations (the index).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "read/image_file.h"
#include "read/metadata_reader.h"
#include "read/superblock_reader.h"

namespace casper {

struct FragmentRecord {
  uint64_t start;
  uint32_t word;  // size word: low 24 bits on-disk size, bit 24 = stored raw
};

struct XattrIdEntry {
  uint64_t ref;
  uint32_t count;
  uint32_t size;
};

struct XattrKV {
  std::string key;  // full name, prefix included ("user.x")
  std::string value;
};

struct LookupTables {
  std::vector<uint32_t> ids;
  std::vector<FragmentRecord> fragments;
  std::vector<uint64_t> exports;  // empty when the image has no export table
  bool has_exports = false;
  std::vector<XattrIdEntry> xattr_ids;
  uint64_t xattr_kv_start = 0;
  uint64_t xattr_kv_end = 0;
  // Where the directory table must end: the first block of the table after it.
  uint64_t directory_table_end = 0;
};

// Reads the index lists and entries of every lookup table, checking placement and sizes.
LookupTables read_lookup_tables(const ImageFile& f, Compressor& comp, const ReadSuperblock& sb);

// The key/value pairs of one xattr id (checked against its declared count and size).
std::vector<XattrKV> read_xattr_set(MetadataReader& kv, const XattrIdEntry& e, uint32_t xattr_id);

}  // namespace casper
