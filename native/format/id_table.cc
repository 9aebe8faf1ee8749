#include "format/id_table.h"

#include "util/bytes.h"
#include "util/error.h"

namespace casper {

uint16_t IdTable::index_of(uint32_t id) {
  auto it = index_.find(id);
  if (it != index_.end()) return it->second;
  // The superblock counts ids in a u16 (no_ids), so 65,536 ids would be stored as 0 and the kernel refuses
  // the image ("unable to read id index table"): 65,535 is the real limit, although the u16 indexes in the
  // inodes could address one more.
  if (ids_.size() >= kMaxIds)
    throw NativeError(
        "ESQUASH_LIMIT",
        "65536 or more distinct uids/gids: a SquashFS image holds at most 65535 (its superblock counts them "
        "in 16 bits); use -all-root or -force-uid/-force-gid");
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
