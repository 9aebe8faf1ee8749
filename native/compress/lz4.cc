// lz4 (SquashFS id 5): raw LZ4 blocks, made with liblz4 in its fast mode or, with `hc`, its high-compression
// mode. The options block is always written (the kernel refuses an lz4 image without it).
#include <lz4.h>
#include <lz4hc.h>

#include <memory>

#include "compress/compressor.h"
#include "util/bytes.h"
#include "util/error.h"

namespace casper {
namespace {

constexpr uint32_t kVersion = 1;  // LZ4_LEGACY: the only version SquashFS knows
constexpr uint32_t kFlagHc = 0x01;

class Lz4 final : public Compressor {
 public:
  Lz4(bool hc, long level) : hc_(hc), level_(level) {
    state_.reset(new char[size_t(hc ? LZ4_sizeofStateHC() : LZ4_sizeofState())]);
  }
  size_t compress(const uint8_t* in, size_t len, uint8_t* out, size_t cap) override {
    const char* src = reinterpret_cast<const char*>(in);
    char* dst = reinterpret_cast<char*>(out);
    int n = hc_ ? LZ4_compress_HC_extStateHC(state_.get(), src, dst, int(len), int(cap), int(level_))
                : LZ4_compress_fast_extState(state_.get(), src, dst, int(len), int(cap), 1);
    return n <= 0 || size_t(n) >= len ? 0 : size_t(n);
  }
  size_t decompress(const uint8_t* in, size_t len, uint8_t* out, size_t cap) override {
    int n = LZ4_decompress_safe(reinterpret_cast<const char*>(in), reinterpret_cast<char*>(out), int(len), int(cap));
    if (n < 0) throw NativeError("EIO", "corrupt lz4 block");
    return size_t(n);
  }
  std::vector<uint8_t> options_block() const override {
    ByteWriter w;
    w.u32(kVersion);
    w.u32(hc_ ? kFlagHc : 0);
    return w.buf;
  }
  std::string describe() const override { return hc_ ? "lz4 hc level " + std::to_string(level_) : "lz4"; }
  bool fast() const override { return !hc_; }

 private:
  bool hc_;
  long level_;
  std::unique_ptr<char[]> state_;
};

std::unique_ptr<Compressor> make(const CompressorConfig& cfg) {
  check_option_keys(cfg, {"hc", "level"});
  bool hc = option_bool(cfg, "hc", false);
  if (!hc && cfg.options.count("level"))
    throw NativeError("EINVAL", "lz4 level applies only to high-compression mode (hc, mksquashfs -Xhc)");
  long level = option_int(cfg, "level", LZ4HC_CLEVEL_DEFAULT, 1, LZ4HC_CLEVEL_MAX);
  return std::make_unique<Lz4>(hc, level);
}

const CompressorFactory kFactory{"lz4", 5, make, "liblz4 " LZ4_VERSION_STRING, int(-1)};
const CompressorRegistration kRegistered(kFactory);

}  // namespace
}  // namespace casper
