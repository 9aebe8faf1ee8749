#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "compress/compressor.h"
#include "util/error.h"

namespace casper {

namespace {
std::vector<const CompressorFactory*>& registry() {
  static std::vector<const CompressorFactory*> r;
  return r;
}
}  // namespace

CompressorRegistration::CompressorRegistration(const CompressorFactory& f) {
  registry().push_back(&f);
  std::sort(registry().begin(), registry().end(), [](auto* a, auto* b) { return a->id < b->id; });
}

const CompressorFactory* find_compressor(const std::string& name) {
  for (auto* f : registry())
    if (name == f->name) return f;
  return nullptr;
}

std::vector<const CompressorFactory*> all_compressors() { return registry(); }

uint16_t compressor_id(const std::string& name) {
  auto* f = find_compressor(name);
  return f ? f->id : 0;
}

std::unique_ptr<Compressor> make_compressor(const CompressorConfig& cfg) {
  auto* f = find_compressor(cfg.name);
  if (!f) {
    std::string known;
    for (auto* k : registry()) known += (known.empty() ? "" : ", ") + std::string(k->name);
    if (cfg.name == "lzma")
      throw NativeError("EINVAL", "compressor 'lzma' (LZMA1) is refused: the Linux kernel cannot mount it; use xz");
    throw NativeError("EINVAL", "unknown compressor '" + cfg.name + "' (available: " + known + ")");
  }
  return f->make(cfg);
}

void check_option_keys(const CompressorConfig& cfg, const std::vector<std::string>& allowed) {
  for (auto& [k, v] : cfg.options) {
    if (std::find(allowed.begin(), allowed.end(), k) != allowed.end()) continue;
    std::string list;
    for (auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
    throw NativeError("EINVAL", cfg.name + " has no option '" + k + "'" +
                                    (allowed.empty() ? " (it takes none)" : " (it takes: " + list + ")"));
  }
}

long option_int(const CompressorConfig& cfg, const std::string& key, long dflt, long lo, long hi) {
  auto it = cfg.options.find(key);
  if (it == cfg.options.end()) return dflt;
  char* end = nullptr;
  long v = std::strtol(it->second.c_str(), &end, 10);
  if (it->second.empty() || *end != '\0' || v < lo || v > hi)
    throw NativeError("EINVAL", cfg.name + " " + key + " must be an integer from " + std::to_string(lo) + " to " +
                                    std::to_string(hi) + ", got '" + it->second + "'");
  return v;
}

bool option_bool(const CompressorConfig& cfg, const std::string& key, bool dflt) {
  auto it = cfg.options.find(key);
  if (it == cfg.options.end()) return dflt;
  std::string v = it->second;
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  if (v.empty() || v == "1" || v == "true" || v == "yes" || v == "on") return true;
  if (v == "0" || v == "false" || v == "no" || v == "off") return false;
  throw NativeError("EINVAL", cfg.name + " " + key + " must be true or false, got '" + it->second + "'");
}

std::string option_str(const CompressorConfig& cfg, const std::string& key, const std::string& dflt) {
  auto it = cfg.options.find(key);
  return it == cfg.options.end() ? dflt : it->second;
}

}  // namespace casper
