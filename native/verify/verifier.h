// verify: reads a whole image as a reader would (every table, every data and fragment block), and
// optionally compares it with a directory tree. Corruption is reported, not thrown, where the check can go
// on (data blocks); a table that does not parse ends the check with that error.
#pragma once
#include <cstdint>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "compare/difference.h"
#include "util/cancel.h"

namespace casper {

// What --verify expects of one regular file of a snapshot just written: the content digest (util/hash.h) of
// the bytes read from the source during the data phase, and the walked path (named when the file is absent).
struct ExpectedFile {
  uint64_t digest = 0;
  std::string path;
  bool from_base = false;  // copied from a --base image, never read: its content tag (the record's) is checked
  uint32_t tag = 0;        // from_base: the low half of the digest its content must give
};

struct VerifyOptions {
  std::string dir;               // empty: no comparison with a tree
  unsigned jobs = 0;             // data-phase threads; 0: the machine's cores
  bool data = true;              // read and decompress every data and fragment block
  std::set<std::string> ignore;  // comparison fields left out: mode owner mtime xattrs content links
  CancelFlag cancel;
  // Optional progress counters written with relaxed atomics: [0] phase (1 tables, 2 data),
  // [1] inodes read, [2] data bytes (on disk) checked, [3] data bytes (on disk) in all.
  uint64_t* progress = nullptr;
  // --verify of a snapshot (may be null): every regular file of the image, by inode number. Each file's digest
  // is recomputed from its stored blocks and fragment tail; a different digest, a file that is not expected
  // or an expected one that is not in the image is a problem with code EDIGEST naming the path.
  const std::unordered_map<uint32_t, ExpectedFile>* expected = nullptr;
};

struct VerifyProblem {
  std::string code;   // ESQUASH_CORRUPT, or an errno-style code for a read failure
  std::string table;  // the table or block kind
  uint64_t offset;    // byte offset in the image, or ~0
  std::string path;   // the image path of the file concerned, when one is
  std::string message;
};

struct VerifyReport {
  bool ok = false;
  std::vector<VerifyProblem> problems;
  bool problems_truncated = false;
  std::vector<TreeDifference> differences;
  // The image
  uint64_t image_size = 0, bytes_used = 0;
  uint32_t block_size = 0, mkfs_time = 0, inodes = 0, ids = 0, fragment_blocks = 0, xattr_ids = 0;
  uint16_t flags = 0;
  std::string compressor;
  bool export_table = false;
  // What was read
  uint64_t entries = 0, directories = 0, files = 0, symlinks = 0, devices = 0, fifos = 0, sockets = 0, hardlinks = 0;
  uint64_t file_bytes = 0, data_blocks = 0, sparse_blocks = 0, data_bytes_read = 0, fragment_tails = 0,
           metadata_blocks = 0;
  // The tree's size once unpacked with 4 KiB blocks (each file, hard-linked ones once, and directory rounded up to
  // whole blocks; symlinks too long for the inode one block): casper's filesystem.size (src/remaster/).
  uint64_t installed_bytes = 0;
  // With VerifyOptions::expected: the files whose digest matched, and their bytes.
  uint64_t digest_files = 0, digest_bytes = 0;
  // The integrity record (format/integrity_record.h): "valid", "absent" or "broken", and what was checked
  // against it (stored blocks, files' content tags, fragment blocks' pieces).
  std::string record = "absent";
  uint64_t record_blocks = 0, record_files = 0, record_fragments = 0;
};

// Never throws for a corrupt image (it is a problem in the report); throws NativeError when the image
// cannot be opened or read at all, ECANCELED when cancelled.
VerifyReport verify_image(const std::string& image, const VerifyOptions& o);

}  // namespace casper
