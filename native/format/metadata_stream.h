// A SquashFS metadata stream laid out before it is compressed, so that its blocks can be compressed on several
// threads. Records are appended uncompressed; each 8 KiB is one metadata block (stored with a u16 header, bit
// 15 = raw). A reference to a record is (block start << 16) | offset, the block start being the compressed
// position of its block within the stream: not known until every block before it is compressed. So references
// are kept symbolic here — (block index << 16) | offset — and a record field that must hold a block's
// compressed start is a patch, filled in just before the block holding it is compressed.
//
// compress_streams() compresses the blocks of several streams that refer to each other (the inode and
// directory tables) in waves: a wave is every block whose patches can all be filled from the blocks already
// compressed. The bytes depend on the records alone, not on the number of threads or the waves.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "compress/compressor.h"
#include "format/metadata_block.h"
#include "util/thread_team.h"

namespace casper {

// A u32 field of a record (at byte `at` of it) that must hold the compressed start of block `block` of another
// stream.
struct StartField {
  size_t at;
  uint32_t block;
};

class MetadataStream {
 public:
  MetadataStream() { raw_.reserve(kMetadataSize); }
  // Where the next record lands (block index, offset in it, position in the uncompressed stream).
  uint32_t block() const { return uint32_t(raw_.size() / kMetadataSize); }
  uint16_t offset() const { return uint16_t(raw_.size() % kMetadataSize); }
  uint64_t upos() const { return raw_.size(); }
  // The symbolic reference of the next record: (block index << 16) | offset.
  uint64_t ref() const { return (uint64_t(block()) << 16) | offset(); }
  void write(const void* p, size_t n);
  void write(const std::vector<uint8_t>& v) { write(v.data(), v.size()); }
  // A record whose `fields` hold compressed starts of blocks of `target`.
  void write(const std::vector<uint8_t>& rec, const std::vector<StartField>& fields, const MetadataStream* target);
  uint32_t blocks() const { return uint32_t((raw_.size() + kMetadataSize - 1) / kMetadataSize); }
  uint64_t raw_size() const { return raw_.size(); }

  // After compress_streams(): the stored blocks back to back, where each starts, and references resolved.
  const std::vector<uint8_t>& bytes() const { return out_; }
  const std::vector<uint32_t>& block_starts() const { return starts_; }
  // Compressed start of block `b` within the stream (b == blocks(): the stream's end).
  uint32_t start_of(uint32_t b) const { return b < starts_.size() ? starts_[b] : uint32_t(out_.size()); }
  uint64_t resolve(uint64_t ref) const { return (uint64_t(start_of(uint32_t(ref >> 16))) << 16) | (ref & 0xFFFF); }

 private:
  friend class StreamCompressor;
  struct Patch {
    uint64_t at;  // in the uncompressed stream
    const MetadataStream* target;
    uint32_t block;
  };
  std::vector<uint8_t> raw_;
  std::vector<Patch> patches_;
  std::vector<uint8_t> out_;
  std::vector<uint32_t> starts_;
};

// What compress_streams() did: blocks compressed and the waves it took (the critical path, in blocks); the
// CPU time of all the compressions, of those on the calling thread, and the sum over the waves of the longest
// one in each (the part no number of threads shortens).
struct StreamStats {
  uint64_t blocks = 0, waves = 0;
  uint64_t cpu_ns = 0, caller_cpu_ns = 0, critical_ns = 0;
  StreamStats& operator+=(const StreamStats& o) {
    blocks += o.blocks;
    waves += o.waves;
    cpu_ns += o.cpu_ns;
    caller_cpu_ns += o.caller_cpu_ns;
    critical_ns += o.critical_ns;
    return *this;
  }
};

// Compresses every block of `streams` on `team` (one compressor per member, from make()), each once all the
// starts it holds are known. Throws NativeError EINVAL when the references make that impossible (a cycle: an
// internal fault). cancel (may be null) is polled between waves.
StreamStats compress_streams(const std::vector<MetadataStream*>& streams, ThreadTeam& team,
                             const std::function<std::unique_ptr<Compressor>()>& make,
                             const std::function<void()>& between_waves = {});

}  // namespace casper
