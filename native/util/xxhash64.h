// XXH64, written from the xxHash specification (version 0.1.1): a fast, well-studied 64-bit
// non-cryptographic hash. The integrity record (format/integrity_record.h) keeps one per stored block: it
// finds accidental damage (bit rot, a torn write, a block written or copied to the wrong place), not a
// forger, who can rewrite the record as well.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace casper {

namespace xxh64_detail {
constexpr uint64_t kP1 = 0x9E3779B185EBCA87ULL, kP2 = 0xC2B2AE3D27D4EB4FULL, kP3 = 0x165667B19E3779F9ULL;
constexpr uint64_t kP4 = 0x85EBCA77C2B2AE63ULL, kP5 = 0x27D4EB2F165667C5ULL;

inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
inline uint64_t load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;  // the format is little-endian, as every target of this project
}
inline uint32_t load32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline uint64_t lane_round(uint64_t acc, uint64_t lane) { return rotl(acc + lane * kP2, 31) * kP1; }
inline uint64_t merge(uint64_t acc, uint64_t lane_acc) { return (acc ^ lane_round(0, lane_acc)) * kP1 + kP4; }
}  // namespace xxh64_detail

inline uint64_t xxh64(const void* data, size_t len, uint64_t seed = 0) {
  using namespace xxh64_detail;
  static const uint8_t kNothing = 0;
  const uint8_t* p = len ? static_cast<const uint8_t*>(data) : &kNothing;  // no arithmetic on a null pointer
  const uint8_t* end = p + len;
  uint64_t acc;
  if (len >= 32) {
    uint64_t a1 = seed + kP1 + kP2, a2 = seed + kP2, a3 = seed, a4 = seed - kP1;
    for (; end - p >= 32; p += 32) {
      a1 = lane_round(a1, load64(p));
      a2 = lane_round(a2, load64(p + 8));
      a3 = lane_round(a3, load64(p + 16));
      a4 = lane_round(a4, load64(p + 24));
    }
    acc = rotl(a1, 1) + rotl(a2, 7) + rotl(a3, 12) + rotl(a4, 18);
    acc = merge(acc, a1);
    acc = merge(acc, a2);
    acc = merge(acc, a3);
    acc = merge(acc, a4);
  } else {
    acc = seed + kP5;
  }
  acc += uint64_t(len);
  for (; end - p >= 8; p += 8) acc = rotl(acc ^ lane_round(0, load64(p)), 27) * kP1 + kP4;
  if (end - p >= 4) {
    acc = rotl(acc ^ (uint64_t(load32(p)) * kP1), 23) * kP2 + kP3;
    p += 4;
  }
  for (; p < end; p++) acc = rotl(acc ^ (uint64_t(*p) * kP5), 11) * kP1;
  acc ^= acc >> 33;
  acc *= kP2;
  acc ^= acc >> 29;
  acc *= kP3;
  acc ^= acc >> 32;
  return acc;
}

}  // namespace casper
