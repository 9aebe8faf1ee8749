#!/usr/bin/env bash
# Makes (once) the Debian root that test/boot-cycle.test.ts boots with systemd-nspawn, and prints its path.
# debootstrap minbase plus systemd, systemd-sysv, dbus (systemd as PID 1) and attr (setfattr for the session's
# xattrs), libdeflate0 and liblzo2-2 (the addon's codec libraries that a minbase root lacks), from the mirror apt uses. The root is cached under $CASPER_BOOT_WORK (default
# /var/tmp/casper-snapshot-work) in a directory named by a hash of the suite, the package list and this script's
# own text, so any change here makes a new root; older ones can be deleted at will.
#
#   scripts/boot-root.sh            # prints the root's path (builds it first when missing)
#   scripts/boot-root.sh --key      # prints the cache key only
#
# Exit status 3 means the root cannot be made here (no debootstrap, mirror unreachable); the test skips then.
set -euo pipefail
SUITE=bookworm
PACKAGES=systemd,systemd-sysv,dbus,attr,libdeflate0,liblzo2-2
WORK=${CASPER_BOOT_WORK:-/var/tmp/casper-snapshot-work}
self=$(readlink -f "$0")
key=$( { echo "$SUITE"; echo "$PACKAGES"; cat "$self"; } | sha256sum | cut -c1-16)
if [[ ${1:-} == --key ]]; then echo "$key"; exit 0; fi
dir="$WORK/$SUITE-$key"
if [[ -f $dir/.complete ]]; then echo "$dir/root"; exit 0; fi

command -v debootstrap >/dev/null || { echo "boot-root: debootstrap is not installed (scripts/install-system-deps.sh)" >&2; exit 3; }
mirror=
for f in /etc/apt/sources.list.d/*.sources; do
  [[ -f $f ]] || continue
  mirror=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' "$f")
  [[ -n $mirror ]] && break
done
if [[ -z $mirror && -f /etc/apt/sources.list ]]; then
  mirror=$(awk '$1 == "deb" && $2 !~ /^\[/ && $2 !~ /security/ { print $2; exit }' /etc/apt/sources.list)
fi
mirror=${mirror:-http://deb.debian.org/debian}

mkdir -p "$WORK"
exec 9>"$WORK/.lock-$key"
flock 9   # two runs at once build it once
if [[ -f $dir/.complete ]]; then echo "$dir/root"; exit 0; fi
rm -rf "$dir"
mkdir -p "$dir"
echo "boot-root: debootstrap $SUITE ($PACKAGES) from $mirror into $dir/root" >&2
if ! debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$dir/root" "$mirror" >"$dir/debootstrap.log" 2>&1; then
  tail -20 "$dir/debootstrap.log" >&2
  if grep -qiE 'Failed getting release file|Couldn.t download|Temporary failure|unable to resolve|Connection refused|Network is unreachable' "$dir/debootstrap.log"; then
    echo "boot-root: the mirror $mirror cannot be reached" >&2
    exit 3
  fi
  echo "boot-root: debootstrap failed (log: $dir/debootstrap.log)" >&2
  exit 1
fi
r=$dir/root
# A short boot: no package caches, no login prompts, nothing that waits for a network.
rm -rf "$r"/var/cache/apt/archives/*.deb "$r"/var/lib/apt/lists/*
for u in getty@.service console-getty.service serial-getty@.service systemd-networkd-wait-online.service \
         systemd-timesyncd.service apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer \
         e2scrub_reap.service fstrim.timer systemd-update-utmp.service systemd-update-utmp-runlevel.service \
         systemd-logind.service getty.target; do
  ln -sf /dev/null "$r/etc/systemd/system/$u"
done
echo casper-boot > "$r/etc/hostname"
: > "$r/etc/machine-id"   # a live medium carries no identity; systemd makes one at each boot
touch "$dir/.complete"
echo "$r"
