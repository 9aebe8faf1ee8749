#!/usr/bin/env bash
# npm run package: the single executable dist-bin/casper-snapshot and the Debian package
# dist-bin/casper-snapshot_<version>_amd64.deb that installs it.
# The executable is Node's single executable application (SEA, Node 20): a copy of this machine's node with
# the bundled CLI (scripts/build-bundles.mjs sea) injected by postject, and the prebuilt addon (built in a
# bullseye root by scripts/build-prebuilt.sh: glibc 2.31, the source build's codecs linked statically; reused
# from its cache when nothing changed), the worker and piscina's worker shell as assets. Needs root,
# debootstrap and the Debian mirror (for the prebuilt), and dpkg-deb.
# Everything is made in a directory of this run's own, outside the checkout; dist-bin/ gets the two results
# only once both are made, each renamed into place (two runs at once, in one checkout or two, never share a
# half-made file; a failed run leaves dist-bin/ as it was).
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(node -p 'require("./package.json").version')
work=$(mktemp -d "${TMPDIR:-/var/tmp}/casper-package.XXXXXX")
trap 'rm -rf "$work"' EXIT
sea=$work/sea
mkdir -p "$sea"

bash scripts/build-prebuilt.sh "$sea/casper_snapshot.node" >/dev/null
codecs=$(dpkg-query -W -f='${Package} ${Version}, ' libdeflate-dev liblzma-dev liblz4-dev libzstd-dev liblzo2-dev | sed 's/-dev / /g; s/, $//')
node scripts/build-bundles.mjs sea "$sea"
cat >"$sea/sea-config.json" <<JSON
{
  "main": "$sea/main.cjs",
  "output": "$sea/sea-prep.blob",
  "disableExperimentalSEAWarning": true,
  "assets": {
    "casper_snapshot.node": "$sea/casper_snapshot.node",
    "worker.cjs": "$sea/worker.cjs",
    "worker.js": "$sea/worker.js"
  }
}
JSON
node --experimental-sea-config "$sea/sea-config.json" >/dev/null
bin=$work/casper-snapshot
cp "$(command -v node)" "$bin"
chmod u+w "$bin"
# The annobin build notes of Debian's node make binutils print a dozen "Can't find string offset for section
# name '.note.100'" warnings while stripping; they describe the build only, so they go with the symbols.
strip --strip-all --remove-section=.gnu.build.attributes "$bin"
# postject (LIEF) says once that the stripped binary's string table has no name for the note it adds; the
# executable runs (checked below), so that one line is dropped and anything else it says is kept.
node node_modules/postject/dist/cli.js "$bin" NODE_SEA_BLOB "$sea/sea-prep.blob" \
  --sentinel-fuse NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2 2>&1 >/dev/null | { grep -v "^warning: Can't find string offset for section name '\.note'$" >&2 || true; }
"$bin" -v >/dev/null

# The .deb: the executable, the man page, the shutdown unit and an example configuration.
deb=$work/deb
install -D -m 0755 "$bin" "$deb/usr/bin/casper-snapshot"
install -d "$deb/usr/share/man/man1"
gzip -9n <man/casper-snapshot.1 >"$deb/usr/share/man/man1/casper-snapshot.1.gz"
install -D -m 0644 systemd/casper-snapshot.service "$deb/lib/systemd/system/casper-snapshot.service"
install -D -m 0644 packaging/casper.conf.example "$deb/usr/share/doc/casper-snapshot/examples/casper.conf"
cat >"$deb/usr/share/doc/casper-snapshot/copyright" <<TXT
casper-snapshot $version
License: GPL-2.0-or-later (/usr/share/common-licenses/GPL-2; the LICENSE file of the source).
The executable contains Node.js (MIT) and statically linked libdeflate (MIT), liblzma (0BSD / public domain),
liblz4 (BSD-2-Clause), libzstd (BSD-3-Clause) and liblzo2 (GPL-2.0-or-later): $codecs.
TXT
size=$(du -sk --exclude=DEBIAN "$deb" | cut -f1)
install -d "$deb/DEBIAN"
# Maintainer scripts: daemon-reload after install; on removal the unit is disabled (and stopped without a
# snapshot on a running system); purge removes what is left under /etc (packaging/deb/).
for s in postinst prerm postrm; do install -m 0755 "packaging/deb/$s" "$deb/DEBIAN/$s"; done
cat >"$deb/DEBIAN/control" <<TXT
Package: casper-snapshot
Version: $version
Architecture: amd64
Maintainer: casper-snapshot developers <dev@casper-snapshot.invalid>
Installed-Size: $size
Depends: libc6 (>= 2.31), libstdc++6, libgcc-s1
Recommends: xorriso
Section: admin
Priority: optional
Homepage: https://casper-snapshot.invalid/
Description: capture a live Ubuntu/Debian session into a SquashFS image
 casper-snapshot saves a live session (the overlay's upper layer, its delta, or
 the whole merged system) or any directory as a SquashFS 4.0 image that the
 kernel mounts. A single executable: Node.js and the native addon are built in.
 casper-snapshot remaster writes a bootable ISO of the session with xorriso.
 Enable casper-snapshot.service to take a snapshot at shutdown (set
 CASPER_SNAPSHOT_OUTPUT in /etc/casper.conf; see
 /usr/share/doc/casper-snapshot/examples/casper.conf).
TXT
debfile=casper-snapshot_${version}_amd64.deb
dpkg-deb --root-owner-group -Zxz --build "$deb" "$work/$debfile" >/dev/null

# Into dist-bin/: each file copied beside its place under a temporary name, then renamed over it. Packages of
# other versions and the tests' build stamp (test/helpers/project-deb.ts) go: they describe an older build.
mkdir -p dist-bin
place() {
  local tmp
  tmp=$(mktemp "dist-bin/.$2.XXXXXX")
  cp "$1" "$tmp"
  chmod "$3" "$tmp"
  mv -f "$tmp" "dist-bin/$2"
}
place "$bin" casper-snapshot 0755
find dist-bin -maxdepth 1 \( -name 'casper-snapshot_*_amd64.deb' ! -name "$debfile" -o -name .built-from \) -delete
place "$work/$debfile" "$debfile" 0644
rm -rf dist-bin/sea dist-bin/deb  # what runs before this one left here
ls -l dist-bin/casper-snapshot "dist-bin/$debfile"
