// Everything that shapes an image, as validated by TypeScript and passed through the binding.
#pragma once
#include <algorithm>
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
  int64_t clamp_mtime = -1;    // SOURCE_DATE_EPOCH: no inode time later than this
  bool ignore_errors = false;  // unreadable files are left out and listed instead of failing the job
  std::string output_path;     // for error messages
};

// What the image stores for a file of these attributes under opts: the table writer writes it, and --base
// (image/base_image.cc) compares a base inode with it.
inline uint32_t stored_uid(const ImageOptions& o, uint32_t uid) {
  return o.force_uid >= 0 ? uint32_t(o.force_uid) : o.all_root ? 0 : uid;
}
inline uint32_t stored_gid(const ImageOptions& o, uint32_t gid) {
  return o.force_gid >= 0 ? uint32_t(o.force_gid) : o.all_root ? 0 : gid;
}
inline uint32_t stored_mtime(const ImageOptions& o, int64_t mtime) {
  if (o.clamp_mtime >= 0) mtime = std::min(mtime, o.clamp_mtime);
  return uint32_t(std::clamp<int64_t>(mtime, 0, 0xFFFFFFFFLL));
}
// Whether a file of this size keeps its tail in a fragment block (else the tail is a short last block).
inline bool tail_in_fragment(const ImageOptions& o, uint64_t size) {
  return o.fragments != FragmentMode::kNone && size % o.block_size != 0 &&
         (o.fragments == FragmentMode::kAlways || size < o.block_size);
}

}  // namespace casper
