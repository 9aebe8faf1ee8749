#include "format/metadata_stream.h"

#include <algorithm>

#include "format/constants.h"
#include "util/bytes.h"
#include "util/clock.h"
#include "util/error.h"

namespace casper {

void MetadataStream::write(const void* p, size_t n) {
  const uint8_t* b = static_cast<const uint8_t*>(p);
  raw_.insert(raw_.end(), b, b + n);
}

void MetadataStream::write(const std::vector<uint8_t>& rec, const std::vector<StartField>& fields,
                           const MetadataStream* target) {
  for (const StartField& f : fields) patches_.push_back(Patch{raw_.size() + f.at, target, f.block});
  write(rec);
}

// The schedule of compress_streams(): which blocks each wave holds, and the bookkeeping of what is done.
class StreamCompressor {
 public:
  explicit StreamCompressor(const std::vector<MetadataStream*>& s)
      : s_(s), next_(s.size(), 0), need_(s.size()), patches_(s.size()) {
    for (size_t i = 0; i < s_.size(); i++) {
      MetadataStream& m = *s_[i];
      m.out_.clear();
      m.starts_.clear();
      const uint32_t n = m.blocks();
      need_[i].assign(size_t(n) * s_.size(), 0);
      patches_[i].resize(n);
      for (size_t p = 0; p < m.patches_.size(); p++) {
        const MetadataStream::Patch& pt = m.patches_[p];
        const size_t t = index_of(pt.target);
        if (pt.at + 4 > m.raw_.size())
          throw NativeError("EINVAL", "internal: a metadata patch past the end of its stream");
        for (uint64_t k = pt.at / kMetadataSize; k <= (pt.at + 3) / kMetadataSize; k++) {
          uint32_t& want = need_[i][k * s_.size() + t];
          want = std::max(want, pt.block);
          patches_[i][k].push_back(p);
        }
      }
      // Blocks are taken in order: a block waits for whatever any block before it waits for.
      for (uint32_t k = 1; k < n; k++)
        for (size_t t = 0; t < s_.size(); t++)
          need_[i][k * s_.size() + t] = std::max(need_[i][k * s_.size() + t], need_[i][(k - 1) * s_.size() + t]);
    }
  }

  // The next wave: every block not yet taken whose patches can be filled in. Empty when all are done.
  std::vector<std::pair<size_t, uint32_t>> wave() {
    std::vector<std::pair<size_t, uint32_t>> w;
    bool left = false;
    for (size_t i = 0; i < s_.size(); i++) {
      const uint32_t n = s_[i]->blocks();
      while (next_[i] < n && ready(i, next_[i])) w.emplace_back(i, next_[i]++);
      left |= next_[i] < n;
    }
    if (w.empty() && left)
      throw NativeError("EINVAL", "internal: metadata references that no order of compression can fill in");
    return w;
  }

  // Before a wave is compressed: its blocks' patches get the starts they hold (all known by now).
  void fill(const std::vector<std::pair<size_t, uint32_t>>& w) {
    for (auto [i, k] : w) {
      MetadataStream& m = *s_[i];
      for (size_t p : patches_[i][k]) {
        const MetadataStream::Patch& pt = m.patches_[p];
        store_u32(m.raw_.data() + pt.at, pt.target->start_of(pt.block));
      }
    }
  }

  // After a wave: its stored blocks go to their streams' output, in order.
  void append(const std::vector<std::pair<size_t, uint32_t>>& w, std::vector<std::vector<uint8_t>>& stored) {
    for (size_t j = 0; j < w.size(); j++) {
      MetadataStream& m = *s_[w[j].first];
      m.starts_.push_back(uint32_t(m.out_.size()));
      m.out_.insert(m.out_.end(), stored[j].begin(), stored[j].end());
    }
  }

  static void compress_block(Compressor& comp, const MetadataStream& m, uint32_t k, std::vector<uint8_t>& out) {
    const uint8_t* in = m.raw_.data() + size_t(k) * kMetadataSize;
    const size_t len = std::min<size_t>(kMetadataSize, m.raw_.size() - size_t(k) * kMetadataSize);
    out.resize(2 + kMetadataSize);
    const size_t n = len > 1 ? comp.compress(in, len, out.data() + 2, len - 1) : 0;
    if (n == 0 || n >= len) {
      store_u16(out.data(), metadata_header(len, true));  // stored raw: compression did not shrink it
      std::copy(in, in + len, out.begin() + 2);
      out.resize(2 + len);
    } else {
      store_u16(out.data(), metadata_header(n, false));
      out.resize(2 + n);
    }
  }

  const MetadataStream& stream(size_t i) const { return *s_[i]; }

 private:
  size_t index_of(const MetadataStream* t) const {
    for (size_t i = 0; i < s_.size(); i++)
      if (s_[i] == t) return i;
    throw NativeError("EINVAL", "internal: a metadata patch refers to a stream not being compressed with it");
  }
  // Block k of stream i can be compressed once every stream t has its first need blocks done (their starts known).
  bool ready(size_t i, uint32_t k) const {
    for (size_t t = 0; t < s_.size(); t++)
      if (s_[t]->starts_.size() < need_[i][size_t(k) * s_.size() + t]) return false;
    return true;
  }

  const std::vector<MetadataStream*>& s_;
  std::vector<uint32_t> next_;  // per stream: the next block to take
  std::vector<std::vector<uint32_t>>
      need_;  // [stream][block * streams + target]: blocks of target that must be done first
  std::vector<std::vector<std::vector<size_t>>> patches_;  // [stream][block]: the patches touching it
};

StreamStats compress_streams(const std::vector<MetadataStream*>& streams, ThreadTeam& team,
                             const std::function<std::unique_ptr<Compressor>()>& make,
                             const std::function<void()>& between_waves) {
  StreamCompressor sc(streams);
  std::vector<std::unique_ptr<Compressor>> comps(team.size());
  StreamStats st;
  for (;;) {
    std::vector<std::pair<size_t, uint32_t>> w = sc.wave();
    if (w.empty()) break;
    if (between_waves) between_waves();
    sc.fill(w);
    std::vector<std::vector<uint8_t>> stored(w.size());
    std::vector<uint64_t> cpu(w.size(), 0);
    team.run(w.size(), [&](size_t j, unsigned member) {
      if (!comps[member]) comps[member] = make();
      const uint64_t t0 = thread_cpu_ns();
      StreamCompressor::compress_block(*comps[member], sc.stream(w[j].first), w[j].second, stored[j]);
      cpu[j] = thread_cpu_ns() - t0;
      if (member == 0) st.caller_cpu_ns += cpu[j];
    });
    sc.append(w, stored);
    st.blocks += w.size();
    st.waves++;
    uint64_t longest = 0;
    for (uint64_t c : cpu) {
      st.cpu_ns += c;
      longest = std::max(longest, c);
    }
    st.critical_ns += longest;
  }
  return st;
}

}  // namespace casper
