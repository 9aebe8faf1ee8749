// A fast 64-bit content fingerprint used to find duplicate-file candidates. It is never trusted alone:
// candidates are always compared byte for byte before data is shared. Also the per-file content digest that
// --verify compares with the image read back (below).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace casper {

inline uint64_t mix64(uint64_t x) {
  x ^= x >> 31;
  x *= 0x7fb5d329728ea185ULL;
  x ^= x >> 27;
  x *= 0x81dadef4bc2dd44dULL;
  x ^= x >> 33;
  return x;
}

inline uint64_t hash_bytes(const uint8_t* p, size_t n, uint64_t seed = 0x243f6a8885a308d3ULL) {
  uint64_t a = seed ^ (n * 0x9e3779b97f4a7c15ULL), b = ~seed, c = seed * 3 + 1, d = n;
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    uint64_t w[4];
    std::memcpy(w, p + i, 32);
    a = (a ^ w[0]) * 0x9e3779b97f4a7c15ULL;
    a = (a << 29) | (a >> 35);
    b = (b ^ w[1]) * 0xc2b2ae3d27d4eb4fULL;
    b = (b << 31) | (b >> 33);
    c = (c ^ w[2]) * 0x165667b19e3779f9ULL;
    c = (c << 27) | (c >> 37);
    d = (d ^ w[3]) * 0x27d4eb2f165667c5ULL;
    d = (d << 33) | (d >> 31);
  }
  uint64_t h = mix64(a) ^ mix64(b + 1) ^ mix64(c + 2) ^ mix64(d + 3);
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    h = mix64(h ^ w);
  }
  uint64_t tail = 0;
  if (i < n) std::memcpy(&tail, p + i, n - i);
  return mix64(h ^ tail ^ (uint64_t(n - i) << 56));
}

inline uint64_t hash_combine(uint64_t h, uint64_t v) {
  return mix64(h ^ (v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2)));
}

// The end-to-end content digest of a regular file (--verify): the sum, mod 2^64, of one term per block,
// each a function of the block's uncompressed bytes and its absolute index in the file (offset / block
// size). A sum does not depend on how the plan cut the file into segments: each segment returns its partial
// sum and the writer adds them. The content of a block decides its term, not how it is stored: an all-zero
// block (a hole never read, or zeros stored sparse) is kZeroBlockMark ^ length, any other block or
// fragment tail hash_bytes of its bytes. The reader of the finished image computes the same from the
// stored blocks, sparse words and fragment tails.
constexpr uint64_t kZeroBlockMark = 0x5a45524f424c4bULL;

inline bool all_zero_bytes(const uint8_t* p, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    if (w) return false;
  }
  for (; i < n; i++)
    if (p[i]) return false;
  return true;
}

// The content hash of an all-zero block of n bytes (a hole never read hashes the same).
inline uint64_t zero_block_hash(uint64_t n) { return kZeroBlockMark ^ n; }

// The content hash of one block as the digest sees it; *zero (when given) says whether it is all zeros.
inline uint64_t block_content_hash(const uint8_t* p, size_t n, bool* zero = nullptr) {
  const bool z = all_zero_bytes(p, n);
  if (zero) *zero = z;
  return z ? zero_block_hash(n) : hash_bytes(p, n);
}

// One block's term in a file's digest: block_hash of the block with absolute index `index`.
inline uint64_t digest_term(uint64_t block_hash, uint64_t index) {
  return mix64(block_hash + (index + 1) * 0xd6e8feb86659fd93ULL);
}

}  // namespace casper
