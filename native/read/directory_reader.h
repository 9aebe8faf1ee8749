// Reads one directory listing from the directory table: runs of at most 256 entries under a 12-byte header,
// names sorted bytewise and unique, and the directory index of extended directories checked against them.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "read/inode_reader.h"
#include "read/metadata_reader.h"

namespace casper {

struct DirEntryRead {
  std::string name;
  uint64_t inode_ref;  // inode-table block << 16 | offset
  uint32_t inode_number;
  uint16_t type;  // basic type, 1..7
};

// dir must be a directory inode. Throws CorruptError (table "directory table") on any fault.
std::vector<DirEntryRead> read_directory(MetadataReader& dirs, const ReadSuperblock& sb, uint64_t inode_table_size,
                                         const Inode& dir);

}  // namespace casper
