#include "read/superblock_reader.h"

#include "compress/compressor.h"
#include "format/constants.h"
#include "format/metadata_block.h"
#include "util/bytes.h"

namespace casper {

bool ReadSuperblock::has(uint64_t table) const { return table != kNoTable; }

namespace {
inline uint16_t le16(const uint8_t* p) { return uint16_t(p[0] | p[1] << 8); }
}  // namespace

// Long: every superblock field and its check in on-disk order, so it reads against the format document.
ReadSuperblock read_superblock(ImageFile& f) {
  const char* T = "superblock";
  if (f.size() < kSuperblockSize)
    f.corrupt(T, 0, "the file holds " + std::to_string(f.size()) + " bytes, less than a superblock (96)");
  uint8_t b[kSuperblockSize];
  f.read(0, b, sizeof b, T);
  ReadSuperblock sb;
  SuperblockCheck check;
  decode_superblock(b, sb, check);
  if (check.magic != kMagic) f.corrupt(T, 0, "bad magic: not a SquashFS image");
  sb.block_log = check.block_log;
  sb.version_major = check.version_major;
  sb.version_minor = check.version_minor;

  if (sb.version_major != 4 || sb.version_minor != 0)
    f.corrupt(
        T, 28,
        "version " + std::to_string(sb.version_major) + "." + std::to_string(sb.version_minor) + " (only 4.0 is read)");
  if (sb.block_size < kMinBlockSize || sb.block_size > kMaxBlockSize || (sb.block_size & (sb.block_size - 1)) != 0)
    f.corrupt(T, 12, "block size " + std::to_string(sb.block_size) + " is not a power of two from 4K to 1M");
  if (sb.block_log > 20 || (1u << sb.block_log) != sb.block_size)
    f.corrupt(
        T, 22,
        "block_log " + std::to_string(sb.block_log) + " does not match block size " + std::to_string(sb.block_size));
  if (sb.inode_count == 0) f.corrupt(T, 4, "inode count is 0");
  if (sb.id_count == 0) f.corrupt(T, 26, "id count is 0");
  if (sb.bytes_used < kSuperblockSize)
    f.corrupt(T, 40, "bytes_used " + std::to_string(sb.bytes_used) + " is smaller than the superblock");
  if (sb.bytes_used > f.size())
    f.corrupt(T, 40,
              "bytes_used is " + std::to_string(sb.bytes_used) + " but the file holds only " +
                  std::to_string(f.size()) + " bytes (truncated image)");
  f.set_limit(sb.bytes_used);

  const CompressorFactory* cf = nullptr;
  for (auto* c : all_compressors())
    if (c->id == sb.compressor) cf = c;
  if (!cf) {
    std::string name = sb.compressor == 2 ? "lzma (LZMA1, not supported)" : "id " + std::to_string(sb.compressor);
    f.corrupt(T, 20, "unknown or unsupported compressor " + name);
  }
  sb.compressor_name = cf->name;

  // Table order (the kernel's super.c): inode < directory ≤ fragment ≤ export ≤ id ≤ xattr < bytes_used.
  struct Field {
    const char* name;
    uint64_t value;
    uint64_t at;
    bool optional;
  };
  const Field order[] = {
      {"inode_table_start", sb.inode_table, 64, false},
      {"directory_table_start", sb.directory_table, 72, false},
      {"fragment_table_start", sb.fragment_table, 80, true},
      {"export_table_start", sb.export_table, 88, true},
      {"id_table_start", sb.id_table, 48, false},
      {"xattr_id_table_start", sb.xattr_id_table, 56, true},
  };
  uint64_t prev = kSuperblockSize;
  const char* prev_name = "the superblock";
  for (const auto& fl : order) {
    if (fl.optional && fl.value == kNoTable) continue;
    if (fl.value < prev || fl.value >= sb.bytes_used)
      f.corrupt(T, fl.at,
                std::string(fl.name) + " " + std::to_string(fl.value) + " is out of order (before " + prev_name +
                    " at " + std::to_string(prev) + ", or past bytes_used " + std::to_string(sb.bytes_used) + ")");
    prev = fl.value;
    prev_name = fl.name;
  }
  if (sb.directory_table <= sb.inode_table) f.corrupt(T, 72, "the directory table does not follow the inode table");
  if (sb.fragment_count > 0 && sb.fragment_table == kNoTable)
    f.corrupt(T, 16, "fragments are counted but there is no fragment table");
  if ((sb.root_inode & 0xFFFF) >= kMetadataSize || (sb.root_inode >> 16) >= sb.directory_table - sb.inode_table)
    f.corrupt(T, 32, "root inode reference " + std::to_string(sb.root_inode) + " is outside the inode table");

  if (sb.flags & kFlagCompressorOptions) {
    uint8_t h[2];
    f.read(kSuperblockSize, h, 2, "compressor options");
    uint16_t hdr = le16(h);
    uint16_t len = hdr & kMetadataLengthMask;
    if (!(hdr & kMetadataUncompressed))
      f.corrupt("compressor options", kSuperblockSize, "the options block is not stored uncompressed");
    if (len == 0 || len > 64)
      f.corrupt("compressor options", kSuperblockSize, "options block of " + std::to_string(len) + " bytes");
    sb.comp_options.resize(len);
    f.read(kSuperblockSize + 2, sb.comp_options.data(), len, "compressor options");
    sb.data_start = kSuperblockSize + 2 + len;
    if (sb.data_start > sb.inode_table)
      f.corrupt("compressor options", kSuperblockSize, "the options block overlaps the inode table");
  }
  return sb;
}

}  // namespace casper
