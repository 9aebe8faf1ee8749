#!/usr/bin/env bash
# Builds prebuilds/linux-x64/casper_snapshot.node: the addon as shipped in the npm package.
# - Compiled in a Debian bullseye root (glibc 2.31, the level of Ubuntu 20.04), made by debootstrap and cached
#   by scripts/debian-root.sh, so the result needs at most GLIBC_2.31 and loads on Ubuntu 20.04+ / Debian 11+.
# - The compression libraries and the C++ runtime are linked statically (Debian's .a files are built -fPIC):
#   the addon needs only libc, libm, libpthread, libdl and the dynamic loader.
# - Node is not needed inside the root: the sources, build-config.json, node-api-headers and node-addon-api
#   are copied in and compiled with g++ and make (bullseye's cmake, 3.18, is older than CMakeLists.txt needs).
# Needs root, debootstrap and the Debian mirror. Usage: scripts/build-prebuilt.sh [OUTPUT]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-prebuilds/linux-x64/casper_snapshot.node}
if [ "$(uname -m)" != x86_64 ]; then echo "build-prebuilt.sh: builds the linux-x64 prebuilt only (this is $(uname -m))" >&2; exit 3; fi
root=$(bash scripts/debian-root.sh bullseye-build g++ make libzstd-dev liblzma-dev liblz4-dev libdeflate-dev liblzo2-dev)

work="$root/build/casper"
rm -rf "$work"
mkdir -p "$work/include/node-api-headers" "$work/include/node-addon-api"
cp -a native build-config.json "$work/"
cp -a node_modules/node-api-headers/include/. "$work/include/node-api-headers/"
cp -a node_modules/node-addon-api/*.h "$work/include/node-addon-api/"

# A Makefile from build-config.json: the same sources, defines and libraries as CMakeLists.txt and binding.gyp.
node -e '
const c = require("./build-config.json");
const objs = c.sources.map((s) => "obj/" + s.replace(/\.cc$/, ".o"));
const defs = [...c.defines, "NODE_GYP_MODULE_NAME=" + c.target, "BUILDING_NODE_EXTENSION", "NDEBUG"].map((d) => "-D" + d).join(" ");
const libs = c.libraries.map((l) => "-l" + l).join(" ");
process.stdout.write([
  "CXXFLAGS = -std=c++17 -O3 -fPIC -fvisibility=hidden " + c.warnings.join(" ") + " " + defs +
    " -Inative -Iinclude/node-api-headers -Iinclude/node-addon-api",
  "LDFLAGS = -shared -static-libstdc++ -static-libgcc -Wl,--exclude-libs,ALL -Wl,-z,noexecstack",
  // The codecs from their .a files; everything after -Bdynamic (libc, libm, libpthread) stays shared.
  "LIBS = -Wl,-Bstatic " + libs + " -Wl,-Bdynamic -lpthread -lm",
  "all: " + c.target + ".node",
  c.target + ".node: " + objs.join(" "),
  "\tg++ $(LDFLAGS) -o $@ $^ $(LIBS)",
  "obj/%.o: %.cc",
  "\t@mkdir -p $(dir $@)",
  "\tg++ $(CXXFLAGS) -c $< -o $@",
  "",
].join("\n"));
' >"$work/Makefile"

chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin make -s -C /build/casper -j"$(nproc)"
mkdir -p "$(dirname "$out")"
strip --strip-unneeded -o "$out" "$work/casper_snapshot.node"
rm -rf "$work"
echo "$out"
