// A cheap test for blocks no codec will shrink: already-compressed data (.gz, .png, .jpg, .xz) is a large
// share of a system tree, and a slow codec (xz, zstd at high levels, gzip) spends its full effort on it only
// to have the block stored raw. A block counts as incompressible when its bytes are near-uniformly
// distributed and LZ4's fast mode cannot shrink it at all; it is then stored raw without calling the codec.
// The answer depends on the bytes alone, so images stay reproducible.
#pragma once
#include <cstddef>
#include <cstdint>

namespace casper {

bool looks_incompressible(const uint8_t* p, size_t n);

}  // namespace casper
