#!/usr/bin/env bash
# Makes (once) the Debian bookworm live system that test/vm-persistence.test.ts boots under QEMU, and prints
# the directory holding it: root/ (the system, without the project's .deb: that is layered on per run),
# vmlinuz and initrd.img (the distribution's kernel and an initramfs with the distribution's live-boot).
# debootstrap minbase, then in ONE apt call the kernel, live-boot and what a booted systemd needs. The
# kernel's and live-boot's package scripts would each rebuild the initramfs (minutes each under load):
# update-initramfs is diverted to a no-op while apt runs and run once afterwards, with only the modules a
# virtio disk, ext4, squashfs and overlayfs need (small and fast to build and to unpack under TCG).
# The result is cached under $CASPER_VM_WORK (default /var/tmp/casper-vm) in a directory named by a hash of
# the suite, the package list and this script's own text; it is built in a temporary directory and renamed
# into place, under a lock, so two runs at once build it once and never share a half-built tree.
#
#   scripts/vm-root.sh            # prints the directory (builds it first when missing)
#   scripts/vm-root.sh --key      # prints the cache key only
#
# Exit status 3 means it cannot be made here (not root, no debootstrap, mirror unreachable).
set -euo pipefail
SUITE=bookworm
PACKAGES="linux-image-amd64 live-boot live-boot-initramfs-tools systemd-sysv udev dbus kmod procps attr passwd util-linux mount"
# Modules the initramfs carries besides what live-boot's hook adds: the virtio disk, the medium's filesystem,
# the live layers.
INITRD_MODULES="virtio_pci virtio_blk ext4 squashfs overlay loop"
WORK=${CASPER_VM_WORK:-/var/tmp/casper-vm}
self=$(readlink -f "$0")
key=$( { echo "$SUITE"; echo "$PACKAGES"; cat "$self"; } | sha256sum | cut -c1-16)
if [[ ${1:-} == --key ]]; then echo "$key"; exit 0; fi
dir="$WORK/live-$SUITE-$key"
if [[ -f $dir/.complete ]]; then echo "$dir"; exit 0; fi

if [[ $(id -u) -ne 0 ]]; then echo "vm-root: needs root (debootstrap, chroot)" >&2; exit 3; fi
command -v debootstrap >/dev/null || { echo "vm-root: debootstrap is not installed (scripts/install-system-deps.sh)" >&2; exit 3; }
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
flock 9
if [[ -f $dir/.complete ]]; then echo "$dir"; exit 0; fi
tmp=$(mktemp -d "$WORK/.build-$key.XXXXXX")
r=$tmp/root
cleanup() {
  for m in "$r/proc" "$r/sys" "$r/dev/pts"; do mountpoint -q "$m" 2>/dev/null && umount -l "$m"; done
  rm -rf "$tmp"
}
trap cleanup EXIT
t0=$SECONDS
echo "vm-root: debootstrap $SUITE (minbase) from $mirror into $tmp" >&2
if ! debootstrap --variant=minbase "$SUITE" "$r" "$mirror" >"$tmp/debootstrap.log" 2>&1; then
  tail -20 "$tmp/debootstrap.log" >&2
  if grep -qiE 'Failed getting release file|Couldn.t download|Temporary failure|unable to resolve|Connection refused|Network is unreachable' "$tmp/debootstrap.log"; then
    echo "vm-root: the mirror $mirror cannot be reached" >&2
    exit 3
  fi
  echo "vm-root: debootstrap failed" >&2
  exit 1
fi
echo "vm-root: debootstrap took $((SECONDS - t0)) s" >&2

t1=$SECONDS
mount -t proc proc "$r/proc"
mount -t sysfs sysfs "$r/sys"
# No service starts inside the chroot while packages install.
printf '#!/bin/sh\nexit 101\n' >"$r/usr/sbin/policy-rc.d"
chmod 755 "$r/usr/sbin/policy-rc.d"
# One initramfs build instead of one per package that asks for it.
chroot "$r" dpkg-divert --quiet --local --rename --add /usr/sbin/update-initramfs
printf '#!/bin/sh\necho "update-initramfs: deferred by vm-root.sh"\n' >"$r/usr/sbin/update-initramfs"
chroot "$r" chmod 755 /usr/sbin/update-initramfs
in_root() { chroot "$r" env -i DEBIAN_FRONTEND=noninteractive LANG=C PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }
# shellcheck disable=SC2086
if ! in_root sh -c "apt-get update -qq && apt-get install -y -qq --no-install-recommends $PACKAGES" >"$tmp/apt.log" 2>&1; then
  tail -30 "$tmp/apt.log" >&2
  echo "vm-root: apt-get install in the root failed" >&2
  exit 1
fi
echo "vm-root: apt-get install took $((SECONDS - t1)) s" >&2

t2=$SECONDS
rm -f "$r/usr/sbin/update-initramfs"
chroot "$r" dpkg-divert --quiet --local --rename --remove /usr/sbin/update-initramfs
sed -i 's/^MODULES=.*/MODULES=list/' "$r/etc/initramfs-tools/initramfs.conf"
printf '%s\n' $INITRD_MODULES >>"$r/etc/initramfs-tools/modules"
version=$(ls "$r/lib/modules" | sort -V | tail -1)
if ! in_root update-initramfs -c -k "$version" >"$tmp/initramfs.log" 2>&1; then
  tail -30 "$tmp/initramfs.log" >&2
  echo "vm-root: update-initramfs failed" >&2
  exit 1
fi
echo "vm-root: update-initramfs took $((SECONDS - t2)) s" >&2
rm -f "$r/usr/sbin/policy-rc.d"
umount "$r/sys" "$r/proc"

# The kernel and initramfs beside the root (the medium's live/vmlinuz and live/initrd.img, and QEMU's
# -kernel/-initrd); the initramfs is a build product, not part of the live root.
cp "$r/boot/vmlinuz-$version" "$tmp/vmlinuz"
mv "$r/boot/initrd.img-$version" "$tmp/initrd.img"
rm -f "$r/initrd.img" "$r/initrd.img.old"
# A short, quiet boot: no package caches, no login prompts, no timers, nothing that waits for a network.
rm -rf "$r"/var/cache/apt/archives/*.deb "$r"/var/lib/apt/lists/*
for u in getty@.service serial-getty@.service console-getty.service getty.target systemd-networkd-wait-online.service \
         apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer dpkg-db-backup.timer; do
  ln -sf /dev/null "$r/etc/systemd/system/$u"
done
echo casper-vm >"$r/etc/hostname"
: >"$r/etc/machine-id" # a live medium carries no identity; systemd makes one at each boot
echo "$version" >"$tmp/kernel-version"
touch "$tmp/.complete"
rm -rf "$dir"
mv "$tmp" "$dir"
trap - EXIT
echo "vm-root: built in $((SECONDS - t0)) s" >&2
echo "$dir"
