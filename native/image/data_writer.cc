#include "image/data_writer.h"

#include <unistd.h>

#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "data/block_reader.h"
#include "format/block_word.h"
#include "util/error.h"
#include "util/fd.h"
#include "util/hash.h"
#include "util/paths.h"
#include "util/same_bytes.h"
#include "util/xxhash64.h"

namespace casper {

namespace {
// Stored bytes of a base file read and checked at a time (whole blocks; a block is at most 1 MiB).
constexpr uint64_t kCopyChunk = uint64_t(4) << 20;
}  // namespace

DataWriter::DataWriter(const ImageOptions& opts, Tree& tree, int out_fd, uint64_t data_start, BaseImage* base,
                       CancelFlag cancel)
    : opts_(opts),
      tree_(tree),
      fd_(out_fd),
      data_start_(data_start),
      pos_(data_start),
      comp_(make_compressor(opts.compressor)),
      cancel_(cancel),
      base_(base) {
  // The per-entry vectors grow with the entries met (the walk may still be adding entries meanwhile; see
  // size_for_tree()) and are sized to the whole tree at the end.
  open_frag_.reserve(opts.block_size);
}

DataWriter::~DataWriter() = default;

void DataWriter::ensure_entry(uint32_t entry) {
  if (entry < files_.size()) return;
  ensure_entry_count(std::max<size_t>(size_t(entry) + 1, files_.size() * 2));
}

void DataWriter::ensure_entry_count(size_t n) {
  if (n <= files_.size()) return;
  files_.resize(n);
  digests_.resize(n);
  tags_.resize(n);
}

// A write made at once, under the lock (copies from the base, from a reused buffer). Safe beside the writes
// in flight: they all lie before pos_, and a rewind waits for them first.
void DataWriter::write_now(uint64_t off, const uint8_t* p, size_t n) {
  pwrite_full(fd_, p, n, off, opts_.output_path);
  if (behind_) behind_->wrote_up_to(off + n);
}

void DataWriter::queue_write(uint64_t off, std::vector<uint8_t>&& bytes) {
  if (bytes.empty()) return;
  queued_.push_back(Write{off, std::move(bytes)});
}

std::vector<DataWriter::Write> DataWriter::take_writes() {
  if (!queued_.empty()) {
    std::lock_guard<std::mutex> l(flight_mu_);
    for (const Write& w : queued_) in_flight_.emplace(w.off, w.off + w.bytes.size());
    taken_end_ = std::max(taken_end_, queued_.back().off + queued_.back().bytes.size());
  }
  return std::exchange(queued_, {});
}

void DataWriter::done_in_flight(uint64_t off) {
  uint64_t low = 0;
  {
    std::lock_guard<std::mutex> l(flight_mu_);
    in_flight_.erase(off);
    low = in_flight_.empty() ? taken_end_ : in_flight_.begin()->first;  // everything before it is written
    flight_cv_.notify_all();
  }
  if (behind_) behind_->wrote_up_to(low);
}

void DataWriter::issue(std::vector<Write>& writes) {
  size_t k = 0;
  try {
    for (; k < writes.size(); k++) {
      pwrite_full(fd_, writes[k].bytes.data(), writes[k].bytes.size(), writes[k].off, opts_.output_path);
      done_in_flight(writes[k].off);
    }
  } catch (...) {
    for (; k < writes.size(); k++) done_in_flight(writes[k].off);  // given up: nobody may wait for them
    throw;
  }
  writes.clear();
}

// Waits until no write in flight touches [from, to).
void DataWriter::wait_in_flight(uint64_t from, uint64_t to) {
  std::unique_lock<std::mutex> l(flight_mu_);
  flight_cv_.wait(l, [&] {
    auto it = in_flight_.lower_bound(from);
    if (it != in_flight_.begin() && std::prev(it)->second > from) return false;
    return it == in_flight_.end() || it->first >= to;
  });
}

// [off, off + len) of the section is on disk (for reading it back): this step's queued writes are made now,
// those of earlier steps waited for.
void DataWriter::ensure_written(uint64_t off, uint64_t len) {
  bool queued_here = false;
  for (const Write& w : queued_) queued_here |= w.off < off + len && off < w.off + w.bytes.size();
  if (queued_here) {
    std::vector<Write> now = take_writes();
    issue(now);
  }
  wait_in_flight(off, off + len);
}

void DataWriter::stop_write_behind() {
  wait_in_flight(0, UINT64_MAX);  // every thread has returned by now: nothing is left in flight
  if (behind_) behind_->stop();
}

// The base's whole fragment blocks go first, so their positions and indices depend on the plan alone.
void DataWriter::start() {
  if (started_) return;
  started_ = true;
  behind_ = std::make_unique<WriteBehind>(fd_, pos_);  // the data phase has begun: stop_write_behind() will come
  if (!base_) return;
  // Each block is checked against its digest with its bytes in hand; a damaged one is left out, and the
  // files whose tails it held are read again when their turn comes.
  for (const CopiedFragment& c : base_->copied_fragments()) {
    cancel_.check();
    const uint32_t n = stored_size(c.word);
    copy_buf_.resize(n);
    base_->read_stored(c.start, copy_buf_.data(), n);
    if (xxh64(copy_buf_.data(), n) != c.digest) {
      copied_index_.push_back(kNoFragment);
      continue;
    }
    write_now(pos_, copy_buf_.data(), n);
    copied_index_.push_back(uint32_t(frags_.size()));
    frags_.push_back(FragmentEntry{pos_, c.word});
    frag_records_.push_back(c.record);
    blocks_.push_back(PlacedBlock{pos_, RecordBlock{c.word, 0, c.digest}});
    pos_ += n;
  }
  next_frag_write_ = uint32_t(frags_.size());
}

// Copies the unchanged files that come before `entry` (never inside a file being read).
void DataWriter::copy_from_base_until(uint32_t entry) {
  if (!base_) return;
  const auto& files = base_->files();
  while (next_reused_ < files.size() && files[next_reused_].entry < entry) add_from_base(files[next_reused_++]);
}

// Takes back everything written from pos on (the blocks of a file being dropped or re-read): its queued
// writes are forgotten, and those already in flight land before anything is written there again.
void DataWriter::rewind_to(uint64_t pos) {
  while (!queued_.empty() && queued_.back().off >= pos) queued_.pop_back();
  if (!queued_.empty() && queued_.back().off + queued_.back().bytes.size() > pos)
    throw NativeError("EINTERNAL", "internal: a rewind inside a queued write");
  wait_in_flight(pos, UINT64_MAX);
  pos_ = pos;
  while (!blocks_.empty() && blocks_.back().pos >= pos) blocks_.pop_back();
}

// Copies r's stored blocks, each checked against its digest with its bytes in hand; false (nothing kept)
// when one does not match.
bool DataWriter::copy_checked(const ReusedFile& r, FileData& fdata) {
  const uint64_t start = pos_;
  const size_t first_block = blocks_.size();
  uint64_t from = r.blocks_start;
  size_t k = 0;  // next stored block of r
  while (k < r.stored.size()) {
    cancel_.check();
    uint64_t len = 0;
    size_t end = k;
    while (end < r.stored.size() && (end == k || len + stored_size(r.stored[end].word) <= kCopyChunk))
      len += stored_size(r.stored[end++].word);
    copy_buf_.resize(size_t(len));
    base_->read_stored(from, copy_buf_.data(), size_t(len));
    uint64_t at = 0;
    for (size_t b = k; b < end; b++) {
      const RecordBlock& want = r.stored[b];
      const uint32_t n = stored_size(want.word);
      if (xxh64(copy_buf_.data() + at, n) != want.digest) {
        rewind_to(start);
        blocks_.resize(first_block);
        return false;
      }
      blocks_.push_back(PlacedBlock{pos_ + at, want});
      at += n;
    }
    write_now(pos_, copy_buf_.data(), size_t(len));
    pos_ += len;
    from += len;
    k = end;
  }
  fdata.blocks_start = start;
  fdata.first_word = uint32_t(words_.size());
  words_.insert(words_.end(), r.words.begin(), r.words.end());
  return true;
}

void DataWriter::add_from_base(const ReusedFile& r) {
  const bool tail_lost = r.tail_len && r.new_fragment != kNoFragment && copied_index_[r.new_fragment] == kNoFragment;
  FileData fdata;
  fdata.nblocks = uint32_t(r.words.size());
  fdata.sparse = r.sparse;
  bool copied = !tail_lost;
  if (copied && !r.words.empty()) {
    auto shared = copied_runs_.find(r.blocks_start);
    const FileData* other = shared == copied_runs_.end() ? nullptr : &files_[shared->second];
    if (other && other->nblocks == fdata.nblocks &&
        std::equal(r.words.begin(), r.words.end(), words_.begin() + other->first_word)) {
      fdata.blocks_start = other->blocks_start;  // the base shared these blocks (a duplicate): so does the new image
      fdata.first_word = other->first_word;
    } else if (copy_checked(r, fdata)) {
      copied_runs_.emplace(r.blocks_start, r.entry);
      stats_.blocks += r.words.size();
      for (uint32_t w : r.words) stats_.sparse_blocks += w == 0;
    } else {
      copied = false;
    }
  }
  if (!copied) {
    // Damaged in the base: the file is read from the source, as if the base had never had it.
    stats_.base_damaged.push_back(r.entry);
    read_again(r.entry);
    return;
  }
  ensure_entry(r.entry);
  files_[r.entry] = fdata;
  tags_[r.entry] = r.tag;
  stats_.files++;
  stats_.reused++;
  entries_done_ = std::max(entries_done_, r.entry + 1);
  if (r.tail_len == 0) return;
  if (r.new_fragment != kNoFragment) {
    files_[r.entry].fragment = copied_index_[r.new_fragment];
    files_[r.entry].fragment_offset = r.fragment_offset;
    return;
  }
  place_tail(r.entry, r.tail.data(), r.tail_len, r.tail_term);
}

// Reads entry from the source on this thread (the writer's), the way a worker reads a task of one file.
void DataWriter::read_again(uint32_t entry) {
  Entry& e = tree_.entries[entry];
  e.from_base = false;
  TaskSpec task;
  task.block_size = opts_.block_size;
  task.root_fd = tree_.data_fd.get();
  task.starts_file = true;
  SegmentSpec s;
  s.file = entry;
  s.offset = 0;
  s.length = e.size;
  s.file_size = e.size;
  s.last = true;
  s.tail_fragment = tail_in_fragment(opts_, e.size);
  s.maybe_sparse = e.disk_bytes < e.size;
  s.stamp = tree_.stamps[e.stamp];
  s.rel = tree_.data_rel(entry);
  task.segments.push_back(std::move(s));
  TaskResult result = read_and_compress(task, *comp_, cancel_);
  for (SegmentResult& r : result.segments) add_segment(r);
}

void DataWriter::add_result(TaskResult& result) {
  start();
  for (SegmentResult& s : result.segments) {
    if (!in_file_) copy_from_base_until(s.file);
    add_segment(s);
  }
}

void DataWriter::add_segment(SegmentResult& s) {
  if (s.file == last_dropped_) return;  // later parts of a dropped file
  ensure_entry(s.file);
  if (s.status != SegmentStatus::kRead) {
    drop_file(s.file, s);
    return;
  }
  FileData& fdata = files_[s.file];
  if (s.offset == 0) {
    if (in_file_) throw call_order_fault("file " + std::to_string(cur_file_) + " unfinished when the next began");
    in_file_ = true;
    cur_file_ = s.file;
    cur_hash_ = 0;
    cur_digest_ = 0;
    cur_changed_ = false;
    cur_size_ = s.file_size;
    fdata = FileData();
    fdata.blocks_start = pos_;
    fdata.first_word = uint32_t(words_.size());
  } else if (!in_file_ || cur_file_ != s.file) {
    throw call_order_fault("a segment of file " + std::to_string(s.file) + " arrived out of order");
  }
  const uint64_t data_len = s.data.size();
  queue_write(pos_, std::move(s.data));
  if (s.stored_digests.size() != s.terms.size())
    throw NativeError("EINTERNAL", "internal: a result's block digests do not match its blocks");
  uint64_t at = pos_;
  size_t k = 0;
  for (uint32_t w : s.block_words) {
    if (w == 0) continue;
    if (k >= s.stored_digests.size())
      throw NativeError("EINTERNAL", "internal: a result's block digests do not match its blocks");
    blocks_.push_back(PlacedBlock{at, RecordBlock{w, s.terms[k], s.stored_digests[k]}});
    k++;
    at += stored_size(w);
  }
  if (k != s.stored_digests.size() || at != pos_ + data_len)
    throw NativeError("EINTERNAL", "internal: a result's block digests do not match its blocks");
  pos_ += data_len;
  words_.insert(words_.end(), s.block_words.begin(), s.block_words.end());
  fdata.nblocks += uint32_t(s.block_words.size());
  fdata.sparse += s.sparse_bytes;
  cur_hash_ = hash_combine(cur_hash_, s.hash);
  cur_digest_ += s.digest;  // segments carry absolute block indices: the sum does not depend on the cut
  cur_changed_ |= s.changed;
  stats_.bytes_read += s.length;
  stats_.blocks += s.block_words.size();
  for (uint32_t w : s.block_words) stats_.sparse_blocks += w == 0;
  if (s.last) finish_file(s.file, s.tail.data(), uint32_t(s.tail.size()), s.tail_term);
}

void DataWriter::drop_file(uint32_t file, const SegmentResult& s) {
  // The path from the result (the tree may still be growing on the walk's thread).
  std::string path = path_prefix(tree_.data_root.empty() ? tree_.root_path : tree_.data_root) + "/" + s.rel;
  // As root, EACCES means even root may not read it (another user's FUSE mount, without allow_other, appeared over a
  // parent after the walk; NFS with root squashed): left out with a warning, as the walk leaves such entries out.
  bool root_refused = (s.error == EACCES || s.error == EPERM) && ::geteuid() == 0;
  bool tolerated = s.status == SegmentStatus::kReplaced || s.error == ENOENT || root_refused || opts_.ignore_errors;
  if (!tolerated) throw sys_error(s.error, "open", path);
  if (in_file_ && cur_file_ == file) {
    // Blocks of its first parts are already in the image: take them back (no fragment is ever written
    // inside a file's blocks, so everything from the file's start on is its own).
    const FileData& fdata = files_[file];
    for (uint32_t i = 0; i < fdata.nblocks; i++) {
      stats_.blocks--;
      if (words_[fdata.first_word + i] == 0) stats_.sparse_blocks--;
    }
    rewind_to(fdata.blocks_start);
    words_.resize(fdata.first_word);
    in_file_ = false;
  }
  files_[file] = FileData();
  digests_[file] = 0;
  tags_[file] = 0;
  last_dropped_ = file;
  entries_done_ = std::max(entries_done_, file + 1);
  dropped_.push_back(file);
  // vanished (always tolerated, like tar), replaced (never read: another inode), or unreadable with ignore_errors
  const char* code = s.status == SegmentStatus::kReplaced ? "EREPLACED" : errno_name(s.error);
  skipped_.push_back({path, code});
}

void DataWriter::finish_file(uint32_t file, const uint8_t* tail, uint32_t tail_len, uint32_t tail_term) {
  in_file_ = false;
  stats_.files++;
  entries_done_ = std::max(entries_done_, file + 1);
  if (cur_changed_) stats_.changed.push_back(file);
  digests_[file] = cur_digest_;
  tags_[file] = uint32_t(cur_digest_);
  FileData& cur = files_[file];
  if (cur.nblocks == 0) cur.blocks_start = 0;
  if (opts_.dedup) {
    Key key{cur_size_, cur_hash_};
    auto it = seen_.find(key);
    if (it != seen_.end() && same_content(it->second, cur, tail, tail_len)) {
      uint64_t stored = 0;
      for (uint32_t i = 0; i < cur.nblocks; i++) {
        uint32_t w = words_[cur.first_word + i];
        stored += stored_size(w);
        stats_.blocks--;  // counted as stored blocks, they are not
        stats_.sparse_blocks -= w == 0;
      }
      rewind_to(pos_ - stored);  // the blocks just written are dropped: the next data overwrites them
      words_.resize(cur.first_word);
      cur = files_[it->second];
      stats_.duplicates++;
      stats_.duplicate_bytes += cur_size_;
      return;
    }
    if (it == seen_.end()) seen_.emplace(key, file);
  }
  if (tail_len) place_tail(file, tail, tail_len, tail_term);
}

bool DataWriter::same_content(uint32_t cand, const FileData& cur, const uint8_t* tail, uint32_t tail_len) {
  const FileData& c = files_[cand];
  if (c.nblocks != cur.nblocks) return false;
  if ((c.fragment == kNoFragment) != (tail_len == 0)) return false;
  uint64_t stored = 0;
  for (uint32_t i = 0; i < c.nblocks; i++) {
    if (words_[c.first_word + i] != words_[cur.first_word + i]) return false;
    stored += stored_size(words_[c.first_word + i]);
  }
  if (stored) {
    ensure_written(c.blocks_start, stored);
    ensure_written(cur.blocks_start, stored);
    if (!same_range(fd_, c.blocks_start, opts_.output_path, fd_, cur.blocks_start, opts_.output_path, stored))
      return false;
  }
  if (tail_len) {
    const uint8_t* raw = fragment_raw(c.fragment);
    if (std::memcmp(raw + c.fragment_offset, tail, tail_len) != 0) return false;
  }
  return true;
}

// The uncompressed bytes of fragment block `index`: still open, waiting to be written, or read back.
const uint8_t* DataWriter::fragment_raw(uint32_t index) {
  if (index == frags_.size()) return open_frag_.data();
  auto it = pending_raw_.find(index);
  if (it != pending_raw_.end()) return it->second->data();
  if (cached_frag_ != index) {
    const FragmentEntry& f = frags_[index];
    std::vector<uint8_t> stored(stored_size(f.word));
    ensure_written(f.start, stored.size());
    pread_full(fd_, stored.data(), stored.size(), f.start, opts_.output_path);
    if (stored_raw(f.word)) {
      cached_raw_ = std::move(stored);
    } else {
      cached_raw_.resize(opts_.block_size);
      cached_raw_.resize(comp_->decompress(stored.data(), stored.size(), cached_raw_.data(), cached_raw_.size()));
    }
    cached_frag_ = index;
  }
  return cached_raw_.data();
}

void DataWriter::place_tail(uint32_t file, const uint8_t* tail, uint32_t tail_len, uint32_t tail_term) {
  if (open_frag_.size() + tail_len > opts_.block_size) seal_fragment();
  FileData& fdata = files_[file];
  fdata.fragment = uint32_t(frags_.size());
  fdata.fragment_offset = uint32_t(open_frag_.size());
  open_pieces_.push_back(FragmentPiece{uint32_t(open_frag_.size()), tail_len, tail_term});
  open_frag_.insert(open_frag_.end(), tail, tail + tail_len);
}

void DataWriter::close_open_fragment() {
  start();
  // The walk is over (the plan's end waits for it): the tree may be read and changed again.
  copy_from_base_until(uint32_t(tree_.entries.size()));
  files_.resize(tree_.entries.size());
  digests_.resize(tree_.entries.size());
  tags_.resize(tree_.entries.size());
  for (uint32_t f : dropped_) tree_.entries[f].skipped = true;
  dropped_.clear();
  for (auto& sp : skipped_) tree_.skipped.push_back(std::move(sp));
  skipped_.clear();
  seal_fragment();
}

void DataWriter::seal_fragment() {
  if (open_frag_.empty()) return;
  uint32_t index = uint32_t(frags_.size());
  frags_.push_back(FragmentEntry());
  frag_records_.push_back(
      RecordFragment{uint32_t(open_frag_.size()), pieces_tag(open_pieces_)});  // placed in order: already sorted
  open_pieces_.clear();
  // One copy of the bytes, shared by the thread that compresses the block and the duplicate checks.
  auto raw = std::make_shared<const std::vector<uint8_t>>(std::move(open_frag_));
  pending_raw_.emplace(index, raw);
  closed_.emplace_back(index, std::move(raw));
  open_frag_ = std::vector<uint8_t>();
  open_frag_.reserve(opts_.block_size);
}

std::vector<std::pair<uint32_t, std::shared_ptr<const std::vector<uint8_t>>>> DataWriter::take_closed_fragments() {
  return std::exchange(closed_, {});
}

void DataWriter::write_fragment(uint32_t index, uint32_t word, std::vector<uint8_t>&& bytes, uint64_t digest) {
  const size_t n = bytes.size();
  if (in_file_) throw call_order_fault("fragment written inside a file's blocks");
  if (index != next_frag_write_ || index >= frags_.size())
    throw call_order_fault("fragment " + std::to_string(index) + " written out of order");
  if (stored_size(word) != n) throw NativeError("EINTERNAL", "internal: fragment size word does not match its bytes");
  queue_write(pos_, std::move(bytes));
  frags_[index] = FragmentEntry{pos_, word};
  blocks_.push_back(PlacedBlock{pos_, RecordBlock{word, 0, digest}});
  pos_ += n;
  pending_raw_.erase(index);
  next_frag_write_++;
}

}  // namespace casper
