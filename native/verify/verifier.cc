#include "verify/verifier.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <cstring>
#include <functional>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "compare/dir_compare.h"
#include "compare/image_side.h"
#include "format/block_word.h"
#include "format/constants.h"
#include "fs/beneath.h"
#include "read/block_words.h"
#include "read/data_reader.h"
#include "read/image_reader.h"
#include "read/record_reader.h"
#include "util/fd.h"
#include "util/hash.h"
#include "util/parallel_for.h"
#include "util/paths.h"
#include "util/same_bytes.h"
#include "util/xxhash64.h"

namespace casper {

namespace {

constexpr size_t kMaxProblems = 100;

void set_progress(uint64_t* p, int i, uint64_t v) {
  if (p) __atomic_store_n(p + i, v, __ATOMIC_RELAXED);
}
void add_progress(uint64_t* p, int i, uint64_t v) {
  if (p) __atomic_add_fetch(p + i, v, __ATOMIC_RELAXED);
}

// Whether [off, off + len) of fd holds only zeros: its holes are skipped (SEEK_DATA/SEEK_HOLE), its data read.
// A file of terabytes of holes is compared in a few calls.
bool zero_range(int fd, uint64_t off, uint64_t len, std::vector<uint8_t>& buf, const std::string& path) {
  const uint64_t end = off + len;
  buf.resize(1 << 17);
  while (off < end) {
    off_t data = ::lseek(fd, off_t(off), SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) return true;  // nothing but a hole up to the end of the file (sizes were compared)
      data = off_t(off);                // SEEK_DATA not supported: read it all
    }
    if (uint64_t(data) >= end) return true;
    off_t hole = ::lseek(fd, data, SEEK_HOLE);
    uint64_t stop = hole < 0 || uint64_t(hole) <= uint64_t(data) ? end : std::min<uint64_t>(end, uint64_t(hole));
    for (uint64_t at = uint64_t(data); at < stop;) {
      size_t n = size_t(std::min<uint64_t>(buf.size(), stop - at));
      if (pread_full(fd, buf.data(), n, at, path) != n) return false;
      for (size_t i = 0; i < n; i++)
        if (buf[i]) return false;
      at += n;
    }
    off = stop;
  }
  return true;
}

// A CorruptError names its table and offset; other errors leave them empty.
VerifyProblem problem_of(const NativeError& e, const std::string& path) {
  return VerifyProblem{e.code, e.table, e.offset, path, e.what()};
}

// Shared state of the data phase; each thread has its own compressor and buffers.
struct DataPhase {
  Image& img;
  const VerifyOptions& o;
  VerifyReport& r;
  DataReader reader;
  std::vector<uint32_t> fragment_sizes;  // uncompressed size of each fragment block, 0 when it is corrupt
  std::mutex mu;
  std::atomic<uint64_t> blocks{0}, sparse{0}, read_bytes{0}, tails{0}, digest_files{0}, digest_bytes{0};
  // The integrity record, when the image has a valid one: each file's tag by inode number, and the pieces
  // (tails) found in each fragment block (under mu).
  const ImageRecord* rec = nullptr;
  std::unordered_map<uint32_t, uint32_t> tag_index;
  std::vector<std::vector<FragmentPiece>> pieces;
  std::atomic<uint64_t> record_blocks{0}, record_files{0};

  DataPhase(Image& i, const VerifyOptions& opts, VerifyReport& rep) : img(i), o(opts), r(rep), reader(i.file, i.sb) {}

  void problem(const NativeError& e, const std::string& path) { add(problem_of(e, path)); }
  void add(VerifyProblem p) {
    std::lock_guard<std::mutex> g(mu);
    if (r.problems.size() >= kMaxProblems) {
      r.problems_truncated = true;
      return;
    }
    r.problems.push_back(std::move(p));
  }
  void difference(TreeDifference d) {
    std::lock_guard<std::mutex> g(mu);
    r.differences.push_back(std::move(d));
  }

