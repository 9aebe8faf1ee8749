// After the data section: numbers the inodes, writes the inode and directory tables, the fragment, export,
// id and xattr tables in the order the kernel requires, the integrity record after them (past bytes_used),
// then the superblock, and pads to 4 KiB.
#pragma once
#include <cstdint>
#include <vector>

#include "image/data_writer.h"
#include "image/image_options.h"
#include "traverse/tree.h"
#include "util/cancel.h"

namespace casper {

struct ImageSummary {
  uint64_t bytes_used = 0, image_size = 0;
  uint32_t inodes = 0, ids = 0, fragments = 0, xattr_ids = 0;
  uint64_t inode_table_bytes = 0, directory_table_bytes = 0;
  uint64_t record_bytes = 0;  // the integrity record after bytes_used (format/integrity_record.h)
  uint64_t metadata_blocks = 0, metadata_waves = 0;  // inode, directory and lookup-table blocks; the waves they took
  // CPU time compressing those blocks, and the phase's serial part: what the calling thread did alone plus
  // the longest compression of each wave (format/metadata_stream.h).
  uint64_t compress_cpu_ns = 0, serial_cpu_ns = 0;
  uint64_t parallel_cpu_ns = 0;  // the compression CPU more threads share: all of it less each wave's longest
  uint32_t files = 0, dirs = 0, symlinks = 0, devices = 0, fifos = 0, sockets = 0, hardlinks = 0;
};

// Offset of the first data byte: after the superblock and the compressor options block, if any.
uint64_t data_section_start(const ImageOptions& opts);

// numbers (may be null): filled with each entry's inode number in the image (0: not in the image; every
// name of a hard-linked inode has its number), for --verify to find the walked file behind an image inode.
// threads: how many threads compress the metadata blocks.
ImageSummary write_tables(const ImageOptions& opts, const Tree& tree, const DataWriter& data, int fd,
                          const CancelFlag& cancel, std::vector<uint32_t>* numbers = nullptr, unsigned threads = 1);

}  // namespace casper
