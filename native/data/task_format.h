// A read task (which file ranges to read and compress) and its result (block size words, compressed bytes,
// raw tail ends for fragment packing). Tasks and results never leave native code: plain structs, moved from
// the thread that read to the writer.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "traverse/tree.h"

namespace casper {

struct SegmentSpec {
  uint32_t file = 0;           // entry index of the inode's primary name
  uint64_t offset = 0;         // first byte of the file to read (a multiple of the block size)
  uint64_t length = 0;         // bytes to read
  uint64_t file_size = 0;      // the whole file's size, as walked
  bool last = false;           // this segment ends the file
  bool tail_fragment = false;  // the final partial block goes to a fragment (returned raw)
  bool maybe_sparse = false;   // fewer disk blocks than size: look for holes with SEEK_DATA
  FileStamp stamp;             // the inode and times the walk saw: the data must come from that inode
  std::string rel;             // path beneath the task's root descriptor
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

// What one segment gave: its block size words, stored bytes and raw tail, owned (the writer may hold a
// result until its turn).
struct SegmentResult {
  uint32_t file = 0;
  uint64_t offset = 0;
  uint64_t length = 0;
  uint64_t file_size = 0;
  std::string rel;  // as in SegmentSpec, on a result that did not read (for the writer's message)
  bool last = false;
  // The file's size, mtime or ctime after the segment was read differ from the walk's: written or
  // truncated meanwhile (data read at the walked size; a shrunk file's missing bytes read as zeros).
  bool changed = false;
  SegmentStatus status = SegmentStatus::kRead;
  int32_t error = 0;
  uint64_t hash = 0;    // fingerprint of this segment's uncompressed content
  uint64_t digest = 0;  // this segment's part of the file's content digest (util/hash.h, for --verify)
  uint64_t sparse_bytes = 0;
  std::vector<uint32_t> block_words;  // size word per block: 0 = sparse, bit 24 = stored raw
  // Per stored (non-sparse) block, for the integrity record: XXH64 of its stored bytes, its content term.
  std::vector<uint64_t> stored_digests;
  std::vector<uint32_t> terms;
  uint32_t tail_term = 0;     // the tail's content term (when tail is not empty)
  std::vector<uint8_t> data;  // stored block bytes back to back
  std::vector<uint8_t> tail;  // the raw final partial block, for a fragment block
};

// A read task's result: the task's place in the plan and its segments' results, in order.
struct TaskResult {
  uint32_t seq = 0;
  bool starts_file = false;  // as in TaskSpec
  std::vector<SegmentResult> segments;
};

}  // namespace casper
