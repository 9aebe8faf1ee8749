// The remaster test's live ISO (scripts/live-iso.sh: the VM test's cached bookworm root plus a unit that
// prints a marker line on the serial console and powers off, made a hybrid BIOS+EFI ISO with GRUB), and its
// boots from QEMU's CD-ROM under SeaBIOS and under OVMF (UEFI), with no -kernel: the ISO's boot records boot it.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { has, must, run } from './tools.js';
import { cachedVmFolder, runQemu, type BootOutcome } from './vm.js';

/** The unit's line: CASPER-REMASTER marker=M firmware=bios|uefi medium=[DEV TYPE] kernel=K sums=… manifest=same|differs */
export const MARKER_PREFIX = 'CASPER-REMASTER';

export interface LiveIso {
  iso: string;
  /** What the ISO's root adds to the cached root (stack it above vmRoot). */
  rootExtra: string;
  vmRoot: string;
  kernelVersion: string;
}

/** OVMF as QEMU's firmware: the ovmf package's combined image. */
export const OVMF_CANDIDATES = ['/usr/share/ovmf/OVMF.fd', '/usr/share/OVMF/OVMF.fd', '/usr/share/qemu/OVMF.fd'];

export function ovmf(): string | null {
  return OVMF_CANDIDATES.find((p) => existsSync(p)) ?? null;
}

/** Why the boot test cannot run here, or false. */
export function remasterBootCapability(): string | false {
  if (process.getuid?.() !== 0) return 'needs root (debootstrap, chroot, overlay mounts)';
  if (process.arch !== 'x64') return 'the live ISO is amd64';
  for (const t of [
    'qemu-system-x86_64',
    'timeout',
    'debootstrap',
    'mksquashfs',
    'xorriso',
    'grub-mkimage',
    'mformat',
    'mcopy',
    'chroot',
  ])
    if (!has(t)) return `${t} is not installed (scripts/install-system-deps.sh)`;
  if (!ovmf())
    return `no OVMF firmware (${OVMF_CANDIDATES.join(', ')}): install the ovmf package (scripts/install-system-deps.sh)`;
  if (run('sh', ['-c', 'grep -qw overlay /proc/filesystems || modprobe overlay']).status !== 0)
    return 'the kernel has no overlayfs';
  return false;
}

/** The cached live ISO (built on first use: the root ~2 min if missing, then ~40 s), or why it cannot be had. */
export function liveIso(): LiveIso | { skip: string } {
  const dir = cachedVmFolder('live-iso.sh', 'live ISO', 'the remaster test');
  if (typeof dir !== 'string') return dir;
  const kernelVersion = spawnSync('cat', [join(dir, 'kernel-version')], { encoding: 'utf8' }).stdout.trim();
  return {
    iso: join(dir, 'base.iso'),
    rootExtra: join(dir, 'root-extra'),
    vmRoot: join(dir, 'vm-root'),
    kernelVersion,
  };
}

/** Boots `iso` from QEMU's IDE CD-ROM (i440fx), SeaBIOS or OVMF, serial console to `log`. */
export function bootIso(iso: string, firmware: 'bios' | 'uefi', log: string, limitS: number): Promise<BootOutcome> {
  const args = [
    '-m',
    '2048',
    '-smp',
    '2',
    '-cpu',
    'Nehalem',
    '-accel',
    'tcg,thread=multi',
    '-nic',
    'none',
    '-cdrom',
    iso,
    '-boot',
    'd',
  ];
  if (firmware === 'uefi') args.push('-bios', ovmf()!);
  return runQemu(args, log, limitS);
}

export interface MarkerLine {
  marker: string;
  firmware: string;
  medium: string;
  kernel: string;
  sums: string;
  manifest: string;
}

/** The unit's line on the console (printed on ttyS0 directly and through the journal: the first one). */
export function markerLine(consoleText: string): MarkerLine | null {
  const m = new RegExp(
    `(?:^|: )${MARKER_PREFIX} marker=(\\S*) firmware=(\\S*) medium=\\[([^\\]]*)\\] kernel=(\\S*) sums=(.*) manifest=(\\S*)$`,
    'm',
  ).exec(consoleText);
  return m ? { marker: m[1], firmware: m[2], medium: m[3], kernel: m[4], sums: m[5], manifest: m[6] } : null;
}

/** The line the in-session remaster prints: CASPER-REMASTER-LIVE rc=N, then the tail of its output. */
export const LIVE_PREFIX = 'CASPER-REMASTER-LIVE';
/** The kernel parameter that makes the session remaster itself. */
export const LIVE_PARAM = 'casper_remaster_live';

