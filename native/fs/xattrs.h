// Every extended attribute of one name, read without following a symlink.
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace casper {

// Reads all (name, value) pairs of `name` in the directory held by dir_fd ("" for that directory itself), in
// the order the filesystem lists them. The list comes from listxattrat(2) (Linux 6.13+: the held directory
// and one component, no path lookup); older kernels and the values go through at_path(dir_fd, name,
// fallback_path). Returns 0, or the errno of the failing call (ENOTSUP: the filesystem has no xattrs; the
// list is empty). An attribute removed between listing and reading is left out.
// CASPER_SNAPSHOT_NO_LISTXATTRAT=1 in the environment forces the at_path() route (how tests cover old kernels).
int read_xattrs(int dir_fd, const std::string& name, const std::string& fallback_path,
                std::vector<std::pair<std::string, std::string>>& out);

}  // namespace casper
