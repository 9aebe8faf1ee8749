#include "image/base_image.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <unordered_map>
#include <utility>

#include "compress/compressor.h"
#include "format/block_word.h"
#include "fs/beneath.h"
#include "read/block_words.h"
#include "read/data_reader.h"
#include "read/image_reader.h"
#include "read/record_reader.h"
#include "util/fd.h"
#include "util/hash.h"
#include "util/parallel_for.h"
#include "util/same_bytes.h"

namespace casper {

namespace {

constexpr size_t kMaxRejectedPaths = 20;
// Tails to repack are held in memory from planning to writing; past this, unchanged files are read instead.
constexpr uint64_t kMaxRepackBytes = uint64_t(256) << 20;

int name_cmp(const Tree& t, const Entry& e, const std::string& b) {
  size_t n = std::min<size_t>(e.name_len, b.size());
  int c = std::memcmp(t.arena.data() + e.name_off, b.data(), n);
  if (c != 0) return c;
  return e.name_len < b.size() ? -1 : e.name_len > b.size() ? 1 : 0;
}

// Whether SquashFS stores this mtime as it is (else it was clamped, and equal stored times prove nothing).
bool mtime_fits(int64_t mtime) { return mtime >= 0 && mtime <= int64_t(0xFFFFFFFFLL); }

}  // namespace

struct BaseImage::Impl {
  std::unique_ptr<ImageFile> file;  // until load(): then the Image's
  ReadSuperblock sb;
  std::unique_ptr<Image> img;
  std::unique_ptr<DataReader> reader;
  // Block size words for the planning thread, read from the inode table when a file needs them (an image keeps
  // none in memory: read/block_words.h); the comparing threads have their own (Reading::inodes).
  mutable std::unique_ptr<MetadataReader> words_in;
  std::vector<uint32_t> words_of(const Inode& b) const {
    if (!words_in)
      words_in = std::make_unique<MetadataReader>(img->file, *img->comp, "inode table", img->sb.inode_table,
                                                  img->sb.directory_table);
    return all_block_words(*words_in, b);
  }
  ImageRecord record;
  std::unordered_map<uint32_t, uint32_t> file_rank;  // inode number -> its place in the record's file tags
  // Content check: the digest of each fragment block's stored bytes as the comparing threads read it, and
  // whether two reads disagreed (the block changed meanwhile: none of it is used).
  std::mutex seen_mu;
  std::unordered_map<uint32_t, std::pair<uint64_t, bool>> seen_fragments;

  bool has_record() const { return record.status == RecordStatus::kValid; }
  uint32_t tag_of(const Inode& b) const { return record.rec.file_tags[file_rank.at(b.number)]; }