/** Runs in the session before the marker unit powers off: a change, then `casper-snapshot remaster` onto the disk vda. */
const LIVE_SCRIPT = `#!/bin/sh
# The remaster test's session: a change made in this session, then the README's command, the output on a
# second disk (the medium is a CD-ROM). The result goes to the serial console.
grep -q ${LIVE_PARAM} /proc/cmdline || exit 0
echo "made in the live session $(cat /proc/sys/kernel/random/boot_id)" > /etc/session-marker
mkdir -p /mnt/out
mount /dev/vda /mnt/out || { echo "${LIVE_PREFIX} rc=mount-failed" > /dev/ttyS0; exit 0; }
casper-snapshot remaster /mnt/out/live.iso > /mnt/out/remaster.out 2>&1
rc=$?
cp /etc/session-marker /mnt/out/session-marker
sync
echo "${LIVE_PREFIX} rc=$rc" > /dev/ttyS0
sed 's/^/${LIVE_PREFIX}: /' /mnt/out/remaster.out > /dev/ttyS0
umount /mnt/out
`;

const LIVE_UNIT = `[Unit]
Description=remaster test: remaster the live session onto /dev/vda
ConditionKernelCommandLine=${LIVE_PARAM}
After=multi-user.target
Before=remaster-marker.service
[Service]
Type=oneshot
ExecStart=/usr/local/sbin/remaster-live
TimeoutStartSec=40min
[Install]
WantedBy=multi-user.target
`;

/**
 * The root of a live ISO that carries the tool: the test ISO's root (`live.rootExtra` over `live.vmRoot`) with
 * xorriso installed by apt in a chroot (the Debian mirror is needed), the project's .deb installed, and the unit
 * above; mounted at work/carrier-root (an overlay: the cached layers are never written).
 */
export function carrierRoot(live: LiveIso, deb: string, work: string): string {
  const root = join(work, 'carrier-root');
  for (const d of ['carrier-upper', 'carrier-work', 'carrier-root']) mkdirSync(join(work, d), { recursive: true });
  must('mount', [
    '-t',
    'overlay',
    'remaster-carrier',
    '-o',
    `lowerdir=${live.rootExtra}:${live.vmRoot},upperdir=${join(work, 'carrier-upper')},workdir=${join(work, 'carrier-work')}`,
    root,
  ]);
  const env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C', DEBIAN_FRONTEND: 'noninteractive' };
  copyFileSync('/etc/resolv.conf', join(root, 'etc/resolv.conf'));
  copyFileSync(deb, join(root, 'tmp/casper-snapshot.deb'));
  must('mount', ['-t', 'proc', 'proc', join(root, 'proc')]);
  try {
    const apt = run(
      'chroot',
      [
        root,
        'sh',
        '-c',
        'apt-get update -qq && apt-get install -y -qq --no-install-recommends xorriso && dpkg -i /tmp/casper-snapshot.deb',
      ],
      { env },
    );
    if (apt.status !== 0)
      throw new Error(
        `installing xorriso and the .deb in the carrier root failed (${apt.status}):\n${apt.stderr.slice(-3000)}${apt.stdout.slice(-2000)}`,
      );
  } finally {
    must('umount', [join(root, 'proc')]);
  }
  for (const p of ['tmp/casper-snapshot.deb', 'etc/resolv.conf']) rmSync(join(root, p), { force: true });
  must('sh', ['-c', `rm -rf '${root}'/var/lib/apt/lists/* '${root}'/var/cache/apt/archives/*.deb`]);
  writeFileSync(join(root, 'usr/local/sbin/remaster-live'), LIVE_SCRIPT, { mode: 0o755 });
  writeFileSync(join(root, 'etc/systemd/system/remaster-live.service'), LIVE_UNIT);
  symlinkSync(
    '../remaster-live.service',
    join(root, 'etc/systemd/system/multi-user.target.wants/remaster-live.service'),
  );
  return root;
}

/**
 * Boots the live ISO by direct kernel boot (its own live/vmlinuz and live/initrd.img, so the kernel command line
 * can carry LIVE_PARAM) with the ISO as the CD-ROM live-boot finds its medium on, and `disk` as /dev/vda.
 */
export function bootLiveSession(
  iso: string,
  kernel: string,
  initrd: string,
  disk: string,
  log: string,
  limitS: number,
): Promise<BootOutcome> {
  const args = [
    '-m',
    '2048',
    '-smp',
    '2',
    '-cpu',
    'Nehalem',
    '-accel',
    'tcg,thread=multi',
    '-nic',
    'none',
    '-cdrom',
    iso,
    '-kernel',
    kernel,
    '-initrd',
    initrd,
    '-append',
    `boot=live components console=ttyS0,115200 panic=10 ${LIVE_PARAM}=1`,
    '-drive',
    `file=${disk},if=virtio,format=raw`,
  ];
  return runQemu(args, log, limitS);
}
