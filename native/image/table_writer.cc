#include "image/table_writer.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>

#include "format/block_word.h"
#include "format/constants.h"
#include "format/directory_writer.h"
#include "format/id_table.h"
#include "format/inode_writer.h"
#include "format/integrity_record.h"
#include "format/lookup_entries.h"
#include "format/lookup_table.h"
#include "format/metadata_block.h"
#include "format/metadata_stream.h"
#include "format/superblock.h"
#include "format/xattr_table.h"
#include "util/bytes.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/fd.h"

namespace casper {

namespace {

std::vector<uint8_t> options_metadata_block(const Compressor& comp) {
  std::vector<uint8_t> payload = comp.options_block();
  if (payload.empty()) return {};
  std::vector<uint8_t> out(2);
  store_u16(out.data(), metadata_header(payload.size(), true));  // always stored raw
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

class TableBuilder {
 public:
  TableBuilder(const ImageOptions& o, const Tree& t, const DataWriter& d, const CancelFlag& cancel)
      : opts_(o), tree_(t), data_(d), cancel_(cancel), comp_(make_compressor(o.compressor)) {
    number_.assign(t.entries.size(), 0);
    ref_.assign(t.entries.size(), 0);
    type_.assign(t.entries.size(), 0);
  }

  // Long: the tables in the fixed on-disk order the kernel requires, one short step each. The inode,
  // directory, fragment and id streams are laid out first, then compressed together on `threads` threads
  // (format/metadata_stream.h); the export table, which holds inode references, after them.
  ImageSummary run(int fd, unsigned threads) {
    const uint64_t cpu0 = thread_cpu_ns();
    count_links();
    assign_numbers();
    // Inodes in number order, as before (the bytes must not move): an inode block waits for the directory
    // blocks before its directories' listings, a directory block for the inode blocks before its entries'.
    for (size_t k = 0; k < order_.size(); k++) {
      if (k % 4096 == 0) cancel_.check();
      write_inode(order_[k]);
    }
    ByteWriter frag_entries;
    for (const FragmentEntry& f : data_.fragments()) put_fragment_entry(frag_entries, f.start, f.word);
    MetadataStream frags, ids;
    frags.write(frag_entries.buf);
    if (ids_.size() == 0) ids_.index_of(0);  // the kernel needs at least one id
    ids.write(ids_.entries());
    // No more threads than blocks: a small image starts none.
    const uint64_t blocks = uint64_t(inodes_.blocks()) + dirs_.blocks() + frags.blocks() + ids.blocks();
    ThreadTeam team(unsigned(std::max<uint64_t>(1, std::min<uint64_t>(threads, blocks / 2))));
    const auto make = [this]() { return make_compressor(opts_.compressor); };
    const auto check = [this]() { cancel_.check(); };
    StreamStats st = compress_streams({&inodes_, &dirs_, &frags, &ids}, team, make, check);
    MetadataStream exports;
    if (opts_.exports) {
      ByteWriter exp;
      std::vector<uint64_t> by_number(order_.size());
      for (uint32_t i : order_) by_number[number_[i] - 1] = inodes_.resolve(ref_[i]);
      for (uint64_t r : by_number) exp.u64(r);
      exports.write(exp.buf);
      st += compress_streams({&exports}, team, make, check);
    }

    uint64_t pos = data_.data_end();
    Superblock sb;
    sb.inode_count = uint32_t(order_.size());
    sb.mkfs_time = opts_.mkfs_time;
    sb.block_size = opts_.block_size;
    sb.compressor = compressor_id(opts_.compressor.name);
    sb.root_inode = inodes_.resolve(ref_[0]);
    std::vector<uint8_t> out;
    auto append = [&](const std::vector<uint8_t>& b) {
      out.insert(out.end(), b.begin(), b.end());
      pos += b.size();
    };
    sb.inode_table = pos;
    append(inodes_.bytes());
    sb.directory_table = pos;
    append(dirs_.bytes());

    sb.fragment_count = uint32_t(data_.fragments().size());
    EncodedTable ft = encode_lookup_table(frags, pos);
    sb.fragment_table = pos + ft.index_offset;
    append(ft.bytes);

    sb.export_table = kNoTable;
    if (opts_.exports) {
      EncodedTable et = encode_lookup_table(exports, pos);
      sb.export_table = pos + et.index_offset;
      append(et.bytes);
    }

    sb.id_count = uint16_t(ids_.size());
    EncodedTable it = encode_lookup_table(ids, pos);
    sb.id_table = pos + it.index_offset;
    append(it.bytes);

    sb.xattr_id_table = kNoTable;
    if (!tree_.xattr_sets.empty()) {
      append(encode_xattr_table(*comp_, tree_.xattr_sets, pos, &sb.xattr_id_table));
    }
    sb.bytes_used = pos;
    sb.flags = kFlagDuplicates * opts_.dedup | kFlagExportable * opts_.exports |
               kFlagNoFragments * (opts_.fragments == FragmentMode::kNone) |
               kFlagAlwaysFragments * (opts_.fragments == FragmentMode::kAlways) |
               kFlagNoXattrs * tree_.xattr_sets.empty();
    std::vector<uint8_t> optblock = options_metadata_block(*comp_);
    if (!optblock.empty()) sb.flags |= kFlagCompressorOptions;
    std::vector<uint8_t> head = encode_superblock(sb);
    head.insert(head.end(), optblock.begin(), optblock.end());

    // The integrity record goes right after bytes_used, where no SquashFS reader looks.
    std::vector<uint8_t> record = encode_integrity_record(integrity_record(sb, head, out));
    out.insert(out.end(), record.begin(), record.end());
    uint64_t end = pos + record.size();
    uint64_t padded = (end + 4095) / 4096 * 4096;
    out.resize(out.size() + (padded - end), 0);
    pwrite_full(fd, out.data(), out.size(), data_.data_end(), opts_.output_path);
    if (::ftruncate(fd, off_t(padded)) != 0) throw sys_error(errno, "ftruncate", opts_.output_path);
    pwrite_full(fd, head.data(), head.size(), 0, opts_.output_path);

    summary_.bytes_used = sb.bytes_used;
    summary_.image_size = padded;
    summary_.inodes = sb.inode_count;
    summary_.ids = sb.id_count;
    summary_.fragments = sb.fragment_count;
    summary_.xattr_ids = uint32_t(tree_.xattr_sets.size());
    summary_.inode_table_bytes = inodes_.bytes().size();
    summary_.directory_table_bytes = dirs_.bytes().size();
    summary_.record_bytes = record.size();
    summary_.metadata_blocks = st.blocks;
    summary_.metadata_waves = st.waves;
    summary_.compress_cpu_ns = st.cpu_ns;
    // What only this thread did (laying out, assembling, writing) plus each wave's longest compression.
    summary_.serial_cpu_ns = thread_cpu_ns() - cpu0 - st.caller_cpu_ns + st.critical_ns;
    summary_.parallel_cpu_ns = st.cpu_ns - st.critical_ns;
    return summary_;
  }

  // The record of what the data writer placed (format/integrity_record.h): tables = [inode table, bytes_used).
  IntegrityRecord integrity_record(const Superblock& sb, const std::vector<uint8_t>& head,
                                   const std::vector<uint8_t>& tables) const {
    IntegrityRecord r;
    r.bytes_used = sb.bytes_used;
    r.data_start = head.size();
    r.data_end = sb.inode_table;
    r.tables_digest = tables_digest_step(0, head.data(), head.size());
    for (uint64_t off = 0; off < tables.size(); off += kTablesDigestChunk)
      r.tables_digest = tables_digest_step(r.tables_digest, tables.data() + off,
                                           size_t(std::min<uint64_t>(kTablesDigestChunk, tables.size() - off)));
    uint64_t at = r.data_start;
    r.blocks.reserve(data_.blocks().size());
    for (const PlacedBlock& b : data_.blocks()) {
      if (b.pos != at)
        throw NativeError("EINTERNAL", "internal: the data section has a gap or overlap at byte " + std::to_string(at));
      r.blocks.push_back(b.rec);
      at += stored_size(b.rec.word);
    }
    if (at != r.data_end)
      throw NativeError("EINTERNAL", "internal: the data blocks end at byte " + std::to_string(at) +
                                         ", the data section at " + std::to_string(r.data_end));
    r.fragments = data_.fragment_records();
    if (r.fragments.size() != data_.fragments().size())
      throw NativeError("EINTERNAL", "internal: fragment records do not match the fragment table");
    for (uint32_t i : order_)
      if (S_ISREG(tree_.entries[i].mode)) r.file_tags.push_back(data_.tags()[i]);
    return r;
  }

  // Entry index -> inode number (0: not in the image); hard links get their primary's number.
  // (References in ref_ are symbolic: resolve them with inodes_.resolve().)
  std::vector<uint32_t> numbers() const {
    std::vector<uint32_t> out(tree_.entries.size(), 0);
    for (uint32_t i = 0; i < tree_.entries.size(); i++)
      if (!gone(i)) out[i] = number_[primary(i)];
    return out;
  }

 private:
  uint32_t primary(uint32_t i) const {
    uint32_t p = tree_.entries[i].link_primary;
    return p == kNone ? i : p;
  }
  // Left out: vanished or unreadable (its inode, so every name of it).
  bool gone(uint32_t i) const { return tree_.entries[i].skipped || tree_.entries[primary(i)].skipped; }

  // Link counts of what is really in the image: names of each inode, and 2 + subdirectories for a directory
  // (entries left out after the walk — vanished, excluded by a pattern, unchanged in diff mode — do not count).
  void count_links() {
    nlink_.assign(tree_.entries.size(), 0);
    for (uint32_t i = 0; i < tree_.entries.size(); i++) {
      const Entry& e = tree_.entries[i];
      if (S_ISDIR(e.mode)) nlink_[i] += 2;
      if (i == 0 || gone(i)) continue;
      if (S_ISDIR(e.mode))
        nlink_[e.parent]++;
      else
        nlink_[primary(i)]++;
    }
  }

  // Post-order, root last: a directory's children (and so their inodes) come before its listing. An explicit
  // stack of (directory, next child to consider), so a deep tree needs no deep thread stack.
  void assign_numbers() {
    std::vector<std::pair<uint32_t, uint32_t>> stack{{0, 0}};
    while (!stack.empty()) {
      uint32_t dir = stack.back().first;
      const Entry& d = tree_.entries[dir];
      if (stack.back().second < d.child_count) {
        uint32_t c = d.first_child + stack.back().second++;
        if (S_ISDIR(tree_.entries[c].mode) && !gone(c)) stack.push_back({c, 0});
        continue;
      }
      stack.pop_back();
      for (uint32_t k = 0; k < d.child_count; k++) {
        if (gone(d.first_child + k)) continue;
        uint32_t c = primary(d.first_child + k);
        if (!S_ISDIR(tree_.entries[c].mode) && number_[c] == 0) take_number(c);
      }
      take_number(dir);
    }
  }
  void take_number(uint32_t i) {
    order_.push_back(i);
    number_[i] = uint32_t(order_.size());
  }

  InodeCommon common(uint32_t i) {
    const Entry& e = tree_.entries[i];
    InodeCommon c;
    c.mode_bits = uint16_t(e.mode & 07777);
    c.uid_idx = ids_.index_of(stored_uid(opts_, e.uid));
    c.gid_idx = ids_.index_of(stored_gid(opts_, e.gid));
    c.mtime = stored_mtime(opts_, e.mtime);
    c.number = number_[i];
    c.nlink = nlink_[i];
    c.xattr = e.xattr_set == kNone ? kNoXattr : e.xattr_set;
    return c;
  }

  void write_inode(uint32_t i) {
    const Entry& e = tree_.entries[i];
    ByteWriter w;
    DirListing listing;
    if (S_ISDIR(e.mode)) {
      std::vector<DirEntryRef> refs;
      refs.reserve(e.child_count);
      uint64_t entry_bytes = 0;
      for (uint32_t k = 0; k < e.child_count; k++) {
        uint32_t c = e.first_child + k;
        if (gone(c)) continue;
        const Entry& ce = tree_.entries[c];
        uint32_t p = primary(c);
        refs.push_back({tree_.arena.data() + ce.name_off, ce.name_len, ref_[p], number_[p], type_[p]});
        entry_bytes += 8 + ce.name_len;
      }
      bool large = is_large_directory(refs.size(), entry_bytes);
      listing = write_directory(dirs_, inodes_, refs, large);
      uint32_t parent = i == 0 ? 0 : number_[e.parent];
      InodeCommon c = common(i);
      ref_[i] = inodes_.ref();
      std::vector<StartField> fields;
      type_[i] = encode_dir(w, c, DirInode{&listing, parent, large}, fields);
      summary_.dirs++;
      inodes_.write(w.buf, fields, &dirs_);
      return;
    } else {
      InodeCommon c = common(i);
      ref_[i] = inodes_.ref();
      if (S_ISREG(e.mode)) {
        const FileData& f = data_.files()[i];
        uint64_t sparse = e.disk_bytes < e.size ? f.sparse : 0;
        FileInode fi{f.blocks_start, e.size, sparse, f.fragment, f.fragment_offset, data_.words().data() + f.first_word,
                     f.nblocks};
        type_[i] = encode_file(w, c, fi);
        summary_.files++;
      } else if (S_ISLNK(e.mode)) {
        type_[i] = encode_symlink(w, c, tree_.target(e));
        summary_.symlinks++;
      } else if (S_ISCHR(e.mode) || S_ISBLK(e.mode)) {
        type_[i] = encode_device(w, c, S_ISBLK(e.mode), major(dev_t(e.rdev)), minor(dev_t(e.rdev)));
        summary_.devices++;
      } else if (S_ISFIFO(e.mode) || S_ISSOCK(e.mode)) {
        type_[i] = encode_ipc(w, c, S_ISSOCK(e.mode));
        S_ISSOCK(e.mode) ? summary_.sockets++ : summary_.fifos++;
      } else {
        throw NativeError("EINVAL", "unsupported file type at '" + printable(tree_.path(i)) + "'", "", tree_.path(i));
      }
      if (nlink_[i] > 1) summary_.hardlinks += nlink_[i] - 1;
    }
    inodes_.write(w.buf);
  }

  const ImageOptions& opts_;
  const Tree& tree_;
  const DataWriter& data_;
  const CancelFlag& cancel_;
  std::unique_ptr<Compressor> comp_;
  MetadataStream inodes_, dirs_;  // refs to them are symbolic until compress_streams() (format/metadata_stream.h)
  IdTable ids_;
  std::vector<uint32_t> order_, number_, nlink_;
  std::vector<uint64_t> ref_;
  std::vector<uint16_t> type_;
  ImageSummary summary_;
};

}  // namespace

uint64_t data_section_start(const ImageOptions& opts) {
  return kSuperblockSize + options_metadata_block(*make_compressor(opts.compressor)).size();
}

ImageSummary write_tables(const ImageOptions& opts, const Tree& tree, const DataWriter& data, int fd,
                          const CancelFlag& cancel, std::vector<uint32_t>* numbers, unsigned threads) {
  TableBuilder b(opts, tree, data, cancel);
  ImageSummary s = b.run(fd, threads);
  if (numbers) *numbers = b.numbers();
  return s;
}

}  // namespace casper
