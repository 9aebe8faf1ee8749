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
constexpr uint32_t kMaxDirEntriesPerHeader = 256;

enum InodeType : uint16_t {
  kDir = 1, kFile = 2, kSymlink = 3, kBlockDev = 4, kCharDev = 5, kFifo = 6, kSocket = 7,
  kLDir = 8, kLFile = 9, kLSymlink = 10, kLBlockDev = 11, kLCharDev = 12, kLFifo = 13, kLSocket = 14,
};

enum SuperFlags : uint16_t {
  kFlagNoFragments = 0x0010,
  kFlagAlwaysFragments = 0x0020,
  kFlagDuplicates = 0x0040,
  kFlagExportable = 0x0080,
  kFlagNoXattrs = 0x0200,
  kFlagCompressorOptions = 0x0400,
};

}  // namespace casper
