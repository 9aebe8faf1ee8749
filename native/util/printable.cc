#include "util/printable.h"

#include <cstdio>

namespace casper {

namespace {

void escape(std::string& o, unsigned char ch) {
  if (ch == '\\')
    o += "\\\\";
  else if (ch == '\n')
    o += "\\n";
  else if (ch == '\t')
    o += "\\t";
  else {
    char b[8];
    std::snprintf(b, sizeof b, "\\%03o", ch);
    o += b;
  }
}

bool cont(unsigned char c) { return (c & 0xC0) == 0x80; }

// The length of the well-formed UTF-8 sequence at s[i] (2 to 4 bytes) that is not a C1 control, or 0.
size_t sequence(const std::string& s, size_t i) {
  const unsigned char b = static_cast<unsigned char>(s[i]);
  auto at = [&](size_t k) { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0; };
  if (b >= 0xC2 && b <= 0xDF) {
    if (!cont(at(1))) return 0;
    return (((b & 0x1F) << 6) | (at(1) & 0x3F)) < 0xA0 ? 0 : 2;  // U+0080..U+009F: C1 controls
  }
  if (b >= 0xE0 && b <= 0xEF) {
    unsigned char lo = b == 0xE0 ? 0xA0 : 0x80, hi = b == 0xED ? 0x9F : 0xBF;  // no overlongs, no surrogates
    return at(1) >= lo && at(1) <= hi && cont(at(2)) ? 3 : 0;
  }
  if (b >= 0xF0 && b <= 0xF4) {
    unsigned char lo = b == 0xF0 ? 0x90 : 0x80, hi = b == 0xF4 ? 0x8F : 0xBF;
    return at(1) >= lo && at(1) <= hi && cont(at(2)) && cont(at(3)) ? 4 : 0;
  }
  return 0;
}

}  // namespace

std::string printable(const std::string& s) {
  std::string o;
  o.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    unsigned char ch = static_cast<unsigned char>(s[i]);
    if (ch >= 0x20 && ch < 0x7f && ch != '\\') {
      o += char(ch);
      i++;
    } else if (ch < 0x80) {
      escape(o, ch);
      i++;
    } else if (size_t n = sequence(s, i)) {
      o.append(s, i, n);
      i += n;
    } else {
      escape(o, ch);
      i++;
    }
  }
  return o;
}

}  // namespace casper
