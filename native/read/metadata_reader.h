// Reads a metadata stream (inode, directory, xattr, lookup tables): blocks of at most 8 KiB uncompressed,
// each behind a u16 header (bit 15 = stored raw, low 15 bits = on-disk size, at most 8192). Blocks are
// located by their byte offset; a cursor moves forward across blocks, so reads always end.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "compress/compressor.h"
#include "read/image_file.h"

namespace casper {

struct MetaBlock {
  std::vector<uint8_t> data;  // uncompressed bytes
  uint64_t next = 0;          // image offset of the block after this one
};

// A position in a metadata stream: the image offset of a block, and an offset into its uncompressed bytes.
struct MetaCursor {
  uint64_t block = 0;
  uint32_t offset = 0;
};

class MetadataReader {
 public:
  // The stream occupies [start, end) of the image; `table` names it in errors.
  MetadataReader(const ImageFile& f, Compressor& comp, std::string table, uint64_t start, uint64_t end);
  const std::string& table() const { return table_; }
  uint64_t start() const { return start_; }
  uint64_t end() const { return end_; }
  // The block at image offset pos (cached; the cache is bounded).
  std::shared_ptr<const MetaBlock> block(uint64_t pos);
  // A cursor for a reference (block offset relative to start << 16 | offset).
  MetaCursor at_ref(uint64_t ref) const { return MetaCursor{start_ + (ref >> 16), uint32_t(ref & 0xFFFF)}; }
  // Copies n bytes at c into out and advances c; crossing into the next block when one ends.
  void read(MetaCursor& c, void* out, size_t n);
  uint16_t u16(MetaCursor& c);
  uint32_t u32(MetaCursor& c);
  uint64_t u64(MetaCursor& c);
  std::string str(MetaCursor& c, size_t n);
  // Counters for the summary.
  uint64_t blocks_read() const { return blocks_read_; }
  [[noreturn]] void corrupt(uint64_t offset, const std::string& what) const { f_.corrupt(table_, offset, what); }

 private:
  const ImageFile& f_;
  Compressor& comp_;
  std::string table_;
  uint64_t start_, end_;
  std::unordered_map<uint64_t, std::shared_ptr<const MetaBlock>> cache_;
  std::vector<uint8_t> raw_;
  uint64_t blocks_read_ = 0;
};

}  // namespace casper
