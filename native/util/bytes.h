// Little-endian byte building and reading: every on-disk structure of SquashFS is little-endian.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace casper {

class ByteWriter {
 public:
  std::vector<uint8_t> buf;
  void u8(uint8_t v) { buf.push_back(v); }
  void u16(uint16_t v) { put(v, 2); }
  void u32(uint32_t v) { put(v, 4); }
  void u64(uint64_t v) { put(v, 8); }
  void bytes(const void* p, size_t n) {
    const uint8_t* b = static_cast<const uint8_t*>(p);
    buf.insert(buf.end(), b, b + n);
  }
  void str(const std::string& s) { bytes(s.data(), s.size()); }
  size_t size() const { return buf.size(); }
  void clear() { buf.clear(); }

 private:
  void put(uint64_t v, int n) {
    for (int i = 0; i < n; i++) buf.push_back(uint8_t(v >> (8 * i)));
  }
};

inline void store_u16(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v);
  p[1] = uint8_t(v >> 8);
}
inline void store_u32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = uint8_t(v >> (8 * i));
}
inline void store_u64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = uint8_t(v >> (8 * i));
}
inline uint32_t load_u32(const uint8_t* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}
inline uint64_t load_u64(const uint8_t* p) { return uint64_t(load_u32(p)) | uint64_t(load_u32(p + 4)) << 32; }

// Reads a buffer written by ByteWriter; throws std::out_of_range on a short buffer rather than reading past it.
class ByteReader {
 public:
  ByteReader(const uint8_t* p, size_t n) : p_(p), n_(n) {}
  uint32_t u32() {
    need(4);
    uint32_t v = load_u32(p_ + pos_);
    pos_ += 4;
    return v;
  }
  uint64_t u64() {
    need(8);
    uint64_t v = load_u64(p_ + pos_);
    pos_ += 8;
    return v;
  }
  const uint8_t* take(size_t n) {
    need(n);
    const uint8_t* r = p_ + pos_;
    pos_ += n;
    return r;
  }
  std::string str(size_t n) {
    const uint8_t* r = take(n);
    return std::string(reinterpret_cast<const char*>(r), n);
  }
  size_t remaining() const { return n_ - pos_; }

 private:
  void need(size_t k) const {
    if (k > n_ - pos_) throw std::out_of_range("truncated native buffer");
  }
  const uint8_t* p_;
  size_t n_;
  size_t pos_ = 0;
};

}  // namespace casper
