// Encodes one inode of any type, choosing the basic or extended form as the format requires.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "format/directory_writer.h"
#include "format/metadata_stream.h"
#include "util/bytes.h"

namespace casper {

struct InodeCommon {
  uint16_t mode_bits;  // permissions, setuid/setgid/sticky (no type bits)
  uint16_t uid_idx, gid_idx;
  uint32_t mtime;
  uint32_t number;
  uint32_t nlink;
  uint32_t xattr;  // kNoXattr when none
};

struct FileInode {
  uint64_t blocks_start, size;
  uint64_t sparse;  // bytes in sparse blocks, counted (as mksquashfs does) only for files sparse on disk
  uint32_t fragment, fragment_offset;
  const uint32_t* words;
  uint32_t nblocks;
};

struct DirInode {
  const DirListing* listing;
  uint32_t parent;
  bool extended;  // large directory (see is_large_directory) or xattrs
};

// mksquashfs's rule, kept so sqfsdiff sees the same inode types: 257+ entries or 8 KiB of entries.
inline bool is_large_directory(size_t count, uint64_t entry_bytes) { return count >= 257 || entry_bytes >= 8192; }

// Each returns the basic type (for directory entries).
uint16_t encode_file(ByteWriter& w, const InodeCommon& c, const FileInode& f);
// The listing's start block and its index entries' blocks are stored as compressed starts in the directory
// stream: fields gets where (patches for MetadataStream::write).
uint16_t encode_dir(ByteWriter& w, const InodeCommon& c, const DirInode& d, std::vector<StartField>& fields);
uint16_t encode_symlink(ByteWriter& w, const InodeCommon& c, const std::string& target);
uint16_t encode_device(ByteWriter& w, const InodeCommon& c, bool block, uint32_t major, uint32_t minor);
uint16_t encode_ipc(ByteWriter& w, const InodeCommon& c, bool socket);

}  // namespace casper
