// Listing a directory held by a descriptor, shared by the walker and the tree comparer's directory side.
#pragma once
#include <string>
#include <vector>

namespace casper {

// The names in a directory held by fd ("." and ".." left out), in the order readdir gives them. The fd is
// not moved (a duplicate is read). Returns 0 or the errno of the failure.
int list_dir(int fd, std::vector<std::string>& out);

}  // namespace casper
