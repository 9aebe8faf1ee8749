// --base: an earlier image whose compressed data is copied into the new one for files that did not change,
// so that only new and changed files are read and compressed. "Unchanged" is rsync's quick check (type,
// size, mtime, mode, owner, xattrs) made safe the way git treats racily clean files: a file whose mtime is
// not older than the base's creation time may have changed within that second, so it is always read again.
//
// What is copied, in the data writer's order (image/data_writer.h), so the image depends on the plan alone:
//   - each unchanged file's data blocks, as stored (one copy per run of shared blocks);
//   - fragment blocks of which at least 3/4 of the bytes the base uses are still used, whole, at the start of
//     the data section, renumbered 0..n-1;
//   - the tails of other unchanged files, taken out of their base fragment blocks and packed again.
// Everything that needs decompressing is read while planning, so a base that turns out corrupt is not used
// (a full snapshot instead); the data phase only copies stored bytes.
// The reader (read/) keeps its own types out of this header: it is included by the writer.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "image/image_options.h"
#include "traverse/tree.h"
#include "util/cancel.h"

namespace casper {

struct ReusedFile {
  uint32_t entry = 0;
  uint64_t blocks_start = 0;     // in the base
  std::vector<uint32_t> words;   // size words of its blocks, as stored
  uint64_t sparse = 0;
  uint32_t tail_len = 0;         // bytes in a fragment (0: none)
  uint32_t base_fragment = 0;    // the base fragment block holding the tail
  uint32_t fragment_offset = 0;  // within it
  uint32_t new_fragment = 0xFFFFFFFFu;  // the copied block's index in the new image, or none: repack the tail
  std::vector<uint8_t> tail;            // the tail to repack, taken out of its base block when planning
};

struct BaseStats {
  uint64_t files = 0, bytes = 0;           // unchanged files and their size
  uint64_t racy = 0;                       // passed the quick check but read again (mtime not older than the base)
  uint64_t compared = 0, compared_bytes = 0;  // --base-check content: files read and compared with the base
  uint64_t copied_fragments = 0, repacked_tails = 0;
};

class BaseImage {
 public:
  // Opens and reads every table of the image at path; throws NativeError or CorruptError.
  explicit BaseImage(const std::string& path, const CancelFlag& cancel);
  ~BaseImage();
  const std::string& path() const { return path_; }
  // Why this base cannot give its data to an image made with opts (empty when it can).
  std::string incompatibility(const ImageOptions& opts) const;
  // Matches tree against the base by path and marks the unchanged files (Entry::from_base); fills files()
  // and copied_fragments(). Throws CorruptError when a block it would copy lies outside the data section.
  // check_content (--base-check content): instead of the quick check, a file of the same size is unchanged
  // when its bytes, read now on `threads` threads, equal what the base stores.
  void plan(Tree& tree, const ImageOptions& opts, bool check_content = false, unsigned threads = 1);
  const std::vector<ReusedFile>& files() const { return files_; }
  // Base fragment indices copied whole, in their new order.
  const std::vector<uint32_t>& copied_fragments() const { return copied_; }
  const BaseStats& stats() const { return stats_; }

  // Where base fragment block i is stored: its position and size word.
  void fragment_location(uint32_t i, uint64_t* start, uint32_t* word) const;
  // Copies len stored bytes at pos in the base to out_pos in out_fd; contiguous copies are merged and done
  // at flush() (copy_file_range, or read and write where the kernel cannot).
  void copy(uint64_t pos, uint64_t len, int out_fd, uint64_t out_pos, const std::string& out_path);
  void flush();

 private:
  struct Impl;
  struct Reading;
  bool same_data(const Tree& tree, uint32_t entry, const void* base_inode, Reading& r);
  std::unique_ptr<Impl> impl_;
  CancelFlag cancel_;
  std::string path_;
  std::vector<ReusedFile> files_;
  std::vector<uint32_t> copied_;
  BaseStats stats_;
  struct Run {
    uint64_t pos = 0, len = 0, out_pos = 0;
    int out_fd = -1;
    std::string out_path;
  } run_;
  bool plain_copy_ = false;  // copy_file_range refused once: read and write from then on
};

}  // namespace casper
