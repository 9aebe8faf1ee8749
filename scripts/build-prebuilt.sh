#!/usr/bin/env bash
# Builds prebuilds/linux-x64/casper_snapshot.node: the addon as shipped in the npm package, the .deb and the
# single executable.
# - Compiled in a Debian bullseye root (glibc 2.31, the level of Ubuntu 20.04), made by debootstrap and cached
#   by scripts/debian-root.sh, so the result needs at most GLIBC_2.31 and loads on Ubuntu 20.04+ / Debian 11+.
# - The codecs are the ones the source build uses: the static libraries and headers of this machine's -dev
#   packages (libdeflate, liblzma, liblz4, libzstd, liblzo2; scripts/install-system-deps.sh), copied into the
#   root and linked in, so every artefact compresses byte for byte as `npm run build` does. The C++ runtime is
#   linked statically too: the addon needs only libc, libm, libpthread, libdl and the dynamic loader
#   (test/prebuilt.test.ts checks it, with objdump -T).
# - Node is not needed inside the root: the sources, build-config.json, node-api-headers and node-addon-api
#   are copied in and compiled with g++ and make (bullseye's cmake, 3.18, is older than CMakeLists.txt needs).
# - Built once per set of inputs: the result is kept in the root cache ($CASPER_ROOT_CACHE/prebuilt/) under a
#   hash of everything that goes into it (sources, headers, codec libraries, the root's packages, this
#   script), so `npm run package` and `npm pack` (prepack) reuse one build, from any checkout.
# - Builds at once never collide: the cached root is shared and never written (the compiler runs in a private
#   mount namespace, chrooted into a read-only view of it with a tmpfs /tmp), each build's sources and objects
#   are in a directory of its own outside the root (bound on the view's /mnt), and every file it leaves in a
#   shared place (the cache, OUTPUT) is written under a temporary name and renamed into place.
# Needs root, debootstrap and the Debian mirror (for the root). Usage: scripts/build-prebuilt.sh [OUTPUT]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-prebuilds/linux-x64/casper_snapshot.node}
if [ "$(uname -m)" != x86_64 ]; then echo "build-prebuilt.sh: builds the linux-x64 prebuilt only (this is $(uname -m))" >&2; exit 3; fi

# The codecs of the source build: every header and static library of the -dev packages.
DEV_PACKAGES=(libdeflate-dev liblzma-dev liblz4-dev libzstd-dev liblzo2-dev)
codec_files() {
  for p in "${DEV_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
      echo "build-prebuilt.sh: $p is not installed (scripts/install-system-deps.sh)" >&2
      return 3
    fi
    dpkg -L "$p" | grep -E '^/usr/include/.*\.h$|^/usr/lib/x86_64-linux-gnu/[^/]+\.a$'
  done
}
files=$(codec_files) || exit $?
versions=$(dpkg-query -W -f='${Package} ${Version}\n' "${DEV_PACKAGES[@]}")

ROOT_PACKAGES=(g++ make)
inputs_hash=$(
  {
    cat scripts/build-prebuilt.sh build-config.json
    find native -type f | LC_ALL=C sort | xargs sha256sum
    find node_modules/node-api-headers/include node_modules/node-addon-api -maxdepth 1 -name '*.h' | LC_ALL=C sort | xargs sha256sum
    echo "$files" | xargs sha256sum
    echo "${ROOT_PACKAGES[*]} ${CASPER_DEBIAN_SUITE:-bullseye}"
  } | sha256sum | cut -c1-16
)
cache=${CASPER_ROOT_CACHE:-/var/tmp/casper-roots}/prebuilt
cached="$cache/casper_snapshot-$inputs_hash.node"
# OUTPUT replaced whole, never seen half-written (a test or npm pack may be loading the one there).
install_output() {
  mkdir -p "$(dirname "$out")"
  local tmp
  tmp=$(mktemp "$(dirname "$out")/.casper_snapshot.node.XXXXXX")
  cp "$1" "$tmp"
  chmod 0755 "$tmp"
  mv -f "$tmp" "$out"
}
if [ -s "$cached" ]; then
  install_output "$cached"
  echo "build-prebuilt.sh: inputs unchanged, reused $cached" >&2
  echo "$out"
  exit 0
