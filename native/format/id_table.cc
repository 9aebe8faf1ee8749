#include "format/id_table.h"

#include "util/bytes.h"
#include "util/error.h"

namespace casper {

uint16_t IdTable::index_of(uint32_t id) {
  auto it = index_.find(id);
  if (it != index_.end()) return it->second;
  if (ids_.size() >= 65536)
    throw NativeError("ESQUASH_LIMIT", "more than 65536 distinct uids/gids: SquashFS stores at most 65536 (use -all-root or -force-uid/-force-gid)");
  uint16_t idx = uint16_t(ids_.size());
  ids_.push_back(id);
  index_.emplace(id, idx);
  return idx;
}

std::vector<uint8_t> IdTable::entries() const {
  ByteWriter w;
  for (uint32_t id : ids_) w.u32(id);
  return w.buf;
}

}  // namespace casper
