// Finds and checks an image's integrity record (format/integrity_record.h): the bytes right after bytes_used.
// Shared by `verify` and --base. Checks what needs no file data: the record's own digest, that it belongs to
// this image (bytes_used, the data section's bounds, the tables digest over the superblock and every table),
// and that its blocks cover the data section exactly.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "format/integrity_record.h"
#include "read/image_file.h"
#include "read/superblock_reader.h"

namespace casper {

struct ImageRecord {
  RecordStatus status = RecordStatus::kAbsent;
  std::string why;  // kBroken: what does not check out, as one phrase
  IntegrityRecord rec;
  std::vector<uint64_t> block_pos;  // where each record block starts (ascending)

  // The record block that starts at pos, or npos.
  size_t block_at(uint64_t pos) const;
  static constexpr size_t npos = ~size_t(0);
};

// Never throws for a broken record (status kBroken); throws NativeError when the image cannot be read.
ImageRecord read_image_record(const ImageFile& f, const ReadSuperblock& sb);

}  // namespace casper