fi

root=$(bash scripts/debian-root.sh bullseye-build "${ROOT_PACKAGES[@]}")
# This build's own directory, outside the shared root; the root is only ever seen through a read-only view.
work=$(mktemp -d "${TMPDIR:-/var/tmp}/casper-prebuilt.XXXXXX")
view=$(mktemp -d "${TMPDIR:-/var/tmp}/casper-prebuilt-view.XXXXXX")
trap 'rm -rf "$work"; rmdir "$view" 2>/dev/null || true' EXIT
mkdir -p "$work/include/node-api-headers" "$work/include/node-addon-api" "$work/deps/include" "$work/deps/lib"
cp -a native build-config.json "$work/"
cp -a node_modules/node-api-headers/include/. "$work/include/node-api-headers/"
cp -a node_modules/node-addon-api/*.h "$work/include/node-addon-api/"
while read -r f; do
  case "$f" in
    /usr/include/*) install -D -m 0644 "$f" "$work/deps/include/${f#/usr/include/}" ;;
    *.a) cp "$f" "$work/deps/lib/" ;;
  esac
done <<<"$files"
echo "$versions" >"$work/deps/VERSIONS"

# A Makefile from build-config.json: the same sources and defines as CMakeLists.txt and binding.gyp, and each
# codec from the copied .a file (by path: the root's own -dev packages, if any, are never picked up).
node -e '
const c = require("./build-config.json");
const objs = c.sources.map((s) => "obj/" + s.replace(/\.cc$/, ".o"));
const defs = [...c.defines, "NODE_GYP_MODULE_NAME=" + c.target, "BUILDING_NODE_EXTENSION", "NDEBUG"].map((d) => "-D" + d).join(" ");
const archive = { deflate: "libdeflate.a", lzma: "liblzma.a", lz4: "liblz4.a", zstd: "libzstd.a", lzo2: "liblzo2.a" };
const libs = c.libraries.map((l) => { if (!archive[l]) throw new Error("no static library known for -l" + l); return "deps/lib/" + archive[l]; }).join(" ");
process.stdout.write([
  "CXXFLAGS = -std=c++17 -O3 -fPIC -fvisibility=hidden " + c.warnings.join(" ") + " " + defs +
    " -Inative -Ideps/include -Iinclude/node-api-headers -Iinclude/node-addon-api",
  // --exclude-libs: the codecs symbols stay private to the addon.
  "LDFLAGS = -shared -static-libstdc++ -static-libgcc -Wl,--exclude-libs,ALL -Wl,-z,noexecstack",
  "LIBS = " + libs + " -lpthread -lm",
  "all: " + c.target + ".node",
  c.target + ".node: " + objs.join(" "),
  "\tg++ $(LDFLAGS) -o $@ $^ $(LIBS)",
  "obj/%.o: %.cc",
  "\t@mkdir -p $(dir $@)",
  "\tg++ $(CXXFLAGS) -c $< -o $@",
  "",
].join("\n"));
' >"$work/Makefile"

# The mounts exist only in this namespace and go with it, whatever happens to the build.
unshare --mount --propagation private env ROOT="$root" VIEW="$view" WORK="$work" JOBS="$(nproc)" sh -euc '
  mount --bind "$ROOT" "$VIEW"
  mount -o remount,bind,ro "$VIEW"
  mount -t tmpfs -o size=1g casper-prebuilt-tmp "$VIEW/tmp"
  mount --bind "$WORK" "$VIEW/mnt"
  exec chroot "$VIEW" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin TMPDIR=/tmp make -s -C /mnt -j"$JOBS"
'
mkdir -p "$cache"
tmp=$(mktemp "$cache/.casper_snapshot-$inputs_hash.XXXXXX")
strip --strip-unneeded -o "$tmp" "$work/casper_snapshot.node"
chmod 0644 "$tmp"
mv -f "$tmp" "$cached"  # atomic: a concurrent build of the same inputs finds a whole file or none
install_output "$cached"
echo "build-prebuilt.sh: built $cached with $(echo "$versions" | tr '\n' ';' | sed 's/;$//; s/;/, /g')" >&2
echo "$out"
