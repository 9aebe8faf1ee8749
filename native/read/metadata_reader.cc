#include "read/metadata_reader.h"

#include <cstring>

#include "format/metadata_block.h"
#include "util/bytes.h"

namespace casper {

namespace {
constexpr size_t kCacheBlocks = 256;  // 2 MiB of uncompressed metadata at most
}

MetadataReader::MetadataReader(const ImageFile& f, Compressor& comp, std::string table, uint64_t start, uint64_t end)
    : f_(f), comp_(comp), table_(std::move(table)), start_(start), end_(end) {
  if (end_ > f.limit()) end_ = f.limit();
}

std::shared_ptr<const MetaBlock> MetadataReader::block(uint64_t pos) {
  auto it = cache_.find(pos);
  if (it != cache_.end()) return it->second;
  if (pos < start_ || pos >= end_ || end_ - pos < 2)
    corrupt(pos, "metadata block outside the table (" + std::to_string(start_) + ".." + std::to_string(end_) + ")");
  uint8_t h[2];
  f_.read(pos, h, 2, table_.c_str());
  uint16_t hdr = uint16_t(h[0] | h[1] << 8);
  uint32_t len = hdr & kMetadataLengthMask;
  bool raw = (hdr & kMetadataUncompressed) != 0;
  if (len == 0) corrupt(pos, "metadata block of size 0");
  if (len > kMetadataSize) corrupt(pos, "metadata block size " + std::to_string(len) + " exceeds 8192");
  if (len > end_ - pos - 2)
    corrupt(pos, "metadata block of " + std::to_string(len) + " bytes runs past the end of the table");
  auto b = std::make_shared<MetaBlock>();
  b->next = pos + 2 + len;
  if (raw) {
    b->data.resize(len);
    f_.read(pos + 2, b->data.data(), len, table_.c_str());
  } else {
    raw_.resize(len);
    f_.read(pos + 2, raw_.data(), len, table_.c_str());
    b->data.resize(kMetadataSize);
    size_t n = 0;
    try {
      n = comp_.decompress(raw_.data(), len, b->data.data(), b->data.size());
    } catch (const NativeError& e) {
      if (e.code == "ENOMEM") throw;
      corrupt(pos, std::string("metadata block does not decompress (") + e.what() + ")");
    }
    b->data.resize(n);
  }
  blocks_read_++;
  if (cache_.size() >= kCacheBlocks) cache_.clear();
  cache_.emplace(pos, b);
  return b;
}

void MetadataReader::read(MetaCursor& c, void* out, size_t n) {
  uint8_t* o = static_cast<uint8_t*>(out);
  while (n > 0) {
    auto b = block(c.block);
    if (c.offset > b->data.size())
      corrupt(c.block, "offset " + std::to_string(c.offset) + " is past the end of a " +
                           std::to_string(b->data.size()) + "-byte metadata block");
    if (c.offset == b->data.size()) {
      // The record continues in the next block; blocks only move forward, so this ends at the table's end.
      if (b->next >= end_) corrupt(c.block, "a record runs past the end of the table");
      c.block = b->next;
      c.offset = 0;
      continue;
    }
    size_t k = std::min(n, b->data.size() - c.offset);
    std::memcpy(o, b->data.data() + c.offset, k);
    o += k;
    n -= k;
    c.offset += uint32_t(k);
  }
}

uint16_t MetadataReader::u16(MetaCursor& c) {
  uint8_t b[2];
  read(c, b, 2);
  return uint16_t(b[0] | b[1] << 8);
}
uint32_t MetadataReader::u32(MetaCursor& c) {
  uint8_t b[4];
  read(c, b, 4);
  return load_u32(b);
}
uint64_t MetadataReader::u64(MetaCursor& c) {
  uint8_t b[8];
  read(c, b, 8);
  return load_u64(b);
}
std::string MetadataReader::str(MetaCursor& c, size_t n) {
  std::string s(n, '\0');
  if (n) read(c, &s[0], n);
  return s;
}

}  // namespace casper
