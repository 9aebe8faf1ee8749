#!/usr/bin/env bash
# Makes (once) the small Debian live ISO that test/remaster.test.ts remasters and boots, and prints the
# directory holding it:
#   base.iso     a hybrid BIOS+EFI live medium laid out as Ubuntu's (GRUB for both, xorriso): live/filesystem.squashfs (the VM test's
#                bookworm root, scripts/vm-root.sh, plus root-extra/), live/vmlinuz, live/initrd.img (an
#                initramfs that also carries the CD-ROM drivers), live/filesystem.packages, live/filesystem.size,
#                sha256sum.txt, boot/grub/grub.cfg (boot=live, the kernel's console on ttyS0)
#   root-extra/  what this script adds to the cached root (stack it above that root to get the medium's root):
#                the CD-ROM modules for the initramfs, and a unit that prints /etc/remaster-marker (or "none")
#                and the firmware kind on the serial console, then powers the machine off
#   kernel-version
# The result is cached under $CASPER_VM_WORK (default /var/tmp/casper-vm, beside the root it is made from) in a
# directory named by a hash of the root's key, this script's text and the GRUB and xorriso packages' versions;
# it is built in a temporary directory and renamed into place, under a lock.
#
#   scripts/live-iso.sh          # prints the directory (builds it first when missing)
#   scripts/live-iso.sh --key    # prints the cache key only
#
# Exit status 3 means it cannot be made here (as scripts/vm-root.sh, or GRUB's images, xorriso or mtools missing).
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
WORK=${CASPER_VM_WORK:-/var/tmp/casper-vm}
export CASPER_VM_WORK=$WORK
# The drivers live-boot needs to find the medium on QEMU's IDE CD-ROM (i440fx) and to mount it.
CD_MODULES="ata_piix ata_generic sr_mod cdrom isofs"
LABEL=CASPER_LIVE
versions=$(dpkg-query -W -f='${Package} ${Version}\n' grub-pc-bin grub-efi-amd64-bin grub-common xorriso mtools 2>/dev/null || true)
key=$( { bash "$here/vm-root.sh" --key; echo "$versions"; cat "$(readlink -f "$0")"; } | sha256sum | cut -c1-16)
if [[ ${1:-} == --key ]]; then echo "$key"; exit 0; fi
dir="$WORK/iso-bookworm-$key"
if [[ -f $dir/.complete ]]; then echo "$dir"; exit 0; fi

for t in grub-mkimage xorriso mformat mcopy mksquashfs; do
  command -v "$t" >/dev/null || { echo "live-iso: $t is not installed (scripts/install-system-deps.sh)" >&2; exit 3; }
done
for d in /usr/lib/grub/i386-pc /usr/lib/grub/x86_64-efi; do
  [[ -d $d ]] || { echo "live-iso: $d is missing (grub-pc-bin and grub-efi-amd64-bin, scripts/install-system-deps.sh)" >&2; exit 3; }
done
set +e
vm=$(bash "$here/vm-root.sh")
rc=$?
set -e
if [[ $rc -ne 0 ]]; then exit "$rc"; fi

mkdir -p "$WORK"
exec 9>"$WORK/.lock-iso-$key"
flock 9
if [[ -f $dir/.complete ]]; then echo "$dir"; exit 0; fi
tmp=$(mktemp -d "$WORK/.build-iso-$key.XXXXXX")
cleanup() {
  for m in "$tmp/initrd-root/proc" "$tmp/initrd-root" "$tmp/root"; do mountpoint -q "$m" 2>/dev/null && umount "$m"; done
  rm -rf "$tmp"
}
trap cleanup EXIT
t0=$SECONDS
version=$(cat "$vm/kernel-version")