  // Runs fn(w, i) for i in [0, n) on up to 64 threads (util/parallel_for.h), each with its own Worker. A
  // corrupt part is a problem and the work goes on; a cancel, or memory running out, stops it all.
  template <typename Fn>
  void parallel(size_t n, unsigned threads, Fn fn) {
    auto make_worker = [&]() {
      Worker w{make_compressor(img.comp_config), nullptr, {}, {}, {}, ~uint32_t(0)};
      w.inodes = std::make_unique<MetadataReader>(img.file, *w.comp, "inode table", img.sb.inode_table,
                                                  img.sb.directory_table);
      return w;
    };
    parallel_for(n, std::min(threads, 64u), make_worker, [&](Worker& w, size_t i) {
      o.cancel.check();
      try {
        fn(w, i);
      } catch (const CorruptError& e) {
        problem(e, "");
      } catch (const NativeError& e) {
        if (e.code == "ENOMEM" || e.code == "ECANCELED") throw;
        problem(e, "");
      }
    });
    o.cancel.check();
  }

  struct Worker {
    std::unique_ptr<Compressor> comp;
    std::unique_ptr<MetadataReader> inodes;  // this thread's reader of block size words
    std::vector<uint8_t> buf, scratch, frag;
    uint32_t frag_index;
  };

  // A block of the integrity record: its stored bytes against their digest (raw or compressed alike).
  void check_record_block(Worker& w, size_t i) {
    const RecordBlock& b = rec->rec.blocks[i];
    const uint64_t pos = rec->block_pos[i];
    const uint32_t n = stored_size(b.word);
    w.scratch.resize(n);
    img.file.read(pos, w.scratch.data(), n, "data block");
    if (xxh64(w.scratch.data(), n) != b.digest)
      img.file.corrupt(b.term == 0 && is_fragment_start(pos) ? "fragment block" : "data block", pos,
                       "its " + std::to_string(n) +
                           " stored bytes do not match the integrity record's digest (the block is damaged)");
    record_blocks++;
  }
  bool is_fragment_start(uint64_t pos) const {
    for (const FragmentRecord& fe : img.tables.fragments)
      if (fe.start == pos) return true;
    return false;
  }

  void check_fragment(Worker& w, size_t i) {
    const FragmentRecord& fe = img.tables.fragments[i];
    if (fe.word == 0)
      img.file.corrupt("fragment table", img.sb.fragment_table, "fragment block " + std::to_string(i) + " has size 0");
    reader.read_block(*w.comp, fe.start, fe.word, 0, w.buf, w.scratch, "fragment block");
    if (rec && w.buf.size() != rec->rec.fragments[i].raw_len) {
      img.file.corrupt("fragment block", fe.start,
                       "fragment block " + std::to_string(i) + " holds " + std::to_string(w.buf.size()) +
                           " bytes, the integrity record says " + std::to_string(rec->rec.fragments[i].raw_len));
    }
    fragment_sizes[i] = uint32_t(w.buf.size());
    blocks++;
    read_bytes += stored_size(fe.word);
    add_progress(o.progress, 2, stored_size(fe.word));
  }

