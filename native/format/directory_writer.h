// Writes one directory listing into the directory table: runs of at most 256 entries under a header, a new
// run whenever the inode block changes, the inode delta leaves s16, or the listing enters a new metadata
// block (those runs feed the directory index of large directories).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "format/metadata_writer.h"

namespace casper {

struct DirEntryRef {
  const char* name;
  uint32_t name_len;
  uint64_t inode_ref;
  uint32_t inode_number;
  uint16_t basic_type;
};

struct DirIndexEntry {
  uint32_t index;  // byte offset of the run's header from the start of the listing
  uint32_t start;  // directory-table block holding that header
  std::string name;
};

struct DirListing {
  uint32_t block = 0;   // where the listing starts
  uint16_t offset = 0;
  uint64_t size = 0;    // listing bytes, without the kernel's +3
  std::vector<DirIndexEntry> index;
};

// entries must be sorted bytewise by name. with_index: record a directory index (extended inodes only).
DirListing write_directory(MetadataWriter& dw, const std::vector<DirEntryRef>& entries, bool with_index);

}  // namespace casper
