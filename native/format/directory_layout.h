// A directory's listing in the directory table, as the writer lays it out and the reader takes it apart: runs
// of entries, each run a header (count - 1, the inode block, the base inode number) followed by entries
// (offset in the inode block, inode number - base as a signed 16-bit delta, basic type, name length - 1,
// the name). A run's entries share one inode block and lie in one metadata block.
#pragma once
#include <cstdint>

namespace casper {

constexpr uint32_t kDirHeaderSize = 12;
constexpr uint32_t kDirEntrySize = 8;  // before the name
constexpr uint32_t kMaxDirEntriesPerHeader = 256;
constexpr uint32_t kMaxNameSize = 256;
constexpr int64_t kMinInodeDelta = -32768, kMaxInodeDelta = 32767;

}  // namespace casper