  // Reads every stored block of a file (a sparse block is never materialised: it is zeros by definition);
  // compares with the tree's file when cc is given.
  void check_file(Worker& w, const Inode& n, const std::string& path, const ContentCheck* cc) {
    const uint64_t bs = img.sb.block_size;
    Fd src;
    bool same = cc != nullptr;
    std::vector<uint8_t> theirs;
    uint64_t pos_in_file = 0;
    const std::string shown = cc ? printable(content_prefix + cc->rel) : "";
    auto cannot_read = [&](const std::string& why) {
      difference({path, "unreadable", "", why, "Cannot read " + shown + ": " + why});
      same = false;
      cc = nullptr;
    };
    auto compare = [&](const uint8_t* p, size_t len) {
      if (!same) return;
      try {
        if (!file_holds(src.get(), pos_in_file, p, len, theirs, shown)) same = false;
      } catch (const NativeError& e) {
        cannot_read(e.what());
      }
      pos_in_file += len;
    };
    // A run of holes in the image: the tree's file must be zeros there (its own holes skipped with SEEK_DATA).
    auto compare_zeros = [&](uint64_t len) {
      if (!same) return;
      try {
        if (!zero_range(src.get(), pos_in_file, len, theirs, shown)) same = false;
      } catch (const NativeError& e) {
        cannot_read(e.what());
      }
      pos_in_file += len;
    };
    if (cc) {
      // Beneath the tree's root, never following a symlink (a parent swapped for one is ELOOP), never blocking (a
      // FIFO swapped in opens at once and is refused below); and only the inode the comparison looked at.
      int fd = open_beneath(content_root, cc->rel.substr(1), O_RDONLY | O_NONBLOCK | O_NOCTTY);
      struct stat st;
      if (fd < 0) {
        int err = errno;
        cannot_read(err == ELOOP || err == ENOTDIR
                        ? "replaced by a symbolic link or another file type since it was compared"
                        : std::strerror(err));
      } else {
        src = Fd(fd);
        if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || uint64_t(st.st_dev) != cc->identity.first ||
            uint64_t(st.st_ino) != cc->identity.second)
          cannot_read("replaced by another file since it was compared");
      }
    }
    const ExpectedFile* want = nullptr;
    if (o.expected) {
      auto it = o.expected->find(n.number);
      if (it == o.expected->end()) {
        problem(NativeError("EDIGEST",
                            "--verify: '" + printable(path) + "' is in the image but was not written by this snapshot"),
                path);
        return;
      }
      want = &it->second;
    }
    uint64_t digest = 0;
    const bool sum = want || rec;  // the content digest is needed
    try {
      BlockWords words(*w.inodes, n);
      uint64_t pos = n.blocks_start;
      uint64_t b = 0;
      uint64_t zero_hash = 0, zero_hash_len = ~uint64_t(0);  // the content hash of an all-zero block, per length
      uint64_t sparse_run = 0;                               // holes not yet compared with the tree
      uint32_t batch[1024];
      for (size_t got; (got = words.next(batch, 1024)) > 0;) {
        for (size_t k = 0; k < got; k++, b++) {
          if (o.cancel.is_set()) o.cancel.check();
          uint32_t word = batch[k];
          uint64_t left = n.size - b * bs;
          size_t expected = size_t(std::min<uint64_t>(bs, left));
          if (word == 0) {
            sparse++;
            sparse_run += expected;
            if (sum) {
              if (zero_hash_len != expected) {
                w.buf.assign(expected, 0);
                zero_hash = block_content_hash(w.buf.data(), expected);
                zero_hash_len = expected;
              }
              digest += digest_term(zero_hash, b);
            }
            continue;
          }
          if (sparse_run) compare_zeros(sparse_run), sparse_run = 0;
          reader.read_block(*w.comp, pos, word, expected, w.buf, w.scratch, "data block");
          if (sum) {
            const uint64_t h = block_content_hash(w.buf.data(), w.buf.size());
            digest += digest_term(h, b);
            if (rec) {
              const size_t idx = rec->block_at(pos);
              if (idx == ImageRecord::npos || rec->rec.blocks[idx].word != word)
                img.file.corrupt("data block", pos,
                                 "block " + std::to_string(b) + " of '" + printable(path) +
                                     "' is not a block of the integrity record");
              if (rec->rec.blocks[idx].term !=
                  content_term(h, b))  // a problem, but the file's digest is still worth checking
                problem(CorruptError("data block", pos,
                                     "block " + std::to_string(b) + " of '" + printable(path) +
                                         "' does not hold what the integrity record says",
                                     img.file.path()),
                        path);
            }
          }
          pos += stored_size(word);
          blocks++;
          read_bytes += stored_size(word);
          add_progress(o.progress, 2, stored_size(word));
          compare(w.buf.data(), w.buf.size());
        }
      }
      if (sparse_run) compare_zeros(sparse_run);
      if (n.fragment != kNoFragment) {
        tails++;
        uint32_t tail = uint32_t(n.size % bs);
        uint32_t fsize = fragment_sizes[n.fragment];
        if (fsize != 0 && (uint64_t(n.frag_offset) + tail > fsize))
          img.file.corrupt("fragment block", img.tables.fragments[n.fragment].start,
                           "the tail of " + std::to_string(tail) + " bytes at offset " + std::to_string(n.frag_offset) +
                               " runs past the " + std::to_string(fsize) + "-byte fragment block " +
                               std::to_string(n.fragment));
        if (want && fsize == 0)
          img.file.corrupt("fragment block", img.tables.fragments[n.fragment].start,
                           "--verify: the fragment block " + std::to_string(n.fragment) + " holding the tail of '" +
                               printable(path) + "' cannot be read");
        if ((same || sum) && fsize != 0) {
          if (w.frag_index != n.fragment) {
            const FragmentRecord& fe = img.tables.fragments[n.fragment];
            reader.read_block(*w.comp, fe.start, fe.word, 0, w.frag, w.scratch, "fragment block");
            w.frag_index = n.fragment;
          }
          const uint8_t* t = w.frag.data() + n.frag_offset;
          const uint64_t h = block_content_hash(t, tail);
          digest += digest_term(h, n.size / bs);
          if (rec) {
            std::lock_guard<std::mutex> g(mu);
            pieces[n.fragment].push_back(FragmentPiece{n.frag_offset, tail, content_term(h, n.size / bs)});
          }
          compare(t, tail);
        } else if (rec && fsize == 0) {
          return;  // the fragment block is corrupt (a problem already): the tag cannot be checked
        }
      }
    } catch (const CorruptError& e) {
      problem(e, path);
      return;
    }
    if (want && want->from_base && uint32_t(digest) != want->tag) {
      problem(
          NativeError("EDIGEST",
                      "--verify: the data of '" + printable(path) +
                          "', copied from the base image, differs from what the base's integrity record says it holds"),
          path);
      return;
    }
    if (want && want->from_base) {
      digest_files++;  // its tag matched above
      digest_bytes += n.size;
    } else if (want) {
      if (digest != want->digest) {
        problem(NativeError("EDIGEST", "--verify: the data of '" + printable(path) +
                                           "' in the image differs from what was read from " + printable(want->path)),
                path);
      } else {
        digest_files++;
        digest_bytes += n.size;
      }
    }
    if (rec) {
      auto t = tag_index.find(n.number);
      if (t == tag_index.end() || rec->rec.file_tags[t->second] != uint32_t(digest)) {
        problem(CorruptError("data block", n.blocks_start,
                             "the content of '" + printable(path) + "' does not match its tag in the integrity record",
                             img.file.path()),
                path);
      } else {
        record_files++;
      }
    }
    if (cc && !same)
      difference({path, "content", "", "", "Files " + label + ":" + printable(path) + " and " + shown + " differ"});
  }

