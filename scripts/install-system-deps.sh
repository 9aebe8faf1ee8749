#!/usr/bin/env bash
# System packages for building the addon and running the tests (Debian/Ubuntu, as root or via sudo).
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
PKGS=(
  build-essential cmake pkg-config python3        # native build (cmake-js; node-gyp needs python3)
  libdeflate-dev liblzma-dev liblz4-dev libzstd-dev liblzo2-dev   # compressors
  squashfs-tools squashfs-tools-ng                # mksquashfs/unsquashfs, gensquashfs/sqfsdiff/rdsquashfs
  time                                            # /usr/bin/time: CPU time and peak RSS in the benchmark (bench/)
  attr acl util-linux kmod e2fsprogs              # setfattr/getfattr, setfacl, mount/losetup/unshare, modprobe, mkfs.ext4
  dosfstools fuse2fs                              # FAT and FUSE mounts: a --base where file owners prove nothing (tests)
  systemd                                         # systemd-analyze verify of the shutdown unit
  debootstrap binutils                            # Debian bullseye roots (glibc 2.31): the prebuilt addon is built in one
                                                  # (scripts/build-prebuilt.sh), the .deb is installed in another; readelf/objdump
  systemd-container                               # the boot-cycle test: systemd-nspawn boots a debootstrap'ed bookworm root
  qemu-system-x86 fdisk                           # the VM test (npm run test:vm): QEMU boots a live-boot medium (direct kernel
                                                  # boot, TCG; SeaBIOS comes with it), sfdisk partitions its disk image
  xorriso                                         # casper-snapshot remaster writes the ISO with it (a run-time need of remaster)
  grub-pc-bin grub-efi-amd64-bin mtools ovmf      # the remaster test: grub-mkrescue makes a BIOS+EFI live ISO (mtools for its
                                                  # EFI image), QEMU boots it with SeaBIOS and with OVMF (UEFI)
  squashfuse                                      # hostile-input tests: another user's FUSE mount (test/helpers/attacker.ts)
  clang-format                                    # the C++ formatter (scripts/format.sh, npm run lint in CI)
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
