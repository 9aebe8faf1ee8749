// The uid/gid table: distinct 32-bit ids in order of first use; inodes hold a u16 index into it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

namespace casper {

class IdTable {
 public:
  // The most distinct ids an image can hold: the superblock's id count is a u16.
  static constexpr size_t kMaxIds = 65535;
  // Throws NativeError("ESQUASH_LIMIT") past kMaxIds distinct ids.
  uint16_t index_of(uint32_t id);
  size_t size() const { return ids_.size(); }
  std::vector<uint8_t> entries() const;  // 4 bytes per id

 private:
  std::vector<uint32_t> ids_;
  std::unordered_map<uint32_t, uint16_t> index_;
};

}  // namespace casper
