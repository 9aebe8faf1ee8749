// A read task (which file ranges to read and compress), and its result as one buffer (block size words,
// compressed bytes, raw tail ends for fragment packing), which the writer may hold until its turn. The
// result's encoding is written and parsed only here.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "traverse/tree.h"

namespace casper {

struct SegmentSpec {
  uint32_t file = 0;        // entry index of the inode's primary name
  uint64_t offset = 0;      // first byte of the file to read (a multiple of the block size)
  uint64_t length = 0;      // bytes to read
  bool last = false;        // this segment ends the file
  bool tail_fragment = false;  // the final partial block goes to a fragment (returned raw)
  bool maybe_sparse = false;   // fewer disk blocks than size: look for holes with SEEK_DATA
  FileStamp stamp;          // the inode and times the walk saw: the data must come from that inode
  std::string rel;          // path beneath the task's root descriptor
};

struct TaskSpec {
  uint32_t seq = 0;          // the task's place in the plan: results are written in this order
  bool starts_file = false;  // its first segment begins a file (pending fragment blocks may go before it)
  uint32_t block_size = 0;
  // The directory the files are opened beneath (the image builder keeps it open until the job ends).
  int32_t root_fd = -1;
  std::vector<SegmentSpec> segments;
};

// What became of one segment.
enum class SegmentStatus : uint32_t {
  kRead = 0,      // read from the walked inode
  kFailed = 1,    // could not be opened or read: errno in SegmentResult::error (ENOENT: vanished)
  kReplaced = 2,  // the name now leads to another inode, a symlink or a non-regular file: nothing read
};

// Result header per segment; followed by the stored bytes of each non-sparse block, then the raw tail.
struct SegmentResult {
  uint32_t file = 0;
  uint64_t offset = 0;
  uint64_t length = 0;
  bool last = false;
  // The file's size, mtime or ctime after the segment was read differ from the walk's: written or
  // truncated meanwhile (data read at the walked size; a shrunk file's missing bytes read as zeros).
  bool changed = false;
  SegmentStatus status = SegmentStatus::kRead;
  int32_t error = 0;
  uint64_t hash = 0;     // fingerprint of this segment's uncompressed content
  uint64_t digest = 0;   // this segment's part of the file's content digest (util/hash.h, for --verify)
  uint64_t sparse_bytes = 0;
  std::vector<uint32_t> block_words;  // size word per block: 0 = sparse, bit 24 = stored raw
  // Per stored (non-sparse) block, for the integrity record: XXH64 of its stored bytes, its content term.
  std::vector<uint64_t> stored_digests;
  std::vector<uint32_t> terms;
  uint32_t tail_term = 0;  // the tail's content term (when tail_len > 0)
  uint32_t tail_len = 0;
  const uint8_t* data = nullptr;  // stored block bytes back to back
  uint64_t data_len = 0;
  const uint8_t* tail = nullptr;
};

// A result buffer starts with the task's seq and starts_file, then a u32 segment count.
struct ResultHeader {
  uint32_t seq = 0;
  bool starts_file = false;
};
ResultHeader parse_result_header(const uint8_t* buf, size_t n);

class ByteWriter;
// Starts a result buffer for `task` with `segments` segments to follow.
void encode_result_header(ByteWriter& w, const TaskSpec& task);
// Appends one segment's result: the header fields of r, then data_len bytes of data and tail_len of tail.
void encode_segment_result(ByteWriter& w, const SegmentResult& r, const uint8_t* data, const uint8_t* tail);
// Parses a result buffer (header, u32 count, then that many segments); pointers in the records point into buf.
std::vector<SegmentResult> parse_result(const uint8_t* buf, size_t n);

}  // namespace casper
