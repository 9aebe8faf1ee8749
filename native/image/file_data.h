// Where each regular file's data ended up: its blocks, its fragment, its sparse bytes.
#pragma once
#include <cstdint>

#include "format/constants.h"

namespace casper {

struct FileData {
  uint64_t blocks_start = 0;
  uint32_t first_word = 0;  // index of the first size word in DataWriter::words
  uint32_t nblocks = 0;
  uint32_t fragment = kNoFragment;
  uint32_t fragment_offset = 0;
  uint64_t sparse = 0;
};

struct FragmentEntry {
  uint64_t start = 0;
  uint32_t word = 0;
};

}  // namespace casper