  std::string label;
  int content_root = -1;       // the tree compared with (verify IMAGE DIR), held open
  std::string content_prefix;  // its path, for messages
};

// Whole 4 KiB blocks: what a file or directory of `bytes` takes on the usual filesystem it is unpacked to.
uint64_t in_blocks(uint64_t bytes) { return (bytes + 4095) / 4096 * 4096; }

void summarise(Image& img, VerifyReport& r) {
  r.entries = img.nodes.size();
  for (auto& [number, n] : img.inode) {
    switch (n.basic) {
      case kDir:
        r.directories++;
        r.installed_bytes += in_blocks(std::max<uint64_t>(n.dir_listing, 1));
        break;
      case kFile:
        r.files++;
        r.file_bytes += n.size;
        r.installed_bytes += in_blocks(n.size - std::min(n.sparse, n.size));
        break;
      // A target of 60 bytes or more does not fit in the inode (ext4's fast symlinks): one block.
      case kSymlink:
        r.symlinks++;
        r.installed_bytes += n.target.size() >= 60 ? 4096 : 0;
        break;
      case kBlockDev:
      case kCharDev: r.devices++; break;
      case kFifo: r.fifos++; break;
      default: r.sockets++; break;
    }
    uint32_t names = img.names.at(number);
    if (!n.is_dir() && names > 1) r.hardlinks += names - 1;
  }
}

}  // namespace

