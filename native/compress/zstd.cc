// zstd (SquashFS id 6): one zstd frame per block, made with libzstd.
#include <zstd.h>
#include <zstd_errors.h>

#include "compress/compressor.h"
#include "util/bytes.h"
#include "util/error.h"

namespace casper {
namespace {

constexpr long kDefaultLevel = 15;  // mksquashfs's default; the options block is written for any other level

class Zstd final : public Compressor {
 public:
  explicit Zstd(long level) : level_(level), c_(ZSTD_createCCtx()), d_(ZSTD_createDCtx()) {
    if (!c_ || !d_) {
      ZSTD_freeCCtx(c_);
      ZSTD_freeDCtx(d_);
      throw NativeError("ENOMEM", "cannot allocate a zstd context");
    }
  }
  ~Zstd() override {
    ZSTD_freeCCtx(c_);
    ZSTD_freeDCtx(d_);
  }
  size_t compress(const uint8_t* in, size_t len, uint8_t* out, size_t cap) override {
    size_t n = ZSTD_compressCCtx(c_, out, cap, in, len, int(level_));
    if (ZSTD_isError(n)) {
      if (ZSTD_getErrorCode(n) == ZSTD_error_dstSize_tooSmall) return 0;
      throw NativeError("EINTERNAL", std::string("zstd compression failed: ") + ZSTD_getErrorName(n));
    }
    return n >= len ? 0 : n;
  }
  size_t decompress(const uint8_t* in, size_t len, uint8_t* out, size_t cap) override {
    size_t n = ZSTD_decompressDCtx(d_, out, cap, in, len);
    if (ZSTD_isError(n)) throw NativeError("EIO", std::string("corrupt zstd block: ") + ZSTD_getErrorName(n));
    return n;
  }
  std::vector<uint8_t> options_block() const override {
    if (level_ == kDefaultLevel) return {};
    ByteWriter w;
    w.u32(uint32_t(level_));
    return w.buf;
  }
  std::string describe() const override { return "zstd level " + std::to_string(level_); }

 private:
  long level_;
  ZSTD_CCtx* c_;
  ZSTD_DCtx* d_;
};

std::unique_ptr<Compressor> make(const CompressorConfig& cfg) {
  check_option_keys(cfg, {"level"});
  return std::make_unique<Zstd>(option_int(cfg, "level", kDefaultLevel, 1, ZSTD_maxCLevel()));
}

const CompressorFactory kFactory{"zstd", 6, make, "libzstd " ZSTD_VERSION_STRING, int(kDefaultLevel)};
const CompressorRegistration kRegistered(kFactory);

}  // namespace
}  // namespace casper
