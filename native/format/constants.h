// SquashFS 4.0 on-disk constants (format.adoc, kernel squashfs_fs.h).
#pragma once
#include <cstdint>

namespace casper {

constexpr uint32_t kMagic = 0x73717368;  // "hsqs"
constexpr uint64_t kNoTable = ~uint64_t(0);
constexpr uint32_t kNoFragment = 0xFFFFFFFFu;
constexpr uint32_t kNoXattr = 0xFFFFFFFFu;
constexpr uint32_t kSuperblockSize = 96;
constexpr uint32_t kMinBlockSize = 4096, kMaxBlockSize = 1048576, kDefaultBlockSize = 131072;

enum InodeType : uint16_t {
  kDir = 1,
  kFile = 2,
  kSymlink = 3,
  kBlockDev = 4,
  kCharDev = 5,
  kFifo = 6,
  kSocket = 7,
  kLDir = 8,
  kLFile = 9,
  kLSymlink = 10,
  kLBlockDev = 11,
  kLCharDev = 12,
  kLFifo = 13,
  kLSocket = 14,
};
// Each basic type's extended form (larger fields, an xattr index) is its number + 7.
inline uint16_t extended_type(uint16_t basic) { return uint16_t(basic + (kLDir - kDir)); }
inline uint16_t basic_type(uint16_t type) { return type > kSocket ? uint16_t(type - (kLDir - kDir)) : type; }

enum SuperFlags : uint16_t {
  kFlagNoFragments = 0x0010,
  kFlagAlwaysFragments = 0x0020,
  kFlagDuplicates = 0x0040,
  kFlagExportable = 0x0080,
  kFlagNoXattrs = 0x0200,
  kFlagCompressorOptions = 0x0400,
};

}  // namespace casper
