// The integrity record: written by casper-snapshot right after an image's bytes_used, inside the 4 KiB
// padding or past it, where the kernel, unsquashfs and squashfs-tools-ng never look. It lets `verify` check
// every stored byte of the data section and every file's content, and lets --base trust a block it copies
// without decompressing it. Layout (all little-endian), version 1:
//
//   header, 72 bytes:
//     0  magic "casperIR"            8  u16 version (1)       10 u16 header size (72)   12 u32 flags (0)
//     16 u64 record size (header to trailer)                    24 u64 bytes_used of the image it belongs to
//     32 u64 data start (first data byte)                       40 u64 data end (= inode_table_start)
//     48 u64 tables digest                                      56 u32 blocks   60 u32 fragments
//     64 u32 files                                              68 u32 reserved (0)
//   blocks × 16: every stored data and fragment block in image order, back to back from data start to data
//     end: u32 size word (as in the tables), u32 content term, u64 XXH64 of the stored bytes. The content term
//     of a data block is the low half of its term in the file's content digest (util/hash.h digest_term of
//     the uncompressed block, at its index in the file); 0 for a fragment block.
//   fragments × 8, by fragment index: u32 uncompressed length, u32 pieces tag.
//   files × 4, regular-file inodes by inode number: u32 content tag, the low half of the file's content
//     digest (util/hash.h, the one --verify compares).
//   trailer: u64 XXH64 of everything before it.
//
// A fragment block's pieces are the distinct tails in it, in offset order; they tile it exactly (no byte
// belongs to no file). Its pieces tag is the low half of XXH64 over the u32 triples (offset, length, tail
// term), the tail term being the low half of digest_term(tail, index of the file's last block). A file's
// tag minus its data blocks' terms (mod 2^32) is its tail's term, so every tail, data block and file can be
// checked against the tables without decompressing anything.
//
// The tables digest chains XXH64 over [0, data start) (superblock, compressor options) and then over each
// 1 MiB of [data end, bytes_used) (inode, directory, fragment, export, id and xattr tables), each step
// seeded with the digest so far.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "util/hash.h"

namespace casper {

constexpr uint16_t kRecordVersion = 1;
constexpr uint32_t kRecordHeaderSize = 72;
constexpr uint64_t kTablesDigestChunk = uint64_t(1) << 20;

struct RecordBlock {
  uint32_t word = 0;    // size word, bit 24 = stored raw
  uint32_t term = 0;    // data block: low half of its content term; fragment block: 0
  uint64_t digest = 0;  // XXH64 of its stored bytes
};

struct RecordFragment {
  uint32_t raw_len = 0;
  uint32_t pieces_tag = 0;
};

struct IntegrityRecord {
  uint64_t bytes_used = 0, data_start = 0, data_end = 0, tables_digest = 0;
  std::vector<RecordBlock> blocks;
  std::vector<RecordFragment> fragments;
  std::vector<uint32_t> file_tags;
};

// One tail in a fragment block.
struct FragmentPiece {
  uint32_t offset = 0, length = 0, term = 0;
  bool operator<(const FragmentPiece& o) const {
    return offset < o.offset || (offset == o.offset && length < o.length);
  }
  bool operator==(const FragmentPiece& o) const { return offset == o.offset && length == o.length && term == o.term; }
};

// The low half of a block's or a tail's term in a file's content digest.
inline uint32_t content_term(uint64_t content_hash, uint64_t index) {
  return uint32_t(digest_term(content_hash, index));
}

// The pieces tag of a fragment block: pieces sorted by offset, duplicates (shared tails) removed.
uint32_t pieces_tag(const std::vector<FragmentPiece>& pieces);
// Whether sorted, distinct pieces tile [0, raw_len) exactly.
bool pieces_tile(const std::vector<FragmentPiece>& pieces, uint32_t raw_len);
// Sorts pieces and removes exact duplicates; false when two different pieces start at the same offset.
bool normalise_pieces(std::vector<FragmentPiece>& pieces);

// Chains the tables digest over one more range of bytes (start with seed 0 and the head).
uint64_t tables_digest_step(uint64_t so_far, const uint8_t* p, size_t n);

std::vector<uint8_t> encode_integrity_record(const IntegrityRecord& r);

// What the bytes at bytes_used hold.
enum class RecordStatus { kAbsent, kValid, kBroken };
// Reads the header at p (n bytes available, at least the header): the record's total size, or 0 when the
// bytes are not a record header (no magic). Sets why for a header that is a record's but cannot be read.
uint64_t integrity_record_size(const uint8_t* p, size_t n, std::string& why);
// Parses a whole record of n bytes (integrity_record_size's result); kBroken with why when it does not
// check out (its own digest, its sizes).
RecordStatus decode_integrity_record(const uint8_t* p, size_t n, IntegrityRecord& out, std::string& why);

}  // namespace casper
