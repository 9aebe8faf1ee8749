#include "format/integrity_record.h"

#include <algorithm>
#include <cstring>

#include "util/bytes.h"
#include "util/xxhash64.h"

namespace casper {

namespace {
constexpr char kMagic[8] = {'c', 'a', 's', 'p', 'e', 'r', 'I', 'R'};
constexpr uint64_t kBlockEntry = 16, kFragmentEntry = 8, kFileEntry = 4, kTrailer = 8;
}  // namespace

uint32_t pieces_tag(const std::vector<FragmentPiece>& pieces) {
  std::vector<uint8_t> buf(pieces.size() * 12);
  for (size_t i = 0; i < pieces.size(); i++) {
    store_u32(buf.data() + 12 * i, pieces[i].offset);
    store_u32(buf.data() + 12 * i + 4, pieces[i].length);
    store_u32(buf.data() + 12 * i + 8, pieces[i].term);
  }
  return uint32_t(xxh64(buf.data(), buf.size()));
}

bool pieces_tile(const std::vector<FragmentPiece>& pieces, uint32_t raw_len) {
  uint64_t at = 0;
  for (const FragmentPiece& p : pieces) {
    if (p.offset != at || p.length == 0) return false;
    at += p.length;
  }
  return at == raw_len;
}

bool normalise_pieces(std::vector<FragmentPiece>& pieces) {
  std::sort(pieces.begin(), pieces.end());
  pieces.erase(std::unique(pieces.begin(), pieces.end()), pieces.end());
  for (size_t i = 1; i < pieces.size(); i++)
    if (pieces[i].offset == pieces[i - 1].offset) return false;
  return true;
}

uint64_t tables_digest_step(uint64_t so_far, const uint8_t* p, size_t n) { return xxh64(p, n, so_far); }

std::vector<uint8_t> encode_integrity_record(const IntegrityRecord& r) {
  ByteWriter w;
  const uint64_t size = kRecordHeaderSize + kBlockEntry * r.blocks.size() + kFragmentEntry * r.fragments.size() +
                        kFileEntry * r.file_tags.size() + kTrailer;
  w.buf.reserve(size_t(size));
  w.bytes(kMagic, sizeof kMagic);
  w.u16(kRecordVersion);
  w.u16(uint16_t(kRecordHeaderSize));
  w.u32(0);
  w.u64(size);
  w.u64(r.bytes_used);
  w.u64(r.data_start);
  w.u64(r.data_end);
  w.u64(r.tables_digest);
  w.u32(uint32_t(r.blocks.size()));
  w.u32(uint32_t(r.fragments.size()));
  w.u32(uint32_t(r.file_tags.size()));
  w.u32(0);
  for (const RecordBlock& b : r.blocks) {
    w.u32(b.word);
    w.u32(b.term);
    w.u64(b.digest);
  }
  for (const RecordFragment& f : r.fragments) {
    w.u32(f.raw_len);
    w.u32(f.pieces_tag);
  }
  for (uint32_t t : r.file_tags) w.u32(t);
  w.u64(xxh64(w.buf.data(), w.buf.size()));
  return std::move(w.buf);
}

uint64_t integrity_record_size(const uint8_t* p, size_t n, std::string& why) {
  if (n < kRecordHeaderSize || std::memcmp(p, kMagic, sizeof kMagic) != 0) return 0;
  uint16_t version = uint16_t(p[8] | p[9] << 8);
  uint16_t header = uint16_t(p[10] | p[11] << 8);
  if (version != kRecordVersion || header != kRecordHeaderSize) {
    why = "version " + std::to_string(version) + " (this build reads version " + std::to_string(kRecordVersion) + ")";
    return 0;
  }
  const uint64_t size = load_u64(p + 16);
  const uint64_t want = kRecordHeaderSize + kBlockEntry * load_u32(p + 56) + kFragmentEntry * load_u32(p + 60) +
                        kFileEntry * load_u32(p + 64) + kTrailer;
  if (size != want) {
    why = "its size " + std::to_string(size) + " does not match its counts (" + std::to_string(want) + ")";
    return 0;
  }
  return size;
}

RecordStatus decode_integrity_record(const uint8_t* p, size_t n, IntegrityRecord& out, std::string& why) {
  uint64_t size = integrity_record_size(p, n, why);
  if (size == 0) return why.empty() ? RecordStatus::kAbsent : RecordStatus::kBroken;
  if (size != n) {
    why = "it is " + std::to_string(size) + " bytes, " + std::to_string(n) + " were read";
    return RecordStatus::kBroken;
  }
  if (xxh64(p, size_t(n - kTrailer)) != load_u64(p + n - kTrailer)) {
    why = "its own digest does not match (the record is damaged)";
    return RecordStatus::kBroken;
  }
  out = IntegrityRecord();
  out.bytes_used = load_u64(p + 24);
  out.data_start = load_u64(p + 32);
  out.data_end = load_u64(p + 40);
  out.tables_digest = load_u64(p + 48);
  out.blocks.resize(load_u32(p + 56));
  out.fragments.resize(load_u32(p + 60));
  out.file_tags.resize(load_u32(p + 64));
  const uint8_t* q = p + kRecordHeaderSize;
  for (RecordBlock& b : out.blocks) {
    b.word = load_u32(q);
    b.term = load_u32(q + 4);
    b.digest = load_u64(q + 8);
    q += kBlockEntry;
  }
  for (RecordFragment& f : out.fragments) {
    f.raw_len = load_u32(q);
    f.pieces_tag = load_u32(q + 4);
    q += kFragmentEntry;
  }
  for (uint32_t& t : out.file_tags) {
    t = load_u32(q);
    q += kFileEntry;
  }
  return RecordStatus::kValid;
}

}  // namespace casper
