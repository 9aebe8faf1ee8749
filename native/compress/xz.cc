// xz (SquashFS id 4): each block is an .xz stream (LZMA2, CRC32 check — the only check the kernel's
// decoder is sure to have), made with liblzma. Like mksquashfs, every selected BCJ filter is tried besides
// no filter, and the smallest result is kept.
#include <lzma.h>

#include <cstdlib>
#include <cstring>

#include "compress/compressor.h"
#include "util/bytes.h"
#include "util/error.h"

namespace casper {
namespace {

struct BcjFilter {
  const char* name;
  uint32_t bit;  // the bit in the options block's filters field
  lzma_vli id;
};

constexpr BcjFilter kBcjFilters[] = {
    {"x86", 0x01, LZMA_FILTER_X86}, {"powerpc", 0x02, LZMA_FILTER_POWERPC},   {"ia64", 0x04, LZMA_FILTER_IA64},
    {"arm", 0x08, LZMA_FILTER_ARM}, {"armthumb", 0x10, LZMA_FILTER_ARMTHUMB}, {"sparc", 0x20, LZMA_FILTER_SPARC},
};

constexpr uint32_t kMinDictSize = 8192;  // mksquashfs's lower bound for an explicit dictionary size
constexpr long kDefaultLevel = 6;        // liblzma's default preset, as mksquashfs uses

NativeError bad(const std::string& msg) { return NativeError("EINVAL", "xz " + msg); }

// 2^n or 2^n + 2^(n-1): the sizes an xz header stores exactly, and the only ones the kernel accepts.
bool storable_dict_size(uint32_t d) {
  uint32_t low = d & (~d + 1);
  return d != 0 && (d == low || d == 3 * low);
}

// "65536", "64K", "1M" (bytes), or "50%", "37.5%" of the block size.
uint32_t parse_dict_size(const std::string& s, uint32_t block_size) {
  uint64_t bytes = 0;
  if (!s.empty() && s.back() == '%') {
    std::string num = s.substr(0, s.size() - 1);
    size_t digits = 0, dots = 0;
    bool ok = !num.empty();
    for (char c : num) {
      if (c >= '0' && c <= '9')
        digits++;
      else if (c == '.')
        dots++;
      else
        ok = false;
    }
    if (!ok || digits == 0 || dots > 1)
      throw bad("dict-size must be bytes (65536, 64K, 1M) or a percentage of the block size (50%), got '" + s + "'");
    double pct = std::strtod(num.c_str(), nullptr);
    if (!(pct > 0 && pct <= 100)) throw bad("dict-size percentage must be above 0 and at most 100, got '" + s + "'");
    bytes = uint64_t(double(block_size) * pct / 100.0);
  } else {
    size_t i = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9' && i < 12) bytes = bytes * 10 + uint64_t(s[i++] - '0');
    uint64_t mult = 1;
    if (i < s.size() && (s[i] == 'k' || s[i] == 'K'))
      mult = 1024, i++;
    else if (i < s.size() && (s[i] == 'm' || s[i] == 'M'))
      mult = 1024 * 1024, i++;
    if (i == 0 || i != s.size())
      throw bad("dict-size must be bytes (65536, 64K, 1M) or a percentage of the block size (50%), got '" + s + "'");
    bytes *= mult;
  }
  if (bytes > block_size)
    throw bad("dict-size " + s + " (" + std::to_string(bytes) + " bytes) is larger than the block size (" +
              std::to_string(block_size) + ")");
  if (bytes < kMinDictSize)
    throw bad("dict-size " + s + " (" + std::to_string(bytes) + " bytes) is below the minimum of 8K");
  if (!storable_dict_size(uint32_t(bytes)))
    throw bad("dict-size " + s + " (" + std::to_string(bytes) +
              " bytes) must be 2^n or 2^n+2^(n-1) bytes, e.g. 8K, 12K, 16K, 24K, 32K, or 25%, 37.5%, 50%, 75%, 100% of "
              "the block size");
  return uint32_t(bytes);
}

uint32_t parse_bcj(const std::string& s) {
  uint32_t mask = 0;
  size_t start = 0;
  for (;;) {
    size_t comma = s.find(',', start);
    std::string name = s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    bool found = false;
    for (const auto& f : kBcjFilters)
      if (name == f.name) mask |= f.bit, found = true;
    if (!found)
      throw bad("bcj filter '" + name +
                "' is unknown (filters: x86, powerpc, ia64, arm, armthumb, sparc; comma-separated)");
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return mask;
}

class Xz final : public Compressor {
 public:
  Xz(uint32_t block_size, uint32_t dict_size, uint32_t filters, long level, bool extreme)
      : block_size_(block_size), dict_size_(dict_size), filters_(filters), level_(level), extreme_(extreme) {
    if (lzma_lzma_preset(&lzma_opts_, uint32_t(level) | (extreme ? LZMA_PRESET_EXTREME : 0)))
      throw bad("level " + std::to_string(level) + " is not supported by liblzma");
    lzma_opts_.dict_size = dict_size;
    candidates_.push_back(LZMA_VLI_UNKNOWN);  // no BCJ filter
    for (const auto& f : kBcjFilters)
      if (filters & f.bit) candidates_.push_back(f.id);
    // One stream per filter chain: re-initialising a stream with the same chain reuses its match finder's
    // memory, so a block costs no large allocation.
    lzma_stream init = LZMA_STREAM_INIT;
    streams_.assign(candidates_.size(), init);
  }
  ~Xz() override {
    for (auto& s : streams_) lzma_end(&s);
  }

  size_t compress(const uint8_t* in, size_t len, uint8_t* out, size_t cap) override {
    size_t best = encode(0, in, len, out, cap);
    for (size_t i = 1; i < candidates_.size(); i++) {
      size_t limit = best ? best - 1 : cap;  // only a smaller result is of use
      if (scratch_.size() < limit) scratch_.resize(limit);
      size_t c = encode(i, in, len, scratch_.data(), limit);
      if (c) {
        std::memcpy(out, scratch_.data(), c);
        best = c;
      }
    }
    return best >= len ? 0 : best;
  }

  size_t decompress(const uint8_t* in, size_t len, uint8_t* out, size_t cap) override {
    // A SquashFS block needs a dictionary of at most 1 MiB: a stream asking for far more is hostile input,
    // refused before liblzma allocates it.
    uint64_t memlimit = uint64_t(64) << 20;
    size_t in_pos = 0, out_pos = 0;
    lzma_ret r = lzma_stream_buffer_decode(&memlimit, 0, nullptr, in, &in_pos, len, out, &out_pos, cap);
    if (r == LZMA_MEM_ERROR) throw NativeError("ENOMEM", "out of memory decoding an xz block");
    if (r == LZMA_MEMLIMIT_ERROR) throw NativeError("EIO", "corrupt xz block (its dictionary needs more than 64 MiB)");
    if (r != LZMA_OK || in_pos != len) throw NativeError("EIO", "corrupt xz block");
    return out_pos;
  }

  std::vector<uint8_t> options_block() const override {
    if (dict_size_ == block_size_ && filters_ == 0) return {};  // mksquashfs's defaults
    ByteWriter w;
    w.u32(dict_size_);
    w.u32(filters_);
    return w.buf;
  }

  std::string describe() const override {
    std::string d = "xz level " + std::to_string(level_) + (extreme_ ? " extreme" : "") + ", dict-size " +
                    std::to_string(dict_size_);
    std::string bcj;
    for (const auto& f : kBcjFilters)
      if (filters_ & f.bit) bcj += (bcj.empty() ? "" : ",") + std::string(f.name);
    return bcj.empty() ? d : d + ", bcj " + bcj;
  }

 private:
  // Encodes with filter chain i; returns the size, or 0 when it does not fit in cap.
  size_t encode(size_t i, const uint8_t* in, size_t len, uint8_t* out, size_t cap) {
    lzma_options_lzma opts = lzma_opts_;
    lzma_filter chain[3];
    size_t n = 0;
    if (candidates_[i] != LZMA_VLI_UNKNOWN) chain[n++] = {candidates_[i], nullptr};
    chain[n++] = {LZMA_FILTER_LZMA2, &opts};
    chain[n] = {LZMA_VLI_UNKNOWN, nullptr};
    lzma_stream& s = streams_[i];
    lzma_ret r = lzma_stream_encoder(&s, chain, LZMA_CHECK_CRC32);
    if (r == LZMA_MEM_ERROR) throw NativeError("ENOMEM", "out of memory for the xz encoder");
    if (r != LZMA_OK)
      throw NativeError("EINTERNAL", "liblzma refused the encoder settings (error " + std::to_string(int(r)) + ")");
    s.next_in = in;
    s.avail_in = len;
    s.next_out = out;
    s.avail_out = cap;
    r = lzma_code(&s, LZMA_FINISH);
    if (r == LZMA_STREAM_END) return cap - s.avail_out;
    if (r == LZMA_OK || r == LZMA_BUF_ERROR) return 0;  // output full: does not fit
    if (r == LZMA_MEM_ERROR) throw NativeError("ENOMEM", "out of memory in the xz encoder");
    throw NativeError("EINTERNAL", "xz encoding failed (liblzma error " + std::to_string(int(r)) + ")");
  }

  uint32_t block_size_, dict_size_, filters_;
  long level_;
  bool extreme_;
  lzma_options_lzma lzma_opts_{};
  std::vector<lzma_vli> candidates_;
  std::vector<lzma_stream> streams_;
  std::vector<uint8_t> scratch_;
};

std::unique_ptr<Compressor> make(const CompressorConfig& cfg) {
  check_option_keys(cfg, {"level", "dict-size", "bcj", "extreme"});
  long level = option_int(cfg, "level", kDefaultLevel, 0, 9);
  bool extreme = option_bool(cfg, "extreme", false);
  std::string dict = option_str(cfg, "dict-size", "");
  uint32_t dict_size = dict.empty() ? cfg.block_size : parse_dict_size(dict, cfg.block_size);
  std::string bcj = option_str(cfg, "bcj", "");
  uint32_t filters = bcj.empty() ? 0 : parse_bcj(bcj);
  return std::make_unique<Xz>(cfg.block_size, dict_size, filters, level, extreme);
}

const CompressorFactory kFactory{"xz", 4, make, "liblzma " LZMA_VERSION_STRING, int(kDefaultLevel)};
const CompressorRegistration kRegistered(kFactory);

}  // namespace
}  // namespace casper
