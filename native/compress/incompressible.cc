#include "compress/incompressible.h"

#include <lz4.h>

#include <cmath>
#include <memory>
#include <vector>

namespace casper {

namespace {
// Below this the byte histogram says little (a few KiB of text can look uniform enough).
constexpr size_t kMinBytes = 16384;
// Compressed formats measure 7.99+ bits per byte; text, code and catalogs well under 7.
constexpr double kMinEntropyBits = 7.9;

double entropy_bits(const uint8_t* p, size_t n) {
  uint32_t count[256] = {};
  for (size_t i = 0; i < n; i++) count[p[i]]++;
  double h = 0;
  for (uint32_t c : count)
    if (c) {
      double q = double(c) / double(n);
      h -= q * std::log2(q);
    }
  return h;
}
}  // namespace

bool looks_incompressible(const uint8_t* p, size_t n) {
  if (n < kMinBytes || n > size_t(LZ4_MAX_INPUT_SIZE) || entropy_bits(p, n) < kMinEntropyBits) return false;
  // Uniform bytes can still repeat (two copies of one compressed file): LZ4 would find that.
  thread_local std::unique_ptr<char[]> state(new char[size_t(LZ4_sizeofState())]);
  thread_local std::vector<char> out;
  out.resize(n);
  int c = LZ4_compress_fast_extState(state.get(), reinterpret_cast<const char*>(p), out.data(), int(n), int(n - 1), 1);
  return c <= 0;  // did not fit in n - 1 bytes: nothing to gain
}

}  // namespace casper
