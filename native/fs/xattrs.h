// Every extended attribute of one name, read with the l* calls (never following a symlink).
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace casper {

// Reads all (name, value) pairs of `lpath` (see at_path()), in the order the filesystem lists them.
// Returns 0, or the errno of the failing call (ENOTSUP: the filesystem has no xattrs; the list is empty).
// An attribute removed between listing and reading is left out.
int read_xattrs(const std::string& lpath, std::vector<std::pair<std::string, std::string>>& out);

}  // namespace casper
