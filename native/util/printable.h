// Names as they may appear in a message: a file name is bytes any user chose, and a message goes to root's
// terminal and journal. Backslashes, control characters (C0, DEL and C1, which terminals act on) and bytes that
// are not UTF-8 are written as escapes (\\, \n, \t, \ooo), so a name can neither break a line, forge one, nor
// send an escape sequence, and none of its bytes is lost to a replacement character.
#pragma once
#include <string>

namespace casper {

std::string printable(const std::string& s);

}  // namespace casper