  // A file's data blocks as the base's tables give them, against the record: each stored block must be the
  // record's block at that place, with the same size word. Fills the stored blocks and the sum of the
  // blocks' content terms (sparse blocks included).
  bool layout_of(const Inode& b, std::vector<RecordBlock>* stored, uint32_t& sum) const {
    const uint64_t bs = img->sb.block_size;
    const IntegrityRecord& rec = record.rec;
    uint64_t pos = b.blocks_start;
    size_t idx = ImageRecord::npos;
    sum = 0;
    const std::vector<uint32_t> words = words_of(b);
    for (size_t k = 0; k < words.size(); k++) {
      const uint64_t off = uint64_t(k) * bs;
      if (off >= b.size) return false;
      const uint32_t w = words[k];
      if (w == 0) {
        sum += content_term(kZeroBlockMark ^ std::min<uint64_t>(bs, b.size - off), k);
        continue;
      }
      idx = idx == ImageRecord::npos ? record.block_at(pos) : idx + 1;
      if (idx >= rec.blocks.size() || record.block_pos[idx] != pos || rec.blocks[idx].word != w) return false;
      sum += rec.blocks[idx].term;
      if (stored) stored->push_back(rec.blocks[idx]);
      pos += stored_size(w);
    }
    return true;
  }
};

// One comparing thread's compressor and buffers.
struct BaseImage::Reading {
  std::unique_ptr<Compressor> comp;
  std::unique_ptr<MetadataReader> inodes;  // this thread's reader of block size words
  std::vector<uint8_t> stored, scratch, source, frag;
  uint32_t frag_index = kNoFragment;
};

// What the content check found for one file: its blocks as read (digests of their stored bytes), its tag.
struct BaseImage::Compared {
  bool same = false;
  bool damaged = false;  // a block that does not decompress, or does not match the record
  std::vector<RecordBlock> stored;
  uint32_t tag = 0, tail_term = 0;
};

BaseImage::BaseImage(Fd fd, const std::string& path, const CancelFlag& cancel)
    : impl_(std::make_unique<Impl>()), cancel_(cancel), path_(path) {
  impl_->file = std::make_unique<ImageFile>(std::move(fd), path);
  impl_->sb = read_superblock(*impl_->file);
}

BaseImage::~BaseImage() = default;

std::string BaseImage::incompatibility(const ImageOptions& o) const {
  const ReadSuperblock& sb = impl_->sb;
  if (sb.compressor_name != o.compressor.name)
    return "it is compressed with " + sb.compressor_name + ", this snapshot with " + o.compressor.name;
  if (sb.block_size != o.block_size)
    return "its block size is " + std::to_string(sb.block_size) + ", this snapshot's " + std::to_string(o.block_size);
  if (sb.comp_options != make_compressor(o.compressor)->options_block())
    return "its " + sb.compressor_name + " options differ from this snapshot's";
  const uint16_t frag_flags = kFlagNoFragments | kFlagAlwaysFragments;
  const uint16_t want = uint16_t(kFlagNoFragments * (o.fragments == FragmentMode::kNone) |
                                 kFlagAlwaysFragments * (o.fragments == FragmentMode::kAlways));
  if ((sb.flags & frag_flags) != want)
    return "it packs tail ends into fragments differently (-no-fragments / -always-use-fragments)";
  return "";
}

void BaseImage::load() {
  impl_->img = std::make_unique<Image>(std::move(*impl_->file));
  impl_->file.reset();
  Image& img = *impl_->img;
  impl_->record = read_image_record(img.file, img.sb);
  if (impl_->record.status == RecordStatus::kBroken)
    img.file.corrupt("integrity record", img.sb.bytes_used, impl_->record.why);
  cancel_.check();
  img.read_tree(cancel_, nullptr);
  impl_->reader = std::make_unique<DataReader>(img.file, img.sb);
  if (!impl_->has_record()) return;
  const IntegrityRecord& rec = impl_->record.rec;
  std::vector<uint32_t> numbers;
  for (const auto& [number, n] : img.inode)
    if (n.is_file()) numbers.push_back(number);
  std::sort(numbers.begin(), numbers.end());
  if (numbers.size() != rec.file_tags.size())
    img.file.corrupt("integrity record", img.sb.bytes_used,
                     "it lists " + std::to_string(rec.file_tags.size()) + " files, the image holds " +
                         std::to_string(numbers.size()));
  if (rec.fragments.size() != img.tables.fragments.size())
    img.file.corrupt("integrity record", img.sb.bytes_used,
                     "it lists " + std::to_string(rec.fragments.size()) + " fragment blocks, the image holds " +
                         std::to_string(img.tables.fragments.size()));
  for (uint32_t i = 0; i < numbers.size(); i++) impl_->file_rank.emplace(numbers[i], i);
}

bool BaseImage::has_record() const { return impl_->has_record(); }

void BaseImage::read_stored(uint64_t pos, void* out, size_t n) const {
  impl_->img->file.read(pos, out, n, "data block");
}

void BaseImage::reject(const Tree& tree, uint32_t entry) {
  stats_.rejected++;
  if (stats_.rejected_paths.size() < kMaxRejectedPaths) stats_.rejected_paths.push_back(tree.path(entry));
}

// The plan's state, handed from each step to the next.
struct BaseImage::Planning {
  Tree& tree;
  const ImageOptions& o;
  bool check_content;
  std::vector<std::pair<uint32_t, const Inode*>> matched;  // candidates: (entry, base inode), by entry
  std::vector<Compared> found;                             // what step 2 found for each candidate
  std::map<uint32_t, uint32_t> renumber;                   // base fragment block copied whole -> index in copied_
  std::map<size_t, std::vector<uint8_t>> tails;            // candidate -> its tail, to repack
};

// Four steps, each a loop over the result of the one before.
void BaseImage::plan(Tree& tree, const ImageOptions& o, bool check_content, unsigned threads) {
  if (!impl_->has_record() && !check_content)
    throw call_order_fault("a base without an integrity record planned without the content check");
  Planning p{tree, o, check_content, {}, {}, {}, {}};
  match_candidates(p);
  p.found.resize(p.matched.size());
  if (check_content)
    compare_contents(p, threads);
  else
    check_against_record(p);
  choose_fragments(p);
  record_reused(p);
}

// 1. Candidates, from the merge of the two sorted trees: same path, a regular file in both, the quick check
// (or, for the content check, the size and tail layout only).
void BaseImage::match_candidates(Planning& p) {
  Image& img = *impl_->img;
  Tree& tree = p.tree;
  const ImageOptions& o = p.o;
  const bool check_content = p.check_content;
  const uint32_t cutoff = img.sb.mkfs_time;
  auto& matched = p.matched;
  std::vector<std::pair<uint32_t, uint32_t>> stack{{0, 0}};
  while (!stack.empty()) {
    auto [dir, node] = stack.back();
    stack.pop_back();
    cancel_.check();
    const Entry& d = tree.entries[dir];
    const ImageNode& bn = img.nodes[node];
    uint32_t i = d.first_child, iend = d.first_child + d.child_count;
    uint32_t j = bn.first_child, jend = bn.first_child + bn.nchildren;
    if (d.child_count == 0) continue;
    while (i < iend && j < jend) {
      const Entry& e = tree.entries[i];
      int c = name_cmp(tree, e, img.nodes[j].name);
      if (c < 0) {
        i++;
        continue;
      }
      if (c > 0) {
        j++;
        continue;
      }
      const Inode& b = img.inode.at(img.nodes[j].ino);
      if (!e.skipped) {
        if (S_ISDIR(e.mode) && b.is_dir()) {
          stack.emplace_back(i, j);
        } else if (check_content && has_data(e) && b.is_file() && b.size == e.size &&
                   (b.fragment != kNoFragment) == tail_in_fragment(o, e.size)) {
          matched.emplace_back(i, &b);  // compared below
        } else if (!check_content && has_data(e) && b.is_file() && b.size == e.size &&
                   uint16_t(e.mode & 07777) == b.mode) {
          bool same = b.uid_idx < img.tables.ids.size() && b.gid_idx < img.tables.ids.size() &&
                      img.tables.ids[b.uid_idx] == stored_uid(o, e.uid) &&
                      img.tables.ids[b.gid_idx] == stored_gid(o, e.gid) && stored_mtime(o, e.mtime) == b.mtime &&
                      (b.fragment != kNoFragment) == tail_in_fragment(o, e.size);
          if (same) {
            std::vector<std::pair<std::string, std::string>> theirs, ours;
            for (const XattrKV& kv : img.xattrs_of(b)) theirs.emplace_back(kv.key, kv.value);
            if (e.xattr_set != kNone)
              for (const XattrPair& x : tree.xattr_sets[e.xattr_set]) ours.emplace_back(x.key, x.value);
            std::sort(theirs.begin(), theirs.end());
            std::sort(ours.begin(), ours.end());
            same = theirs == ours;
          }
          if (same && !mtime_fits(e.mtime)) {
            stats_.clamped++;  // stored clamped: another time outside the range would look the same
          } else if (same && e.mtime >= int64_t(cutoff)) {
            stats_.racy++;
          } else if (same) {
            matched.emplace_back(i, &b);
          }
        }
      }
      i++;
      j++;
    }
  }
  std::sort(matched.begin(), matched.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
}

// 2a. Quick check: what each candidate's data is, from the record through the base's tables.
void BaseImage::check_against_record(Planning& p) {
  for (size_t k = 0; k < p.matched.size(); k++) {
    if (k % 4096 == 0) cancel_.check();
    const Inode& b = *p.matched[k].second;
    Compared& c = p.found[k];
    uint32_t sum = 0;
    c.same = impl_->layout_of(b, &c.stored, sum);
    c.tag = c.same ? impl_->tag_of(b) : 0;
    if (c.same && b.fragment != kNoFragment)
      c.tail_term = c.tag - sum;  // checked with the fragment block
    else if (c.same)
      c.same = sum == c.tag;
    if (!c.same) reject(p.tree, p.matched[k].first);  // the tables point it at data that is not its own
  }
}

// 2b. Content check: each candidate's data read and compared with the source, on `threads` threads.
void BaseImage::compare_contents(Planning& p, unsigned threads) {
  Image& img = *impl_->img;
  auto reading = [&]() {
    Reading r;
    r.comp = make_compressor(img.comp_config);
    r.inodes =
        std::make_unique<MetadataReader>(img.file, *r.comp, "inode table", img.sb.inode_table, img.sb.directory_table);
    return r;
  };
  parallel_for(p.matched.size(), threads, reading, [&](Reading& r, size_t k) {
    cancel_.check();
    p.found[k].same = same_data(p.tree, p.matched[k].first, p.matched[k].second, r, p.found[k]);
  });
  for (size_t k = 0; k < p.matched.size(); k++) {
    stats_.compared++;
    stats_.compared_bytes += p.matched[k].second->size;
    if (p.found[k].damaged) reject(p.tree, p.matched[k].first);
  }
}

// 3. Fragment blocks. The record's view of each block the candidates use: its pieces as the tables give them
// (every base file with a tail there), which must tile it and give the record's pieces tag. A block is copied
// whole, or the candidates' tails are taken out of it to repack, or they are read again.
void BaseImage::choose_fragments(Planning& p) {
  Image& img = *impl_->img;
  const ReadSuperblock& sb = img.sb;
  const uint64_t bs = sb.block_size;
  const bool record = impl_->has_record();
  const bool check_content = p.check_content;
  const IntegrityRecord& rec = impl_->record.rec;
  Tree& tree = p.tree;
  auto& matched = p.matched;
  auto& found = p.found;
  const uint32_t nfrag = uint32_t(img.tables.fragments.size());
  std::map<uint32_t, std::vector<size_t>> claims;  // base fragment block -> candidates with a tail in it
  for (size_t k = 0; k < matched.size(); k++) {
    const Inode& b = *matched[k].second;
    if (!found[k].same || b.fragment == kNoFragment) continue;
    if (b.fragment >= nfrag)
      img.file.corrupt("inode table", sb.inode_table + (b.ref >> 16),
                       "inode " + std::to_string(b.number) + " names a fragment block past the table");
    if (b.size % bs == 0 || uint64_t(b.frag_offset) + b.size % bs > bs)
      img.file.corrupt("inode table", sb.inode_table + (b.ref >> 16),
                       "the tail of inode " + std::to_string(b.number) + " runs past the block size");
    claims[b.fragment].push_back(k);
  }
  std::map<uint32_t, std::vector<FragmentPiece>> all_pieces;  // record mode: every piece of the claimed blocks
  std::map<uint32_t, bool> poisoned;
  if (record && !check_content && !claims.empty()) {
    uint64_t n = 0;
    for (const auto& [number, f] : img.inode) {
      if (++n % 4096 == 0) cancel_.check();
      if (!f.is_file() || f.fragment == kNoFragment || !claims.count(f.fragment)) continue;
      uint32_t sum = 0;
      const uint32_t tail = uint32_t(f.size % bs);
      if (tail == 0 || !impl_->layout_of(f, nullptr, sum)) {
        poisoned[f.fragment] = true;
        continue;
      }
      all_pieces[f.fragment].push_back(FragmentPiece{f.frag_offset, tail, impl_->tag_of(f) - sum});
    }
  }
  auto& renumber = p.renumber;
  auto& tails = p.tails;
  uint64_t repack_bytes = 0;
  std::vector<uint8_t> block, scratch;
  auto reject_all = [&](const std::vector<size_t>& who) {
    for (size_t k : who) {
      found[k].same = false;
      reject(tree, matched[k].first);
    }
  };
  for (auto& [f, who] : claims) {
    cancel_.check();
    const FragmentRecord& fe = img.tables.fragments[f];
    std::vector<FragmentPiece> claimed;
    for (size_t k : who)
      claimed.push_back(
          FragmentPiece{matched[k].second->frag_offset, uint32_t(matched[k].second->size % bs), found[k].tail_term});
    const bool claims_agree = normalise_pieces(claimed);
    CopiedFragment cf;
    cf.start = fe.start;
    cf.word = fe.word;
    // What the block's stored bytes must hash to: the record's digest (quick check), or what the comparison
    // read (content check: the bytes whose tails were found equal to the source).
    bool known = false;
    uint64_t want = 0;
    if (!check_content) {
      const size_t idx = impl_->record.block_at(fe.start);
      known = idx != ImageRecord::npos && rec.blocks[idx].word == fe.word;
      if (known) want = rec.blocks[idx].digest;
      std::vector<FragmentPiece>& all = all_pieces[f];
      const bool consistent = known && !poisoned[f] && normalise_pieces(all) &&
                              pieces_tile(all, rec.fragments[f].raw_len) &&
                              pieces_tag(all) == rec.fragments[f].pieces_tag;
      if (consistent && claims_agree && claimed == all) {  // every byte belongs to a file kept in the new image
        cf.digest = want;
        cf.record = rec.fragments[f];
        renumber.emplace(f, uint32_t(copied_.size()));
        copied_.push_back(cf);
        continue;
      }
    } else {
      std::lock_guard<std::mutex> g(impl_->seen_mu);
      auto it = impl_->seen_fragments.find(f);
      known = it != impl_->seen_fragments.end() && !it->second.second;
      if (known) want = it->second.first;
    }
    // Read it: its stored bytes against the digest they must have; then (content check) copy it whole if
    // the compared tails fill it, else take the tails out, each checked against its term, to repack.
    uint64_t got = 0;
    bool readable = true;
    try {
      impl_->reader->read_block(*img.comp, fe.start, fe.word, 0, block, scratch, "fragment block", &got);
    } catch (const CorruptError&) {
      readable = false;
    }
    if (!readable || !known || got != want || (check_content && record && block.size() != rec.fragments[f].raw_len)) {
      reject_all(who);
      continue;
    }
    if (check_content && claims_agree && pieces_tile(claimed, uint32_t(block.size()))) {
      cf.digest = want;
      cf.record = RecordFragment{uint32_t(block.size()), pieces_tag(claimed)};
      renumber.emplace(f, uint32_t(copied_.size()));
      copied_.push_back(cf);
      continue;
    }
    for (size_t k : who) {
      const Inode& b = *matched[k].second;
      const uint32_t tail = uint32_t(b.size % bs);
      if (uint64_t(b.frag_offset) + tail > block.size() ||
          content_term(block_content_hash(block.data() + b.frag_offset, tail), b.size / bs) != found[k].tail_term) {
        found[k].same = false;
        reject(tree, matched[k].first);
        continue;
      }
      if (repack_bytes + tail > kMaxRepackBytes) {
        found[k].same = false;  // read from the source instead
        continue;
      }
      tails[k].assign(block.begin() + b.frag_offset, block.begin() + b.frag_offset + tail);
      repack_bytes += tail;
    }
  }
}

// 4. The plan, in entry order.
void BaseImage::record_reused(Planning& p) {
  const uint64_t bs = impl_->img->sb.block_size;
  auto& matched = p.matched;
  auto& found = p.found;
  files_.reserve(matched.size());
  for (size_t k = 0; k < matched.size(); k++) {
    if (!found[k].same) continue;
    const uint32_t entry = matched[k].first;
    const Inode& b = *matched[k].second;
    ReusedFile r;
    r.entry = entry;
    r.blocks_start = b.blocks_start;
    r.words = impl_->words_of(b);
    r.stored = std::move(found[k].stored);
    r.sparse = b.sparse;
    r.tag = found[k].tag;
    if (b.fragment != kNoFragment) {
      r.tail_len = uint32_t(b.size % bs);
      r.tail_term = found[k].tail_term;
      r.base_fragment = b.fragment;
      r.fragment_offset = b.frag_offset;
      auto it = p.renumber.find(b.fragment);
      if (it != p.renumber.end()) {
        r.new_fragment = it->second;
      } else {
        r.tail = std::move(p.tails[k]);
        stats_.repacked_tails++;
      }
    }
    p.tree.entries[entry].from_base = true;
    stats_.files++;
    stats_.bytes += b.size;
    files_.push_back(std::move(r));
  }
  stats_.copied_fragments = copied_.size();
}

// Whether entry's bytes equal the base inode's: read beneath the data root like the workers read (never
// following a symlink, never blocking on a FIFO), only from the walked inode and only if it did not change
// while read. Fills c with the blocks as read from the base (the digests of their stored bytes are what
// copying must find) and the content tag. A source that cannot be read is "not the same" (the data phase
// then reports it); a base block that does not decompress, or does not match the record, is damaged.
bool BaseImage::same_data(const Tree& tree, uint32_t entry, const void* base_inode, Reading& r, Compared& c) {
  const Inode& b = *static_cast<const Inode*>(base_inode);
  const Entry& e = tree.entries[entry];
  const FileStamp& want = tree.stamps[e.stamp];
  int raw = open_beneath(tree.data_fd.get(), tree.data_rel(entry), O_RDONLY | O_NONBLOCK | O_NOCTTY);
  if (raw < 0) return false;
  Fd f(raw);
  struct stat st;
  if (::fstat(f.get(), &st) != 0 || !S_ISREG(st.st_mode) || stamp_of(st) != want) return false;
  Image& img = *impl_->img;
  const uint64_t bs = img.sb.block_size;
  const bool record = impl_->has_record();
  auto source_equals = [&](const uint8_t* p, size_t len, uint64_t off) {
    try {
      return file_holds(f.get(), off, p, len, r.source, tree.data_path(entry));
    } catch (const NativeError&) {
      return false;
    }
  };
  auto matches_record = [&](uint64_t pos, uint32_t word, uint64_t digest) {
    if (!record) return true;
    size_t idx = impl_->record.block_at(pos);
    return idx != ImageRecord::npos && impl_->record.rec.blocks[idx].word == word &&
           impl_->record.rec.blocks[idx].digest == digest;
  };
  uint64_t digest = 0;
  try {
    uint64_t pos = b.blocks_start;
    const std::vector<uint32_t> words = all_block_words(*r.inodes, b);
    for (size_t k = 0; k < words.size(); k++) {
      cancel_.check();
      const uint64_t off = uint64_t(k) * bs;
      const size_t len = size_t(std::min<uint64_t>(bs, b.size - off));
      uint64_t stored_digest = 0;
      impl_->reader->read_block(*r.comp, pos, words[k], len, r.stored, r.scratch, "data block", &stored_digest);
      const uint64_t h = block_content_hash(r.stored.data(), len);
      if (words[k] != 0) {
        if (!matches_record(pos, words[k], stored_digest)) {
          c.damaged = true;
          return false;
        }
        c.stored.push_back(RecordBlock{words[k], content_term(h, k), stored_digest});
      }
      digest += digest_term(h, k);
      pos += stored_size(words[k]);
      if (!source_equals(r.stored.data(), len, off)) return false;
    }
    if (b.fragment != kNoFragment) {
      const uint32_t tail = uint32_t(b.size % bs);
      if (b.fragment >= img.tables.fragments.size())
        img.file.corrupt("inode table", img.sb.inode_table + (b.ref >> 16),
                         "inode " + std::to_string(b.number) + " names a fragment block past the table");
      const auto& fe = img.tables.fragments[b.fragment];
      if (r.frag_index != b.fragment) {
        r.frag_index = kNoFragment;
        uint64_t frag_digest = 0;
        impl_->reader->read_block(*r.comp, fe.start, fe.word, 0, r.frag, r.scratch, "fragment block", &frag_digest);
        {
          std::lock_guard<std::mutex> g(impl_->seen_mu);
          auto seen = impl_->seen_fragments.emplace(b.fragment, std::make_pair(frag_digest, false));
          if (!seen.second && seen.first->second.first != frag_digest) seen.first->second.second = true;
        }
        if (!matches_record(fe.start, fe.word, frag_digest)) {
          c.damaged = true;
          return false;
        }
        r.frag_index = b.fragment;
      }
      if (uint64_t(b.frag_offset) + tail > r.frag.size()) {
        c.damaged = true;
        return false;
      }
      const uint64_t h = block_content_hash(r.frag.data() + b.frag_offset, tail);
      digest += digest_term(h, b.size / bs);
      c.tail_term = content_term(h, b.size / bs);
      if (!source_equals(r.frag.data() + b.frag_offset, tail, b.size - tail)) return false;
    }
  } catch (const CorruptError&) {
    c.damaged = true;
    return false;
  }
  c.tag = uint32_t(digest);
  return ::fstat(f.get(), &st) == 0 && stamp_of(st) == want;  // unchanged while compared
}

}  // namespace casper