# What this medium adds to the cached root.
x=$tmp/root-extra
mkdir -p "$x/etc/initramfs-tools" "$x/usr/local/sbin" "$x/etc/systemd/system/multi-user.target.wants"
{ cat "$vm/root/etc/initramfs-tools/modules"; printf '%s\n' $CD_MODULES; } >"$x/etc/initramfs-tools/modules"
cat >"$x/usr/local/sbin/remaster-marker" <<'EOF'
#!/bin/sh
# Prints the remaster test's marker line on the serial console, then powers off.
marker=$(cat /etc/remaster-marker 2>/dev/null || echo none)
if [ -d /sys/firmware/efi ]; then firmware=uefi; else firmware=bios; fi
medium=$(grep ' /run/live/medium ' /proc/mounts | cut -d' ' -f1,3 | head -n 1)
# The medium's checksum files, checked where the kernel mounted it; its package list against the booted root's.
sums=none
for f in sha256sum.txt md5sum.txt; do
  [ -f "/run/live/medium/$f" ] || continue
  if (cd /run/live/medium && "${f%.txt}" -c --quiet "$f" >/tmp/sums.out 2>&1); then sums="$sums,$f:ok"; else sums="$sums,$f:FAILED[$(tr '\n' ' ' </tmp/sums.out)]"; fi
done
if dpkg-query -W | cmp -s - /run/live/medium/live/filesystem.packages; then manifest=same; else manifest=differs; fi
line="CASPER-REMASTER marker=$marker firmware=$firmware medium=[$medium] kernel=$(uname -r) sums=${sums#none,} manifest=$manifest"
echo "$line" >/dev/ttyS0 2>/dev/null || true
echo "$line"
systemctl --no-block poweroff
EOF
chmod 755 "$x/usr/local/sbin/remaster-marker"
cat >"$x/etc/systemd/system/remaster-marker.service" <<'EOF'
[Unit]
Description=remaster test: the marker on the serial console, then power off
After=multi-user.target
[Service]
Type=oneshot
ExecStart=/usr/local/sbin/remaster-marker
StandardOutput=journal+console
[Install]
WantedBy=multi-user.target
EOF
ln -s ../remaster-marker.service "$x/etc/systemd/system/multi-user.target.wants/remaster-marker.service"

# The initramfs, built in a throw-away overlay over the root and root-extra (the cached root is never written).
r=$tmp/initrd-root
mkdir -p "$r" "$tmp/initrd-upper" "$tmp/initrd-work"
mount -t overlay live-iso-initrd -o "lowerdir=$x:$vm/root,upperdir=$tmp/initrd-upper,workdir=$tmp/initrd-work" "$r"
mount -t proc proc "$r/proc"
if ! chroot "$r" env -i LANG=C PATH=/usr/sbin:/usr/bin:/sbin:/bin mkinitramfs -o /tmp/initrd.img "$version" >"$tmp/initramfs.log" 2>&1; then
  tail -30 "$tmp/initramfs.log" >&2
  echo "live-iso: mkinitramfs failed" >&2
  exit 1
fi
umount "$r/proc"
mkdir -p "$tmp/medium/live" "$tmp/medium/boot/grub"
cp "$r/tmp/initrd.img" "$tmp/medium/live/initrd.img"
umount "$r"
rm -rf "$tmp/initrd-upper" "$tmp/initrd-work"
rmdir "$r"
echo "live-iso: initramfs with the CD-ROM drivers made in $((SECONDS - t0)) s" >&2

