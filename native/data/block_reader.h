// Runs in a pool worker: reads the file ranges of one task, finds sparse blocks, compresses full blocks and
// returns one result buffer. A pure function of the files' bytes and the compressor settings.
#pragma once
#include <cstdint>
#include <vector>

#include "compress/compressor.h"
#include "data/task_format.h"
#include "util/cancel.h"

namespace casper {

// Throws NativeError (with path) when a file cannot be opened or read; ECANCELED when cancel is set.
std::vector<uint8_t> read_and_compress(const TaskSpec& task, Compressor& comp, const CancelFlag& cancel);

// Parses the result buffer; pointers in the returned records point into buf.
std::vector<SegmentResult> parse_result(const uint8_t* buf, size_t n);

// Compresses one fragment block; returns the size word (bit 24 = raw) and fills out with the stored bytes.
uint32_t compress_block(Compressor& comp, const uint8_t* in, size_t len, std::vector<uint8_t>& out);

}  // namespace casper
