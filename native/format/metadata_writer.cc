#include "format/metadata_writer.h"

#include "format/constants.h"

#include <algorithm>

#include "util/bytes.h"

namespace casper {

void MetadataWriter::write(const void* p, size_t n) {
  const uint8_t* b = static_cast<const uint8_t*>(p);
  while (n > 0) {
    size_t take = std::min(n, kMetadataSize - cur_.size());
    cur_.insert(cur_.end(), b, b + take);
    b += take;
    n -= take;
    if (cur_.size() == kMetadataSize) flush_block();
  }
}

void MetadataWriter::finish() {
  if (!cur_.empty()) flush_block();
}

void MetadataWriter::flush_block() {
  scratch_.resize(kMetadataSize);
  size_t n = comp_.compress(cur_.data(), cur_.size(), scratch_.data(), cur_.size() - 1);
  starts_.push_back(uint32_t(out_.size()));
  uint8_t hdr[2];
  if (n == 0 || n >= cur_.size()) {
    store_u16(hdr, metadata_header(cur_.size(), true));  // stored raw: compression did not shrink it
    out_.insert(out_.end(), hdr, hdr + 2);
    out_.insert(out_.end(), cur_.begin(), cur_.end());
  } else {
    store_u16(hdr, metadata_header(n, false));
    out_.insert(out_.end(), hdr, hdr + 2);
    out_.insert(out_.end(), scratch_.begin(), scratch_.begin() + long(n));
  }
  cur_.clear();
}

}  // namespace casper
