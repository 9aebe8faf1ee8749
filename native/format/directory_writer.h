// Writes one directory listing into the directory table: runs of at most 256 entries under a header, a new
// run whenever the inode block changes, the inode delta leaves s16, or the listing enters a new metadata
// block (those runs feed the directory index of large directories).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "format/metadata_stream.h"

namespace casper {

struct DirEntryRef {
  const char* name;
  uint32_t name_len;
  uint64_t inode_ref;  // symbolic, in the inode stream (format/metadata_stream.h)
  uint32_t inode_number;
  uint16_t basic_type;
};

struct DirIndexEntry {
  uint32_t index;  // byte offset of the run's header from the start of the listing
  uint32_t start;  // directory-stream block (index) holding that header; stored as its compressed start
  std::string name;
};

struct DirListing {
  uint32_t block = 0;  // directory-stream block (index) where the listing starts; stored as its compressed start
  uint16_t offset = 0;
  uint64_t size = 0;  // listing bytes, without the kernel's +3
  std::vector<DirIndexEntry> index;
};

// entries must be sorted bytewise by name. with_index: record a directory index (extended inodes only).
// Each run's header holds the compressed start of its inodes' block in `inodes` (a patch).
DirListing write_directory(MetadataStream& dw, const MetadataStream& inodes, const std::vector<DirEntryRef>& entries,
                           bool with_index);

}  // namespace casper