# The medium's root: the cached root with root-extra above it (a read-only overlay of the two).
t1=$SECONDS
mkdir -p "$tmp/root"
mount -t overlay live-iso-root -o "lowerdir=$x:$vm/root" "$tmp/root"
m=$tmp/medium
# (journald's POSIX ACLs on var/log/journal cannot be stored: mksquashfs says so on stderr, harmlessly.)
mksquashfs "$tmp/root" "$m/live/filesystem.squashfs" -noappend -quiet -no-progress -comp lz4 2>/dev/null
# As live-build writes them: the package list (dpkg-query -W) and the root's size (du -B 1 -s).
dpkg-query --admindir="$tmp/root/var/lib/dpkg" -W >"$m/live/filesystem.packages"
du -B 1 -s "$tmp/root" | cut -f1 >"$m/live/filesystem.size"
umount "$tmp/root"
rmdir "$tmp/root"
cp "$vm/vmlinuz" "$m/live/vmlinuz"
cat >"$m/boot/grub/grub.cfg" <<EOF
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set timeout=1
menuentry "Debian live (remaster test)" {
  linux /live/vmlinuz boot=live components console=ttyS0,115200 panic=10
  initrd /live/initrd.img
}
EOF
# The checksum file over the tree (the boot loader's files, made below, are not listed, as live-build leaves
# its boot loader's files out: xorriso patches the El Torito image as it writes it).
(cd "$m" && find . -type f ! -name sha256sum.txt | LC_ALL=C sort | xargs sha256sum >sha256sum.txt)
echo "live-iso: medium tree made in $((SECONDS - t1)) s" >&2

t2=$SECONDS
# GRUB for both firmwares, laid out as Ubuntu's ISOs are: a BIOS El Torito image (boot_info_table) with GRUB's
# hybrid MBR, an EFI system partition image appended as a GPT partition and named by the second El Torito
# entry, Joliet names. Each GRUB image carries the modules the boot needs; the EFI one finds the medium by a file.
mods="linux normal iso9660 search search_fs_file configfile serial terminal echo test part_msdos part_gpt gzio"
mkdir -p "$m/boot/grub/i386-pc" "$m/.disk"
echo "casper-snapshot remaster test medium" >"$m/.disk/info"
grub-mkimage -O i386-pc-eltorito -p /boot/grub -o "$m/boot/grub/i386-pc/eltorito.img" $mods biosdisk
printf 'search --no-floppy --file --set=root /.disk/info\nset prefix=($root)/boot/grub\nconfigfile $prefix/grub.cfg\n' >"$tmp/efi-embedded.cfg"
grub-mkimage -O x86_64-efi -p /boot/grub -c "$tmp/efi-embedded.cfg" -o "$tmp/bootx64.efi" $mods fat efi_gop
truncate -s 4M "$tmp/efi.img"
mformat -i "$tmp/efi.img" -h 2 -s 32 -t 128 ::
mmd -i "$tmp/efi.img" ::/EFI ::/EFI/BOOT
mcopy -i "$tmp/efi.img" "$tmp/bootx64.efi" ::/EFI/BOOT/BOOTX64.EFI
if ! xorriso -as mkisofs -r -J -joliet-long -l -iso-level 3 -V "$LABEL" \
    --grub2-mbr /usr/lib/grub/i386-pc/boot_hybrid.img -partition_offset 16 --mbr-force-bootable \
    -append_partition 2 28732ac11ff8d211ba4b00a0c93ec93b "$tmp/efi.img" -appended_part_as_gpt \
    -iso_mbr_part_type a2a0d0ebe5b9334487c068b6b72699c7 \
    -c /boot.catalog -b /boot/grub/i386-pc/eltorito.img -no-emul-boot -boot-load-size 4 -boot-info-table --grub2-boot-info \
    -eltorito-alt-boot -e '--interval:appended_partition_2:::' -no-emul-boot \
    -o "$tmp/base.iso" "$m" >"$tmp/xorriso.log" 2>&1; then
  tail -30 "$tmp/xorriso.log" >&2
  echo "live-iso: xorriso failed" >&2
  exit 1
fi
echo "live-iso: GRUB images and the ISO made in $((SECONDS - t2)) s" >&2
rm -rf "$m"
echo "$version" >"$tmp/kernel-version"
ln -s "$vm/root" "$tmp/vm-root"
touch "$tmp/.complete"
rm -rf "$dir"
mv "$tmp" "$dir"
trap - EXIT
echo "live-iso: built in $((SECONDS - t0)) s" >&2
echo "$dir"
