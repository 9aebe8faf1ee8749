// The addon's version, checked against package.json by the test suite.
#pragma once

namespace casper {
constexpr const char* kAddonVersion = "0.1.0";
}  // namespace casper
