// The content rules of the data section: takes read results in plan order, writes data blocks, packs tail
// ends into fragment blocks and shares identical files (verified byte for byte). Ordering and fragment
// placement are the OrderedWriter's (image/ordered_writer.h), which alone calls these methods, under its lock
// (all but issue()).
//
// Decisions and I/O are apart: under the lock a step decides where each block goes and queues the write
// (owning its bytes); take_writes() hands them over and issue() makes them after the lock is released, so
// the copies into the page cache run on the threads in parallel. What reads the section back or writes a
// range again waits for the writes in flight there first: a duplicate check (ensure_written) and a rewind
// (a dropped file, a duplicate's blocks taken back).
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "compress/compressor.h"
#include "format/integrity_record.h"
#include "image/base_image.h"
#include "data/task_format.h"
#include "image/file_data.h"
#include "image/write_behind.h"
#include "image/image_options.h"
#include "traverse/tree.h"
#include "util/cancel.h"

namespace casper {

// A stored block and where it lies: the integrity record's entries, in image order.
struct PlacedBlock {
  uint64_t pos = 0;
  RecordBlock rec;
};

struct DataStats {
  uint64_t files = 0, duplicates = 0, duplicate_bytes = 0;
  uint64_t bytes_read = 0, blocks = 0, sparse_blocks = 0;
  uint64_t reused = 0;            // files whose data was copied from the --base image
  std::vector<uint32_t> changed;  // entries written to, truncated or grown while being read
  // Files the base was to give whose stored blocks did not match their digests when copied (damaged): read
  // again from the source instead.
  std::vector<uint32_t> base_damaged;
};

class DataWriter {
 public:
  // base (may be null): the --base image whose planned files and fragment blocks are copied, in entry order
  // between the files that are read (image/base_image.h). Each copied block is checked against its digest
  // with its bytes in hand; a file whose blocks do not match is read from the source instead (on the
  // writer's thread, with the writer's compressor; cancel is polled there).
  DataWriter(const ImageOptions& opts, Tree& tree, int out_fd, uint64_t data_start, BaseImage* base = nullptr,
             CancelFlag cancel = {});
  ~DataWriter();

  // Results must arrive in task order. A file that could not be read whole from the walked inode (vanished,
  // replaced, or unreadable with ignore_errors) is dropped, even after some of its blocks were written:
  // they are taken back, and the file is left out of the image and listed in Tree::skipped. The stored bytes
  // are moved out of `result` into the queued writes.
  void add_result(TaskResult& result);

  // A write decided under the lock, made after it is released.
  struct Write {
    uint64_t off = 0;
    std::vector<uint8_t> bytes;
  };
  // Under the lock: the writes queued since the last call, now counted as in flight; the caller must pass
  // them to issue().
  std::vector<Write> take_writes();
  // Without the lock: makes the writes in order; each is counted done even when one fails (the first failure
  // is thrown after the rest are given up).
  void issue(std::vector<Write>& writes);
  // The walk is over before the data phase: the per-entry vectors are sized once for the whole tree, not
  // grown as entries are met (which can leave up to twice the room on a tree of millions of entries).
  void size_for_tree() { ensure_entry_count(tree_.entries.size()); }
  // The data phase is over (whatever its outcome): no more write-behind, the descriptor may be closed.
  void stop_write_behind();
  // The base is closed: nothing more may be copied from it.
  void forget_base() { base_ = nullptr; }
  // Fragment blocks filled since the last call: (index, raw bytes) to compress in the pool.
  std::vector<std::pair<uint32_t, std::shared_ptr<const std::vector<uint8_t>>>> take_closed_fragments();
  // Writes compressed fragment `index` (in index order, never inside a file's blocks); digest: XXH64 of the
  // stored bytes, taken by the thread that compressed them.
  void write_fragment(uint32_t index, uint32_t word, std::vector<uint8_t>&& bytes, uint64_t digest);
  // Closes the last, partly filled fragment block (call after the last result) and leaves the dropped files
  // out of the tree. Planning never looks at drops: the plan depends on the walk alone.
  void close_open_fragment();

  uint64_t data_end() const { return pos_; }
  // Progress: bytes of the data section written so far (blocks, fragment blocks, copies from the base), and
  // the entries before the next file still to be written (the plan follows entry order).
  uint64_t written_bytes() const { return pos_ - data_start_; }
  uint32_t entries_done() const { return entries_done_; }
  const std::vector<FileData>& files() const { return files_; }
  const std::vector<uint32_t>& words() const { return words_; }
  const std::vector<FragmentEntry>& fragments() const { return frags_; }
  const DataStats& stats() const { return stats_; }
  // Content digest (util/hash.h) of each regular file's bytes as they were read, by entry index (the
  // inode's primary entry); 0 for an empty file. For --verify: what the image read back must give.
  const std::vector<uint64_t>& digests() const { return digests_; }
  // The integrity record's parts (format/integrity_record.h): every stored block in image order, each
  // fragment block's length and pieces tag, and each regular file's content tag by entry index (the low half
  // of its digest; for a copied file, the base's).
  const std::vector<PlacedBlock>& blocks() const { return blocks_; }
  const std::vector<RecordFragment>& fragment_records() const { return frag_records_; }
  const std::vector<uint32_t>& tags() const { return tags_; }

