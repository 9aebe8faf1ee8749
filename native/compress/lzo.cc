// lzo (SquashFS id 3): raw LZO1X blocks, made with liblzo2 by one of the algorithms mksquashfs offers.
// squashfs-tools and the kernel number LZMA1 2 and LZO 3 (some format notes have the two swapped).
#include <lzo/lzo1x.h>

#include <cstring>

#include "compress/compressor.h"
#include "util/bytes.h"
#include "util/error.h"

namespace casper {
namespace {

struct Algorithm {
  const char* name;
  uint32_t id;  // the value in the options block
  size_t work_memory;
  int (*compress)(const lzo_bytep, lzo_uint, lzo_bytep, lzo_uintp, lzo_voidp);  // null for lzo1x_999
};

const Algorithm kAlgorithms[] = {
    {"lzo1x_1", 0, LZO1X_1_MEM_COMPRESS, lzo1x_1_compress},
    {"lzo1x_1_11", 1, LZO1X_1_11_MEM_COMPRESS, lzo1x_1_11_compress},
    {"lzo1x_1_12", 2, LZO1X_1_12_MEM_COMPRESS, lzo1x_1_12_compress},
    {"lzo1x_1_15", 3, LZO1X_1_15_MEM_COMPRESS, lzo1x_1_15_compress},
    {"lzo1x_999", 4, LZO1X_999_MEM_COMPRESS, nullptr},
};
constexpr uint32_t kDefaultAlgorithm = 4;  // lzo1x_999
constexpr long kDefaultLevel = 8;          // lzo1x_999's level in mksquashfs

class Lzo final : public Compressor {
 public:
  Lzo(const Algorithm& a, long level) : algo_(a), level_(level), work_(a.work_memory) {}
  size_t compress(const uint8_t* in, size_t len, uint8_t* out, size_t cap) override {
    // LZO takes no output capacity: it writes into a buffer big enough for its worst case.
    size_t worst = len + len / 16 + 64 + 3;
    if (buf_.size() < worst) buf_.resize(worst);
    lzo_uint n = 0;
    int r = algo_.compress ? algo_.compress(in, lzo_uint(len), buf_.data(), &n, work_.data())
                           : lzo1x_999_compress_level(in, lzo_uint(len), buf_.data(), &n, work_.data(), nullptr, 0,
                                                      nullptr, int(level_));
    if (r != LZO_E_OK) throw NativeError("EINTERNAL", "lzo compression failed (error " + std::to_string(r) + ")");
    if (n > cap || n >= len) return 0;
    std::memcpy(out, buf_.data(), n);
    return n;
  }
  size_t decompress(const uint8_t* in, size_t len, uint8_t* out, size_t cap) override {
    lzo_uint n = cap;
    int r = lzo1x_decompress_safe(in, lzo_uint(len), out, &n, nullptr);
    if (r != LZO_E_OK) throw NativeError("EIO", "corrupt lzo block (error " + std::to_string(r) + ")");
    return n;
  }
  std::vector<uint8_t> options_block() const override {
    if (algo_.id == kDefaultAlgorithm && level_ == kDefaultLevel) return {};
    ByteWriter w;
    w.u32(algo_.id);
    w.u32(algo_.compress ? 0 : uint32_t(level_));  // the level is 0 for all but lzo1x_999
    return w.buf;
  }
  std::string describe() const override {
    return std::string("lzo ") + algo_.name + (algo_.compress ? "" : " level " + std::to_string(level_));
  }

 private:
  const Algorithm& algo_;
  long level_;
  std::vector<uint8_t> work_;
  std::vector<uint8_t> buf_;
};

std::unique_ptr<Compressor> make(const CompressorConfig& cfg) {
  static const bool initialised = lzo_init() == LZO_E_OK;
  if (!initialised) throw NativeError("EINTERNAL", "liblzo2 failed to initialise (lzo_init)");
  check_option_keys(cfg, {"algorithm", "level"});
  std::string name = option_str(cfg, "algorithm", "lzo1x_999");
  const Algorithm* algo = nullptr;
  for (const auto& a : kAlgorithms)
    if (name == a.name) algo = &a;
  if (!algo)
    throw NativeError(
        "EINVAL",
        "lzo algorithm '" + name + "' is unknown (algorithms: lzo1x_1, lzo1x_1_11, lzo1x_1_12, lzo1x_1_15, lzo1x_999)");
  if (algo->compress && cfg.options.count("level"))
    throw NativeError("EINVAL", "lzo level applies only to the lzo1x_999 algorithm, not " + name);
  return std::make_unique<Lzo>(*algo, option_int(cfg, "level", kDefaultLevel, 1, 9));
}

const CompressorFactory kFactory{"lzo", 3, make, "liblzo2 " LZO_VERSION_STRING, int(kDefaultLevel)};
const CompressorRegistration kRegistered(kFactory);

}  // namespace
}  // namespace casper
