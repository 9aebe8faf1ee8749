// The remaster test's live ISO (scripts/live-iso.sh: the VM test's cached bookworm root plus a unit that
// prints a marker line on the serial console and powers off, made a hybrid BIOS+EFI ISO with GRUB), and its
// boots from QEMU's CD-ROM under SeaBIOS and under OVMF (UEFI), with no -kernel: the ISO's boot records boot it.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { has, repoRoot, run, withoutSanitizer } from './tools.js';
import { runQemu, VM_WORK, type BootOutcome } from './vm.js';

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
  for (const t of ['qemu-system-x86_64', 'timeout', 'debootstrap', 'mksquashfs', 'xorriso', 'grub-mkimage', 'mformat', 'mcopy', 'chroot'])
    if (!has(t)) return `${t} is not installed (scripts/install-system-deps.sh)`;
  if (!ovmf()) return `no OVMF firmware (${OVMF_CANDIDATES.join(', ')}): install the ovmf package (scripts/install-system-deps.sh)`;
  if (run('sh', ['-c', 'grep -qw overlay /proc/filesystems || modprobe overlay']).status !== 0) return 'the kernel has no overlayfs';
  return false;
}

/** The cached live ISO (built on first use: the root ~2 min if missing, then ~40 s), or why it cannot be had. */
export function liveIso(): LiveIso | { skip: string } {
  const t0 = Date.now();
  const r = spawnSync('bash', [join(repoRoot, 'scripts', 'live-iso.sh')], { encoding: 'utf8', env: { ...withoutSanitizer(), CASPER_VM_WORK: VM_WORK } });
  if (r.status === 3) return { skip: `no live ISO for the remaster test: ${r.stderr.trim().split('\n').pop()}` };
  if (r.status !== 0) throw new Error(`scripts/live-iso.sh failed (${r.status}):\n${r.stderr.slice(-4000)}`);
  if (r.stderr.trim()) console.log(r.stderr.trim().replace(/^/gm, '# ') + `\n# live ISO ready after ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  const dir = r.stdout.trim().split('\n').pop()!;
  const kernelVersion = spawnSync('cat', [join(dir, 'kernel-version')], { encoding: 'utf8' }).stdout.trim();
  return { iso: join(dir, 'base.iso'), rootExtra: join(dir, 'root-extra'), vmRoot: join(dir, 'vm-root'), kernelVersion };
}

/** Boots `iso` from QEMU's IDE CD-ROM (i440fx), SeaBIOS or OVMF, serial console to `log`. */
export function bootIso(iso: string, firmware: 'bios' | 'uefi', log: string, limitS: number): Promise<BootOutcome> {
  const args = ['-m', '2048', '-smp', '2', '-cpu', 'Nehalem', '-accel', 'tcg,thread=multi', '-nic', 'none', '-cdrom', iso, '-boot', 'd'];
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
  const m = new RegExp(`(?:^|: )${MARKER_PREFIX} marker=(\\S*) firmware=(\\S*) medium=\\[([^\\]]*)\\] kernel=(\\S*) sums=(.*) manifest=(\\S*)$`, 'm').exec(consoleText);
  return m ? { marker: m[1], firmware: m[2], medium: m[3], kernel: m[4], sums: m[5], manifest: m[6] } : null;
}