 private:
  struct Key {
    uint64_t size, hash;
    bool operator==(const Key& o) const { return size == o.size && hash == o.hash; }
  };
  struct KeyHash {
    size_t operator()(const Key& k) const { return size_t(k.hash ^ (k.size * 0x9e3779b97f4a7c15ULL)); }
  };
  void start();
  void add_segment(SegmentResult& s);
  void copy_from_base_until(uint32_t entry);
  void add_from_base(const ReusedFile& r);
  bool copy_checked(const ReusedFile& r, FileData& fdata);
  void read_again(uint32_t entry);
  void rewind_to(uint64_t pos);
  void finish_file(uint32_t file, const uint8_t* tail, uint32_t tail_len, uint32_t tail_term);
  bool same_content(uint32_t cand, const FileData& cur, const uint8_t* tail, uint32_t tail_len);
  void drop_file(uint32_t file, const SegmentResult& s);
  void ensure_entry(uint32_t entry);
  void ensure_entry_count(size_t n);
  const uint8_t* fragment_raw(uint32_t index);
  void seal_fragment();
  void place_tail(uint32_t file, const uint8_t* tail, uint32_t tail_len, uint32_t tail_term);
  void queue_write(uint64_t off, std::vector<uint8_t>&& bytes);
  void write_now(uint64_t off, const uint8_t* p, size_t n);
  void ensure_written(uint64_t off, uint64_t len);
  void wait_in_flight(uint64_t from, uint64_t to);
  void done_in_flight(uint64_t off);

  const ImageOptions& opts_;
  Tree& tree_;
  int fd_;
  const uint64_t data_start_;
  uint64_t pos_;
  uint32_t entries_done_ = 0;
  std::unique_ptr<WriteBehind> behind_;  // starts the disk writes of what is written (image/write_behind.h)
  std::vector<Write> queued_;            // decided in this step, not yet taken
  // Writes taken and not yet made (start -> end), under flight_mu_ (the only state issue() touches).
  std::mutex flight_mu_;
  std::condition_variable flight_cv_;
  std::map<uint64_t, uint64_t> in_flight_;
  uint64_t taken_end_ = 0;            // end of the last write taken: with nothing in flight, all before it is written
  std::unique_ptr<Compressor> comp_;  // for reading back written fragments when verifying duplicates
  std::vector<FileData> files_;
  std::vector<uint32_t> words_;
  std::vector<FragmentEntry> frags_;
  DataStats stats_;
  // file in progress
  bool in_file_ = false;
  uint32_t cur_file_ = 0;
  uint64_t cur_hash_ = 0;
  uint64_t cur_digest_ = 0;
  std::vector<uint64_t> digests_;
  std::vector<uint32_t> tags_;
  bool cur_changed_ = false;
  uint64_t cur_size_ = 0;             // the walked size of the file in progress
  std::vector<SkippedPath> skipped_;  // files dropped, for Tree::skipped once the walk is over
  CancelFlag cancel_;
  // the integrity record
  std::vector<PlacedBlock> blocks_;
  std::vector<RecordFragment> frag_records_;  // by fragment index, once sealed (or copied)
  std::vector<FragmentPiece> open_pieces_;    // tails in the open fragment block
  std::vector<uint32_t> dropped_;             // files dropped during the data phase (applied at the end)
  uint32_t last_dropped_ = kNone;
  // fragments
  std::vector<uint8_t> open_frag_;
  std::map<uint32_t, std::shared_ptr<const std::vector<uint8_t>>> pending_raw_;  // closed but not yet written
  std::vector<std::pair<uint32_t, std::shared_ptr<const std::vector<uint8_t>>>> closed_;
  uint32_t next_frag_write_ = 0;
  uint32_t cached_frag_ = kNoFragment;
  std::vector<uint8_t> cached_raw_;
  std::unordered_map<Key, uint32_t, KeyHash> seen_;
  // --base
  BaseImage* base_;
  bool started_ = false;
  size_t next_reused_ = 0;                              // in base_->files()
  std::unordered_map<uint64_t, uint32_t> copied_runs_;  // base blocks_start -> a file whose blocks are that copy
  std::vector<uint32_t>
      copied_index_;  // base_->copied_fragments()[k] -> its index in this image, or kNoFragment (damaged)
  std::vector<uint8_t> copy_buf_;
};

}  // namespace casper
