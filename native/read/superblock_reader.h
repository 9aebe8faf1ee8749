// Reads and validates the 96-byte superblock and the compressor options block that may follow it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "format/constants.h"
#include "format/superblock.h"
#include "read/image_file.h"

namespace casper {

struct ReadSuperblock : Superblock {
  uint16_t block_log = 0;
  uint16_t version_major = 0, version_minor = 0;
  std::string compressor_name;            // "gzip", "xz", …
  std::vector<uint8_t> comp_options;      // payload of the options block, when flag 0x0400 is set
  uint64_t data_start = kSuperblockSize;  // first byte after the superblock and options block
  bool has(uint64_t table) const;         // an optional table that is present (not 0xFFFF…)
};

// Reads the superblock of f and checks it against the file; sets f's limit to bytes_used.
// Throws CorruptError naming the field.
ReadSuperblock read_superblock(ImageFile& f);

}  // namespace casper
