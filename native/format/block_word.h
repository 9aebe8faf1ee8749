// The size word of a data or fragment block, as the inode (data blocks) and the fragment table store it and
// every reader and writer of them reads it: the stored length in the low 24 bits, bit 24 set when the block
// is stored uncompressed, no other bit set; 0 (in an inode) is a sparse block, all zeros, stored nowhere.
#pragma once
#include <cstdint>

namespace casper {

constexpr uint32_t kBlockUncompressed = 1u << 24;
constexpr uint32_t kBlockSizeMask = 0x00FFFFFFu;

// The bytes the block takes in the image.
inline uint32_t stored_size(uint32_t word) { return word & kBlockSizeMask; }
// Whether its bytes are the data itself (not compressed).
inline bool stored_raw(uint32_t word) { return (word & kBlockUncompressed) != 0; }
// Whether a bit neither the length nor the flag uses is set (a corrupt word).
inline bool unknown_bits(uint32_t word) { return (word & ~(kBlockUncompressed | kBlockSizeMask)) != 0; }
// The word for a block of n stored bytes.
inline uint32_t block_word(uint32_t n, bool raw) { return n | (raw ? kBlockUncompressed : 0); }

}  // namespace casper
