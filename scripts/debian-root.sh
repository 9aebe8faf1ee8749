#!/usr/bin/env bash
# debian-root.sh NAME [PACKAGE...]
# Prints the path of a Debian bullseye (glibc 2.31) root made with debootstrap --variant=minbase, with PACKAGEs
# added by apt inside it. Roots are cached under $CASPER_ROOT_CACHE (default /var/tmp/casper-roots) in a
# directory named NAME-HASH, where HASH covers this script's version, the suite, the mirror and the package
# list: a changed list makes a new root, an unchanged one is reused (a minbase root takes minutes to fetch).
# Needs root, debootstrap and the Debian mirror (read from /etc/apt/sources.list.d/debian.sources unless
# CASPER_DEBIAN_MIRROR is set). Exits 3 (with a message on stderr) when debootstrap or the mirror is missing,
# so callers can tell "cannot be made here" from a real failure. Callers never write into a root: it is shared by
# every checkout and build on the machine (scripts/build-prebuilt.sh compiles through a read-only view of it).
set -euo pipefail
VERSION=1
SUITE=${CASPER_DEBIAN_SUITE:-bullseye}
CACHE=${CASPER_ROOT_CACHE:-/var/tmp/casper-roots}
NAME=${1:?usage: debian-root.sh NAME [PACKAGE...]}
shift
PKGS=("$@")

mirror=${CASPER_DEBIAN_MIRROR:-}
if [ -z "$mirror" ] && [ -r /etc/apt/sources.list.d/debian.sources ]; then
  mirror=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
fi
mirror=${mirror:-http://deb.debian.org/debian}

if [ "$(id -u)" -ne 0 ]; then echo "debian-root.sh: needs root (debootstrap, chroot)" >&2; exit 3; fi
if ! command -v debootstrap >/dev/null; then echo "debian-root.sh: debootstrap is not installed" >&2; exit 3; fi

hash_of() { printf '%s\n' "$@" | sha256sum | cut -c1-16; }
base="$CACHE/$SUITE-minbase-$(hash_of "$VERSION" "$SUITE" "$mirror")"
if [ ${#PKGS[@]} -eq 0 ]; then root=$base; else root="$CACHE/$NAME-$(hash_of "$VERSION" "$SUITE" "$mirror" "${PKGS[@]}")"; fi
# Made once, then only read: a root that is ready is used without waiting for the lock (another root may be
# being made under it); one that is not is made under the lock, in NAME.tmp, and renamed when complete.
if [ -e "$root/.casper-ready" ]; then
  echo "$root"
  exit 0
fi
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9

# The minbase root every variant starts from.
if [ ! -e "$base/.casper-ready" ]; then
  rm -rf "$base.tmp"
  if ! debootstrap --variant=minbase "$SUITE" "$base.tmp" "$mirror" >"$CACHE/debootstrap.log" 2>&1; then
    tail -5 "$CACHE/debootstrap.log" >&2
    rm -rf "$base.tmp"
    if ! grep -q 'Retrieving Release' "$CACHE/debootstrap.log" || grep -qi 'Failed getting release file\|Temporary failure\|Could not resolve\|unable to fetch' "$CACHE/debootstrap.log"; then
      echo "debian-root.sh: the mirror $mirror cannot be reached" >&2
      exit 3
    fi
    exit 1
  fi
  # Keep the root small: no downloaded packages left behind.
  rm -f "$base.tmp"/var/cache/apt/archives/*.deb
  touch "$base.tmp/.casper-ready"
  mv "$base.tmp" "$base"
fi
if [ ${#PKGS[@]} -eq 0 ]; then
  echo "$base"
  exit 0
fi

if [ ! -e "$root/.casper-ready" ]; then
  rm -rf "$root.tmp"
  cp -a "$base" "$root.tmp"
  rm -f "$root.tmp/.casper-ready"
  mount -t proc proc "$root.tmp/proc"
  trap 'umount "$root.tmp/proc" 2>/dev/null || true' EXIT
  if ! chroot "$root.tmp" env DEBIAN_FRONTEND=noninteractive PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    sh -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends "$@"' sh "${PKGS[@]}" >"$CACHE/$NAME.log" 2>&1; then
    tail -20 "$CACHE/$NAME.log" >&2
    exit 1
  fi
  chroot "$root.tmp" apt-get clean
  umount "$root.tmp/proc"
  trap - EXIT
  touch "$root.tmp/.casper-ready"
  mv "$root.tmp" "$root"
fi
echo "$root"
