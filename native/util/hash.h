// A fast 64-bit content fingerprint used to find duplicate-file candidates. It is never trusted alone:
// candidates are always compared byte for byte before data is shared.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace casper {

inline uint64_t mix64(uint64_t x) {
  x ^= x >> 31; x *= 0x7fb5d329728ea185ULL;
  x ^= x >> 27; x *= 0x81dadef4bc2dd44dULL;
  x ^= x >> 33;
  return x;
}

inline uint64_t hash_bytes(const uint8_t* p, size_t n, uint64_t seed = 0x243f6a8885a308d3ULL) {
  uint64_t a = seed ^ (n * 0x9e3779b97f4a7c15ULL), b = ~seed, c = seed * 3 + 1, d = n;
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    uint64_t w[4];
    std::memcpy(w, p + i, 32);
    a = (a ^ w[0]) * 0x9e3779b97f4a7c15ULL; a = (a << 29) | (a >> 35);
    b = (b ^ w[1]) * 0xc2b2ae3d27d4eb4fULL; b = (b << 31) | (b >> 33);
    c = (c ^ w[2]) * 0x165667b19e3779f9ULL; c = (c << 27) | (c >> 37);
    d = (d ^ w[3]) * 0x27d4eb2f165667c5ULL; d = (d << 33) | (d >> 31);
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

inline uint64_t hash_combine(uint64_t h, uint64_t v) { return mix64(h ^ (v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2))); }

}  // namespace casper