// Long: the verify steps in order (open, tables, tree, data on several threads, comparison), each short.
VerifyReport verify_image(const std::string& path, const VerifyOptions& o) {
  VerifyReport r;
  set_progress(o.progress, 0, 1);
  std::unique_ptr<Image> img;
  try {
    img = std::make_unique<Image>(path);
  } catch (const CorruptError& e) {
    r.problems.push_back(problem_of(e, ""));
    return r;
  }
  r.image_size = img->file.size();
  r.bytes_used = img->sb.bytes_used;
  r.block_size = img->sb.block_size;
  r.mkfs_time = img->sb.mkfs_time;
  r.inodes = img->sb.inode_count;
  r.ids = img->sb.id_count;
  r.fragment_blocks = img->sb.fragment_count;
  r.xattr_ids = uint32_t(img->tables.xattr_ids.size());
  r.flags = img->sb.flags;
  r.compressor = img->sb.compressor_name;
  r.export_table = img->tables.has_exports;
  try {
    img->read_tree(o.cancel, o.progress ? o.progress + 1 : nullptr);
  } catch (const CorruptError& e) {
    r.problems.push_back(problem_of(e, ""));
    r.metadata_blocks = img->metadata_blocks_read();
    return r;
  }
  summarise(*img, r);

  // The integrity record: it must belong to this image and describe what the tables hold.
  ImageRecord record = read_image_record(img->file, img->sb);
  if (record.status == RecordStatus::kValid) {
    uint64_t files = 0;
    for (auto& [number, n] : img->inode) files += n.is_file();
    if (files != record.rec.file_tags.size())
      record = ImageRecord{RecordStatus::kBroken,
                           "it lists " + std::to_string(record.rec.file_tags.size()) + " files, the image holds " +
                               std::to_string(files),
                           {},
                           {}};
    else if (record.rec.fragments.size() != img->tables.fragments.size())
      record = ImageRecord{RecordStatus::kBroken,
                           "it lists " + std::to_string(record.rec.fragments.size()) +
                               " fragment blocks, the image holds " + std::to_string(img->tables.fragments.size()),
                           {},
                           {}};
  }
  r.record = record.status == RecordStatus::kValid    ? "valid"
             : record.status == RecordStatus::kBroken ? "broken"
                                                      : "absent";
  if (record.status == RecordStatus::kBroken)
    r.problems.push_back(problem_of(CorruptError("integrity record", img->sb.bytes_used, record.why, path), ""));

  std::unordered_map<uint32_t, ContentCheck> content;
  Fd content_root;
  if (!o.dir.empty()) {
    try {
      compare_with_tree(*img, path, o.dir, o.ignore, o.cancel, r.differences, content, content_root);
    } catch (const CorruptError& e) {  // an xattr set that does not parse
      r.problems.push_back(problem_of(e, ""));
      return r;
    }
  }

  if (o.data || !content.empty()) {
    // Files in inode-table order, which is close to data order for every writer.
    std::vector<const Inode*> files;
    std::unordered_map<uint32_t, uint32_t> node_of;  // inode number -> first node naming it
    for (uint32_t i = 0; i < img->nodes.size(); i++) node_of.emplace(img->nodes[i].ino, i);
    uint64_t total = 0;
    {
      // The progress total: every stored block's size, the words read in one pass (sparse words add nothing).
      MetadataReader words_in(img->file, *img->comp, "inode table", img->sb.inode_table, img->sb.directory_table);
      std::vector<uint32_t> batch(4096);
      for (auto& [number, n] : img->inode) {
        if (!n.is_file()) continue;
        files.push_back(&n);
        try {
          BlockWords words(words_in, n);
          for (size_t got; (got = words.next(batch.data(), batch.size())) > 0;)
            for (size_t k = 0; k < got; k++) total += stored_size(batch[k]);
        } catch (const CorruptError&) {
          /* reported with the file, by the data phase */
        }
        o.cancel.check();
      }
    }
    for (auto& fe : img->tables.fragments) total += stored_size(fe.word);
    const bool with_record = o.data && record.status == RecordStatus::kValid;
    if (with_record) total += record.rec.data_end - record.rec.data_start;
    std::sort(files.begin(), files.end(), [](const Inode* a, const Inode* b) {
      return a->blocks_start < b->blocks_start || (a->blocks_start == b->blocks_start && a->ref < b->ref);
    });
    set_progress(o.progress, 3, total);
    set_progress(o.progress, 0, 2);
    unsigned threads = o.jobs ? o.jobs : std::max(1u, std::thread::hardware_concurrency());
    DataPhase dp(*img, o, r);
    dp.label = printable(path);
    dp.content_root = content_root.get();
    dp.content_prefix = path_prefix(o.dir);
    dp.fragment_sizes.assign(img->tables.fragments.size(), 0);
    if (with_record) {
      dp.rec = &record;
      std::vector<uint32_t> numbers;
      for (const Inode* n : files) numbers.push_back(n->number);
      std::sort(numbers.begin(), numbers.end());
      for (uint32_t i = 0; i < numbers.size(); i++) dp.tag_index.emplace(numbers[i], i);
      dp.pieces.resize(img->tables.fragments.size());
      // Every stored byte of the data section, against the record's digests.
      dp.parallel(record.rec.blocks.size(), threads, [&](DataPhase::Worker& w, size_t i) {
        dp.check_record_block(w, i);
        add_progress(o.progress, 2, stored_size(record.rec.blocks[i].word));
      });
    }
    dp.parallel(img->tables.fragments.size(), threads, [&](DataPhase::Worker& w, size_t i) {
      try {
        dp.check_fragment(w, i);
      } catch (const CorruptError& e) {
        dp.problem(e, "");
      }
    });
    dp.parallel(files.size(), threads, [&](DataPhase::Worker& w, size_t i) {
      const Inode& n = *files[i];
      auto cc = content.find(n.number);
      const ContentCheck* check = cc == content.end() ? nullptr : &cc->second;
      dp.check_file(w, n, img->path_of(node_of.at(n.number)), check);
    });
    if (with_record) {
      // Each fragment block's tails must tile it and give the record's pieces tag.
      for (size_t i = 0; i < dp.pieces.size(); i++) {
        if (dp.fragment_sizes[i] == 0) continue;  // corrupt: a problem already
        std::vector<FragmentPiece>& p = dp.pieces[i];
        const RecordFragment& want = record.rec.fragments[i];
        if (!normalise_pieces(p) || !pieces_tile(p, want.raw_len) || pieces_tag(p) != want.pieces_tag) {
          dp.add(problem_of(
              CorruptError("fragment block", img->tables.fragments[i].start,
                           "the tails in fragment block " + std::to_string(i) +
                               " do not match the integrity record (bytes of no file, or tails out of place)",
                           path),
              ""));
        } else {
          r.record_fragments++;
        }
      }
      r.record_blocks = dp.record_blocks;
      r.record_files = dp.record_files;
    }
    r.data_blocks = dp.blocks;
    r.sparse_blocks = dp.sparse;
    r.data_bytes_read = dp.read_bytes;
    r.fragment_tails = dp.tails;
    r.digest_files = dp.digest_files;
    r.digest_bytes = dp.digest_bytes;
  }
  if (o.expected) {
    // Every file the snapshot wrote must be in the image.
    std::vector<std::string> missing;
    for (auto& [number, want] : *o.expected) {
      auto it = img->inode.find(number);
      if (it == img->inode.end() || !it->second.is_file()) missing.push_back(want.path);
    }
    std::sort(missing.begin(), missing.end());
    for (const std::string& p : missing) {
      if (r.problems.size() >= kMaxProblems) {
        r.problems_truncated = true;
        break;
      }
      r.problems.push_back(
          {"EDIGEST", "inode table", NativeError::kNoOffset, p,
           "--verify: '" + printable(p) + "', written by this snapshot, is not a regular file in the image"});
    }
  }
  r.metadata_blocks = img->metadata_blocks_read();
  std::stable_sort(r.differences.begin(), r.differences.end(),
                   [](const TreeDifference& a, const TreeDifference& b) { return a.path < b.path; });
  r.ok = r.problems.empty();
  return r;
}

}  // namespace casper
