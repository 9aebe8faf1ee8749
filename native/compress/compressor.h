// One interface for every SquashFS compressor. A compressor is a pure function on bytes plus the options
// block it writes into the image; each one lives in its own file and registers itself by name.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "format/constants.h"

namespace casper {

// Options as given by the user (mksquashfs names: level, dict-size, bcj, hc, algorithm; and xz extreme).
struct CompressorConfig {
  std::string name = "gzip";
  uint32_t block_size = kDefaultBlockSize;
  std::map<std::string, std::string> options;  // compressor-specific, validated by the factory
};

class Compressor {
 public:
  virtual ~Compressor() = default;
  // Compresses len bytes into out (capacity cap). Returns the compressed size, or 0 when the result would
  // not be smaller than cap: the caller then stores the block uncompressed.
  virtual size_t compress(const uint8_t* in, size_t len, uint8_t* out, size_t cap) = 0;
  // Decompresses into out (capacity cap); returns the decompressed size. Throws NativeError on corrupt input.
  virtual size_t decompress(const uint8_t* in, size_t len, uint8_t* out, size_t cap) = 0;
  // The payload of the compressor options metadata block, empty when the options are the defaults.
  virtual std::vector<uint8_t> options_block() const = 0;
  // A one-line description for --version / reports, e.g. "gzip (libdeflate 1.14) level 9".
  virtual std::string describe() const = 0;
  // As fast as the incompressibility test itself (compress/incompressible.h): the test is then not worth it.
  virtual bool fast() const { return false; }
};

struct CompressorFactory {
  const char* name;
  uint16_t id;  // SquashFS superblock compressor id
  // Validates cfg and builds an instance; throws NativeError("EINVAL") with a readable message.
  std::unique_ptr<Compressor> (*make)(const CompressorConfig& cfg);
  const char* library_version;  // e.g. "libdeflate 1.14"
  int default_level;            // the level used when none is given (-1: the compressor has none)
};

// Registration happens from each compressor's own file through a static CompressorRegistration.
struct CompressorRegistration {
  explicit CompressorRegistration(const CompressorFactory& f);
};

const CompressorFactory* find_compressor(const std::string& name);
std::vector<const CompressorFactory*> all_compressors();
uint16_t compressor_id(const std::string& name);
std::unique_ptr<Compressor> make_compressor(const CompressorConfig& cfg);

// Throws NativeError("EINVAL") for an option key that is not in `allowed` (listed in the message).
void check_option_keys(const CompressorConfig& cfg, const std::vector<std::string>& allowed);
// Parses an integer option; throws NativeError("EINVAL") naming the option when it is not an integer in [lo, hi].
long option_int(const CompressorConfig& cfg, const std::string& key, long dflt, long lo, long hi);
// A boolean option: "", "1", "true", "yes", "on" are true; "0", "false", "no", "off" false; anything else EINVAL.
bool option_bool(const CompressorConfig& cfg, const std::string& key, bool dflt);
// The raw string of an option, or dflt when it is absent.
std::string option_str(const CompressorConfig& cfg, const std::string& key, const std::string& dflt);

}  // namespace casper
