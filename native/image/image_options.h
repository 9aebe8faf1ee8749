// Everything that shapes an image, as validated by TypeScript and passed through the binding.
#pragma once
#include <cstdint>
#include <string>

#include "compress/compressor.h"

namespace casper {

enum class FragmentMode { kDefault, kNone, kAlways };  // kDefault: only files smaller than a block

struct ImageOptions {
  CompressorConfig compressor;
  uint32_t block_size = kDefaultBlockSize;
  FragmentMode fragments = FragmentMode::kDefault;
  bool dedup = true;
  bool exports = true;
  bool all_root = false;
  int64_t force_uid = -1, force_gid = -1;
  uint32_t mkfs_time = 0;
  int64_t clamp_mtime = -1;  // SOURCE_DATE_EPOCH: no inode time later than this
  bool ignore_errors = false;  // unreadable files are left out and listed instead of failing the job
  std::string output_path;   // for error messages
};

}  // namespace casper
