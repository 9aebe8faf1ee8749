// Runs in a pool worker: reads the file ranges of one task, finds sparse blocks, compresses full blocks and
// returns its result. A pure function of the files' bytes and the compressor settings.
#pragma once
#include <cstdint>
#include <vector>

#include "compress/compressor.h"
#include "data/task_format.h"
#include "util/cancel.h"

namespace casper {

// Each file is opened beneath the task's root descriptor without following any symlink and without
// blocking (a FIFO swapped in cannot hang the read), and read only if it is the regular file the walk saw
// (same device and inode). A file that cannot be opened, or is now another inode, comes back as a failed or
// replaced segment with no data; the writer decides what that means. Throws NativeError (with path) when a
// read fails; ECANCELED when cancel is set.
TaskResult read_and_compress(const TaskSpec& task, Compressor& comp, const CancelFlag& cancel);

// Compresses one fragment block; returns the size word (bit 24 = raw) and fills out with the stored bytes.
uint32_t compress_block(Compressor& comp, const uint8_t* in, size_t len, std::vector<uint8_t>& out);

}  // namespace casper
