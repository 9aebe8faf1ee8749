// The binary messages that travel between the main thread and pool workers as transferable ArrayBuffers:
// a read task (which file ranges to read and compress) and its result (block size words, compressed bytes,
// raw tail ends for fragment packing). One encoding, used by both sides.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace casper {

struct SegmentSpec {
  uint32_t file = 0;        // entry index of the inode's primary name
  uint64_t offset = 0;      // first byte of the file to read (a multiple of the block size)
  uint64_t length = 0;      // bytes to read
  uint64_t file_size = 0;   // the file's size when walked
  bool last = false;        // this segment ends the file
  bool tail_fragment = false;  // the final partial block goes to a fragment (returned raw)
  bool maybe_sparse = false;   // fewer disk blocks than size: look for holes with SEEK_DATA
  std::string path;
};

struct TaskSpec {
  uint32_t block_size = 0;
  std::vector<SegmentSpec> segments;
};

std::vector<uint8_t> encode_task(const TaskSpec& t);
TaskSpec decode_task(const uint8_t* p, size_t n);

// Result header per segment; followed by the stored bytes of each non-sparse block, then the raw tail.
struct SegmentResult {
  uint32_t file = 0;
  uint64_t offset = 0;
  uint64_t length = 0;
  bool last = false;
  bool changed = false;  // the file's size differed from the walk's: data read at the walked size
  int failed_errno = 0;  // the file could not be opened at its first segment (vanished, unreadable): no data
  uint64_t hash = 0;     // fingerprint of this segment's uncompressed content
  uint64_t sparse_bytes = 0;
  std::vector<uint32_t> block_words;  // size word per block: 0 = sparse, bit 24 = stored raw
  uint32_t tail_len = 0;
  const uint8_t* data = nullptr;  // stored block bytes back to back
  uint64_t data_len = 0;
  const uint8_t* tail = nullptr;
};

constexpr uint32_t kSegLast = 1, kSegTailFragment = 2, kSegMaybeSparse = 4, kSegChanged = 8, kSegFailed = 16;

}  // namespace casper
