// A SquashFS metadata stream: records appended as bytes, cut into 8 KiB chunks, each stored with a u16 header
// (bit 15 = stored raw). References are (block start in this stream << 16) | offset in the uncompressed block.
#pragma once
#include <cstdint>
#include <vector>

#include "compress/compressor.h"
#include "format/metadata_block.h"

namespace casper {

class MetadataWriter {
 public:
  explicit MetadataWriter(Compressor& c) : comp_(c) { cur_.reserve(kMetadataSize); }
  // Where the next byte written will land.
  uint32_t block() const { return uint32_t(out_.size()); }
  uint16_t offset() const { return uint16_t(cur_.size()); }
  // Position in the uncompressed stream (every block but the last holds exactly 8 KiB).
  uint64_t upos() const { return uint64_t(starts_.size()) * kMetadataSize + cur_.size(); }
  uint64_t ref() const { return (uint64_t(block()) << 16) | offset(); }
  void write(const void* p, size_t n);
  void write(const std::vector<uint8_t>& v) { write(v.data(), v.size()); }
  // Closes the last partial block; call once, when the stream is complete.
  void finish();
  const std::vector<uint8_t>& bytes() const { return out_; }
  // Start of every block within this stream, for lookup-table index lists.
  const std::vector<uint32_t>& block_starts() const { return starts_; }

 private:
  void flush_block();
  Compressor& comp_;
  std::vector<uint8_t> cur_;
  std::vector<uint8_t> out_;
  std::vector<uint32_t> starts_;
  std::vector<uint8_t> scratch_;
};

}  // namespace casper
