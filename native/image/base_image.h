// --base: an earlier image whose compressed data is copied into the new one for files that did not change,
// so that only new and changed files are read and compressed. "Unchanged" is rsync's quick check (type,
// size, mtime, mode, owner, xattrs) made safe the way git treats racily clean files: a file whose mtime is
// not older than the base's creation time may have changed within that second, so it is always read again;
// nor is a file whose mtime SquashFS cannot hold (it was stored clamped). With --base-check content (and
// always for a base without an integrity record, or on a filesystem that does not keep ownership) a file is
// unchanged when its bytes, read now, equal the base's.
//
// Nothing is taken on trust. The image is opened once, with the checks of image/base_trust.h, and only that
// descriptor is read. The superblock decides compatibility before any table is read. A broken integrity
// record (format/integrity_record.h) means no base at all. Each file the quick check passes must give,
// through the base's tables, the content tag the record holds for it (its data blocks' terms, its tail's
// place in a fragment block whose pieces tag matches), or it is read again. Every stored block is checked
// against its digest with its bytes in hand when it is copied (image/data_writer.cc), so a damaged block is
// never carried over: its file is read from the source instead.
//
// What is copied, in the data writer's order (image/data_writer.h), so the image depends on the plan alone:
//   - each unchanged file's data blocks, as stored (one copy per run of shared blocks);
//   - fragment blocks every byte of which belongs to files of the new image that are unchanged, whole, at
//     the start of the data section, renumbered 0..n-1 (so no byte of a deleted, excluded, scrubbed or
//     changed file is ever carried into the new image);
//   - the tails of other unchanged files, taken out of their base fragment blocks and packed again.
// The reader (read/) keeps its own types out of this header: it is included by the writer.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "format/constants.h"
#include "format/integrity_record.h"
#include "image/image_options.h"
#include "traverse/tree.h"
#include "util/cancel.h"
#include "util/fd.h"

namespace casper {

struct ReusedFile {
  uint32_t entry = 0;
  uint64_t blocks_start = 0;    // in the base
  std::vector<uint32_t> words;  // size words of its blocks, as stored
  std::vector<RecordBlock>
      stored;  // each stored (non-sparse) block: its word, content term, and the digest its bytes must have
  uint64_t sparse = 0;
  uint32_t tag = 0;       // its content tag (the integrity record's)
  uint32_t tail_len = 0;  // bytes in a fragment (0: none)
  uint32_t tail_term = 0;
  uint32_t base_fragment = 0;           // the base fragment block holding the tail
  uint32_t fragment_offset = 0;         // within it
  uint32_t new_fragment = kNoFragment;  // index in copied_fragments(), or none: repack the tail
  std::vector<uint8_t> tail;            // the tail to repack, taken out of its base block when planning
};

// A base fragment block copied whole: where it is, and what its bytes and contents must be.
struct CopiedFragment {
  uint64_t start = 0;
  uint32_t word = 0;
  uint64_t digest = 0;
  RecordFragment record;
};

struct BaseStats {
  uint64_t files = 0, bytes = 0;              // unchanged files and their size
  uint64_t racy = 0;                          // passed the quick check but read again (mtime not older than the base)
  uint64_t clamped = 0;                       // passed the quick check but read again (an mtime SquashFS cannot hold)
  uint64_t compared = 0, compared_bytes = 0;  // content check: files read and compared with the base
  uint64_t copied_fragments = 0, repacked_tails = 0;
  // Files that looked unchanged but whose data in the base did not check out (its tables or record disagree,
  // a damaged block): read again. The first paths, for the warning.
  uint64_t rejected = 0;
  std::vector<std::string> rejected_paths;
};

class BaseImage {
 public:
  // Takes the image open_base (image/base_trust.h) opened and reads its superblock, nothing more. Throws
  // NativeError or CorruptError (the base is then not used).
  BaseImage(Fd fd, const std::string& path, const CancelFlag& cancel);
  ~BaseImage();
  const std::string& path() const { return path_; }
  // Why this base cannot give its data to an image made with opts (empty when it can); the superblock only.
  std::string incompatibility(const ImageOptions& opts) const;
  // Reads the integrity record and every table. Throws CorruptError when the record or a table does not
  // check out (the base is then not used). Whether a valid record was found:
  void load();
  bool has_record() const;
  // Matches tree against the base by path and marks the unchanged files (Entry::from_base); fills files()
  // and copied_fragments(). check_content: instead of the quick check, a file of the same size is unchanged
  // when its bytes, read now on `threads` threads, equal what the base stores (required without a record).
  void plan(Tree& tree, const ImageOptions& opts, bool check_content = false, unsigned threads = 1);
  const std::vector<ReusedFile>& files() const { return files_; }
  const std::vector<CopiedFragment>& copied_fragments() const { return copied_; }
  const BaseStats& stats() const { return stats_; }

  // Reads n stored bytes at pos from the base descriptor (throws NativeError, or CorruptError when short).
  void read_stored(uint64_t pos, void* out, size_t n) const;

 private:
  struct Impl;
  struct Reading;
  struct Compared;
  struct Planning;
  // plan()'s four steps (base_image.cc says what each does).
  void match_candidates(Planning& p);
  void check_against_record(Planning& p);
  void compare_contents(Planning& p, unsigned threads);
  void choose_fragments(Planning& p);
  void record_reused(Planning& p);
  bool same_data(const Tree& tree, uint32_t entry, const void* base_inode, Reading& r, Compared& c);
  void reject(const Tree& tree, uint32_t entry);
  std::unique_ptr<Impl> impl_;
  CancelFlag cancel_;
  std::string path_;
  std::vector<ReusedFile> files_;
  std::vector<CopiedFragment> copied_;
  BaseStats stats_;
};

}  // namespace casper
