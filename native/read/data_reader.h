// Reads data and fragment blocks through a Compressor. Safe to use from several threads, each with its own
// Compressor and scratch buffers (the image is read with pread).
#pragma once
#include <cstdint>
#include <vector>

#include "compress/compressor.h"
#include "read/image_file.h"
#include "read/superblock_reader.h"

namespace casper {

class DataReader {
 public:
  DataReader(const ImageFile& f, const ReadSuperblock& sb) : f_(f), sb_(sb) {}
  // Reads the block stored at pos with size word `word` into out (resized to the uncompressed length).
  // expected: the uncompressed size it must have (0: any size up to the block size, for fragment blocks).
  // word 0 is a sparse block: out becomes `expected` zero bytes. Throws CorruptError naming `table`.
  // stored_digest (may be null): set to the XXH64 of the stored bytes, taken while they are in hand (the
  // integrity record's block digest; 0 for a sparse block).
  void read_block(Compressor& comp, uint64_t pos, uint32_t word, size_t expected, std::vector<uint8_t>& out,
                  std::vector<uint8_t>& scratch, const char* table, uint64_t* stored_digest = nullptr) const;
  // The on-disk size of a size word.

 private:
  const ImageFile& f_;
  const ReadSuperblock& sb_;
};

}  // namespace casper
