#include "read/record_reader.h"

#include <algorithm>

#include "format/block_word.h"
#include "util/fd.h"

namespace casper {

size_t ImageRecord::block_at(uint64_t pos) const {
  auto it = std::lower_bound(block_pos.begin(), block_pos.end(), pos);
  return it != block_pos.end() && *it == pos ? size_t(it - block_pos.begin()) : npos;
}

ImageRecord read_image_record(const ImageFile& f, const ReadSuperblock& sb) {
  ImageRecord r;
  const uint64_t at = sb.bytes_used, size = f.size();
  if (size <= at || size - at < kRecordHeaderSize) return r;  // too short to hold one: none
  uint8_t head[kRecordHeaderSize];
  if (pread_full(f.fd(), head, sizeof head, at, f.path()) != sizeof head) return r;
  uint64_t len = integrity_record_size(head, sizeof head, r.why);
  if (len == 0) {
    r.status = r.why.empty() ? RecordStatus::kAbsent : RecordStatus::kBroken;
    return r;
  }
  auto broken = [&](const std::string& why) {
    r.status = RecordStatus::kBroken;
    r.why = why;
    return r;
  };
  if (len > size - at) return broken("it runs past the end of the file");
  std::vector<uint8_t> bytes(static_cast<size_t>(len));
  if (pread_full(f.fd(), bytes.data(), bytes.size(), at, f.path()) != bytes.size())
    return broken("it runs past the end of the file");
  r.status = decode_integrity_record(bytes.data(), bytes.size(), r.rec, r.why);
  if (r.status != RecordStatus::kValid) return r;
  const IntegrityRecord& rec = r.rec;
  if (rec.bytes_used != sb.bytes_used || rec.data_start != sb.data_start || rec.data_end != sb.inode_table)
    return broken("it was written for another image (bytes_used " + std::to_string(rec.bytes_used) + ", data " +
                  std::to_string(rec.data_start) + ".." + std::to_string(rec.data_end) + ")");
  // Its blocks cover the data section, back to back.
  r.block_pos.reserve(rec.blocks.size());
  uint64_t pos = rec.data_start;
  for (const RecordBlock& b : rec.blocks) {
    const uint32_t n = stored_size(b.word);
    if (n == 0 || (b.word & ~0x01FFFFFFu) || n > sb.block_size || n > rec.data_end - pos)
      return broken("its blocks do not cover the data section");
    r.block_pos.push_back(pos);
    pos += n;
  }
  if (pos != rec.data_end) return broken("its blocks do not cover the data section");
  // The tables as written: superblock and options, then every table up to bytes_used.
  std::vector<uint8_t> buf(static_cast<size_t>(rec.data_start));
  if (pread_full(f.fd(), buf.data(), buf.size(), 0, f.path()) != buf.size())
    return broken("the image is shorter than its superblock says");
  uint64_t digest = tables_digest_step(0, buf.data(), buf.size());
  buf.resize(size_t(kTablesDigestChunk));
  for (uint64_t off = rec.data_end; off < rec.bytes_used; off += kTablesDigestChunk) {
    size_t n = size_t(std::min<uint64_t>(kTablesDigestChunk, rec.bytes_used - off));
    if (pread_full(f.fd(), buf.data(), n, off, f.path()) != n)
      return broken("the image is shorter than its superblock says");
    digest = tables_digest_step(digest, buf.data(), n);
  }
  if (digest != rec.tables_digest) return broken("the superblock or a table is not as it was written (tables digest)");
  return r;
}

}  // namespace casper
