#include "image/base_image.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <atomic>
#include <map>
#include <set>
#include <system_error>
#include <thread>
#include <utility>

#include "compress/compressor.h"
#include "format/constants.h"
#include "fs/beneath.h"
#include "read/data_reader.h"
#include "read/image_reader.h"
#include "util/fd.h"

namespace casper {

namespace {

// A fragment block is copied whole while at least this share of the bytes the base uses in it stays in use.
constexpr uint64_t kKeepNum = 3, kKeepDen = 4;
constexpr size_t kPlainCopyChunk = 1 << 20;
// Tails to repack are held in memory from planning to writing; past this, unchanged files are read instead.
constexpr uint64_t kMaxRepackBytes = uint64_t(256) << 20;

uint32_t stored_size(uint32_t word) { return word & 0x00FFFFFFu; }

int name_cmp(const Tree& t, const Entry& e, const std::string& b) {
  size_t n = std::min<size_t>(e.name_len, b.size());
  int c = std::memcmp(t.arena.data() + e.name_off, b.data(), n);
  if (c != 0) return c;
  return e.name_len < b.size() ? -1 : e.name_len > b.size() ? 1 : 0;
}

}  // namespace

struct BaseImage::Impl {
  explicit Impl(const std::string& path) : img(path), reader(img.file, img.sb) {}
  Image img;
  DataReader reader;
};

// One comparing thread's compressor and buffers.
struct BaseImage::Reading {
  std::unique_ptr<Compressor> comp;
  std::vector<uint8_t> stored, scratch, source, frag;
  uint32_t frag_index = kNoFragment;
};

BaseImage::BaseImage(const std::string& path, const CancelFlag& cancel) : impl_(std::make_unique<Impl>(path)), cancel_(cancel), path_(path) {
  impl_->img.read_tree(cancel, nullptr);
}

BaseImage::~BaseImage() = default;

std::string BaseImage::incompatibility(const ImageOptions& o) const {
  const ReadSuperblock& sb = impl_->img.sb;
  if (sb.compressor_name != o.compressor.name) return "it is compressed with " + sb.compressor_name + ", this snapshot with " + o.compressor.name;
  if (sb.block_size != o.block_size) return "its block size is " + std::to_string(sb.block_size) + ", this snapshot's " + std::to_string(o.block_size);
  if (sb.comp_options != make_compressor(o.compressor)->options_block()) return "its " + sb.compressor_name + " options differ from this snapshot's";
  const uint16_t frag_flags = kFlagNoFragments | kFlagAlwaysFragments;
  const uint16_t want = uint16_t(kFlagNoFragments * (o.fragments == FragmentMode::kNone) | kFlagAlwaysFragments * (o.fragments == FragmentMode::kAlways));
  if ((sb.flags & frag_flags) != want) return "it packs tail ends into fragments differently (-no-fragments / -always-use-fragments)";
  return "";
}

// Long: one merge of the two sorted trees, the quick check, then the fragment-block decision over its result.
void BaseImage::plan(Tree& tree, const ImageOptions& o, bool check_content, unsigned threads) {
  Image& img = impl_->img;
  const ReadSuperblock& sb = img.sb;
  const uint32_t cutoff = sb.mkfs_time;
  std::vector<std::pair<uint32_t, const Inode*>> matched;  // (entry, base inode), unchanged files
  // Depth-first over directories present in both, children merged by name (both are sorted bytewise).
  std::vector<std::pair<uint32_t, uint32_t>> stack{{0, 0}};
  while (!stack.empty()) {
    auto [dir, node] = stack.back();
    stack.pop_back();
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
        } else if (check_content && has_data(e) && b.is_file() && b.size == e.size && (b.fragment != kNoFragment) == tail_in_fragment(o, e.size)) {
          matched.emplace_back(i, &b);  // compared below
        } else if (!check_content && has_data(e) && b.is_file() && b.size == e.size && uint16_t(e.mode & 07777) == b.mode) {
          bool same = b.uid_idx < img.tables.ids.size() && b.gid_idx < img.tables.ids.size() && img.tables.ids[b.uid_idx] == stored_uid(o, e.uid) &&
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
          if (same && e.mtime >= int64_t(cutoff)) {
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
  if (check_content) {
    // Read every candidate and compare it with the base's bytes; a base that fails to read fails the plan.
    std::vector<uint8_t> same(matched.size(), 0);
    std::atomic<size_t> next{0};
    std::atomic<bool> stop{false};
    std::vector<std::unique_ptr<NativeError>> errors(std::max(1u, threads));
    auto work = [&](unsigned t) {
      errors[t] = capture_error([&]() {
        Reading r;
        r.comp = make_compressor(img.comp_config);
        for (size_t k; !stop && (k = next.fetch_add(1)) < matched.size();) {
          cancel_.check();
          same[k] = same_data(tree, matched[k].first, matched[k].second, r);
        }
      });
      if (errors[t]) stop = true;
    };
    std::vector<std::thread> pool;
    for (unsigned t = 1; t < errors.size(); t++) {
      try {
        pool.emplace_back(work, t);
      } catch (const std::system_error&) {
        break;  // fewer threads then
      }
    }
    work(0);
    for (auto& th : pool) th.join();
    for (auto& e : errors)
      if (e) throw *e;
    size_t kept = 0;
    for (size_t k = 0; k < matched.size(); k++) {
      stats_.compared++;
      stats_.compared_bytes += matched[k].second->size;
      if (same[k]) matched[kept++] = matched[k];
    }
    matched.resize(kept);
  }

  // How much of each base fragment block the base uses, and how much the unchanged files still use.
  const uint64_t bs = sb.block_size;
  std::map<uint32_t, std::set<std::pair<uint32_t, uint32_t>>> used, kept;  // block -> distinct (offset, length)
  for (const auto& [number, n] : img.inode)
    if (n.is_file() && n.fragment != kNoFragment) used[n.fragment].emplace(n.frag_offset, uint32_t(n.size % bs));
  for (const auto& [entry, b] : matched)
    if (b->fragment != kNoFragment) kept[b->fragment].emplace(b->frag_offset, uint32_t(b->size % bs));
  std::map<uint32_t, uint32_t> renumber;  // base block -> new index
  for (const auto& [block, tails] : kept) {
    uint64_t live = 0, span = 0;
    for (const auto& [off, len] : tails) live += len;
    for (const auto& [off, len] : used[block]) span = std::max<uint64_t>(span, uint64_t(off) + len);
    if (live * kKeepDen >= span * kKeepNum) {
      renumber.emplace(block, uint32_t(copied_.size()));
      copied_.push_back(block);
    }
  }
  for (uint32_t k : copied_) {
    uint64_t start;
    uint32_t word;
    fragment_location(k, &start, &word);
    if (word & ~(kBlockUncompressed | 0xFFFFFFu) || stored_size(word) == 0 || stored_size(word) > bs || start < sb.data_start || start > sb.inode_table ||
        stored_size(word) > sb.inode_table - start)
      img.file.corrupt("fragment table", sb.fragment_table, "fragment block " + std::to_string(k) + " lies outside the data area");
  }

  files_.reserve(matched.size());
  uint64_t repack_bytes = 0;
  std::vector<uint8_t> block, scratch;
  uint32_t block_index = kNoFragment;
  for (const auto& [entry, b] : matched) {
    ReusedFile r;
    r.entry = entry;
    r.blocks_start = b->blocks_start;
    r.words = b->blocks;
    r.sparse = b->sparse;
    uint64_t stored = 0;
    for (uint32_t w : r.words) {
      if (w & ~(kBlockUncompressed | 0xFFFFFFu) || stored_size(w) > bs)
        img.file.corrupt("inode table", sb.inode_table + (b->ref >> 16), "a block of inode " + std::to_string(b->number) + " has a bad size word");
      stored += stored_size(w);
    }
    if (stored && (r.blocks_start < sb.data_start || r.blocks_start > sb.inode_table || stored > sb.inode_table - r.blocks_start))
      img.file.corrupt("inode table", sb.inode_table + (b->ref >> 16), "the blocks of inode " + std::to_string(b->number) + " lie outside the data area");
    if (b->fragment != kNoFragment) {
      if (b->fragment >= img.tables.fragments.size())
        img.file.corrupt("inode table", sb.inode_table + (b->ref >> 16), "inode " + std::to_string(b->number) + " names a fragment block past the table");
      r.tail_len = uint32_t(b->size % bs);
      if (uint64_t(b->frag_offset) + r.tail_len > bs)
        img.file.corrupt("inode table", sb.inode_table + (b->ref >> 16), "the tail of inode " + std::to_string(b->number) + " runs past the block size");
      r.base_fragment = b->fragment;
      r.fragment_offset = b->frag_offset;
      auto it = renumber.find(b->fragment);
      if (it != renumber.end()) {
        r.new_fragment = it->second;
      } else {
        if (repack_bytes + r.tail_len > kMaxRepackBytes) continue;  // read from the source instead
        if (block_index != b->fragment) {
          const auto& f = img.tables.fragments[b->fragment];
          block_index = kNoFragment;
          impl_->reader.read_block(*img.comp, f.start, f.word, 0, block, scratch, "fragment block");
          block_index = b->fragment;
        }
        if (uint64_t(r.fragment_offset) + r.tail_len > block.size())
          img.file.corrupt("fragment block", img.tables.fragments[b->fragment].start,
                           "the tail of inode " + std::to_string(b->number) + " runs past its " + std::to_string(block.size()) + "-byte fragment block");
        r.tail.assign(block.begin() + r.fragment_offset, block.begin() + r.fragment_offset + r.tail_len);
        repack_bytes += r.tail_len;
        stats_.repacked_tails++;
      }
    } else if (uint64_t(b->frag_offset) > bs) {
      img.file.corrupt("inode table", sb.inode_table + (b->ref >> 16), "inode " + std::to_string(b->number) + " has a fragment offset past the block size");
    }
    tree.entries[entry].from_base = true;
    stats_.files++;
    stats_.bytes += b->size;
    files_.push_back(std::move(r));
  }
  stats_.copied_fragments = copied_.size();
}

// Whether entry's bytes equal the base inode's: read beneath the data root like the workers read (never
// following a symlink, never blocking on a FIFO), only from the walked inode and only if it did not change
// while read. A source that cannot be read is "not the same" (the data phase then reports it); a base block
// that cannot be read throws.
bool BaseImage::same_data(const Tree& tree, uint32_t entry, const void* base_inode, Reading& r) {
  const Inode& b = *static_cast<const Inode*>(base_inode);
  const Entry& e = tree.entries[entry];
  const FileStamp& want = tree.stamps[e.stamp];
  int raw = open_beneath(tree.data_fd.get(), tree.data_rel(entry), O_RDONLY | O_NONBLOCK | O_NOCTTY);
  if (raw < 0) return false;
  Fd f(raw);
  struct stat st;
  if (::fstat(f.get(), &st) != 0 || !S_ISREG(st.st_mode) || stamp_of(st) != want) return false;
  const uint64_t bs = impl_->img.sb.block_size;
  auto source_equals = [&](const uint8_t* p, size_t len, uint64_t off) {
    r.source.resize(len);
    try {
      if (pread_full(f.get(), r.source.data(), len, off, tree.data_path(entry)) != len) return false;
    } catch (const NativeError&) {
      return false;
    }
    return std::memcmp(r.source.data(), p, len) == 0;
  };
  uint64_t pos = b.blocks_start;
  for (size_t k = 0; k < b.blocks.size(); k++) {
    const uint64_t off = uint64_t(k) * bs;
    const size_t len = size_t(std::min<uint64_t>(bs, b.size - off));
    impl_->reader.read_block(*r.comp, pos, b.blocks[k], len, r.stored, r.scratch, "data block");
    pos += DataReader::disk_size(b.blocks[k]);
    if (!source_equals(r.stored.data(), len, off)) return false;
  }
  if (b.fragment != kNoFragment) {
    const uint32_t tail = uint32_t(b.size % bs);
    if (r.frag_index != b.fragment) {
      if (b.fragment >= impl_->img.tables.fragments.size())
        impl_->img.file.corrupt("inode table", impl_->img.sb.inode_table + (b.ref >> 16), "inode " + std::to_string(b.number) + " names a fragment block past the table");
      const auto& fe = impl_->img.tables.fragments[b.fragment];
      r.frag_index = kNoFragment;
      impl_->reader.read_block(*r.comp, fe.start, fe.word, 0, r.frag, r.scratch, "fragment block");
      r.frag_index = b.fragment;
    }
    if (uint64_t(b.frag_offset) + tail > r.frag.size())
      impl_->img.file.corrupt("fragment block", impl_->img.tables.fragments[b.fragment].start, "the tail of inode " + std::to_string(b.number) + " runs past its fragment block");
    if (!source_equals(r.frag.data() + b.frag_offset, tail, b.size - tail)) return false;
  }
  return ::fstat(f.get(), &st) == 0 && stamp_of(st) == want;  // unchanged while compared
}

void BaseImage::fragment_location(uint32_t i, uint64_t* start, uint32_t* word) const {
  const auto& f = impl_->img.tables.fragments.at(i);
  *start = f.start;
  *word = f.word;
}

void BaseImage::copy(uint64_t pos, uint64_t len, int out_fd, uint64_t out_pos, const std::string& out_path) {
  if (len == 0) return;
  if (run_.len && run_.out_fd == out_fd && run_.pos + run_.len == pos && run_.out_pos + run_.len == out_pos) {
    run_.len += len;
    return;
  }
  flush();
  run_ = Run{pos, len, out_pos, out_fd, out_path};
}

void BaseImage::flush() {
  if (run_.len == 0) return;
  Run r = std::exchange(run_, Run{});
  const int in = impl_->img.file.fd();
  loff_t from = loff_t(r.pos), to = loff_t(r.out_pos);
  uint64_t left = r.len;
  while (left && !plain_copy_) {
    ssize_t n = ::copy_file_range(in, &from, r.out_fd, &to, left, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP || errno == EBADF)) {
      plain_copy_ = true;  // across filesystems on older kernels, or a filesystem without it
      break;
    }
    if (n < 0) throw sys_error(errno, "copy_file_range", r.out_path);
    if (n == 0) impl_->img.file.corrupt("data block", uint64_t(from), "the base image ends inside a block it was to give");
    left -= uint64_t(n);
  }
  std::vector<uint8_t> buf;
  while (left) {
    size_t n = size_t(std::min<uint64_t>(left, kPlainCopyChunk));
    buf.resize(n);
    impl_->img.file.read(uint64_t(from), buf.data(), n, "data block");
    pwrite_full(r.out_fd, buf.data(), n, uint64_t(to), r.out_path);
    from += loff_t(n);
    to += loff_t(n);
    left -= n;
  }
}

}  // namespace casper
