// The medium's kernel against the new root's: the version string a bzImage carries in its setup header (the
// Linux x86 boot protocol: "HdrS" at 0x202, a pointer to the string at 0x20E, counted from 0x200), and the
// root's /boot/vmlinuz-RELEASE with /boot/initrd.img-RELEASE. When the root's newest kernel is newer than every
// kernel the boot configuration loads, it and its initrd are copied over those paths; any other difference
// is reported and the medium's kernel kept.
import { closeSync, existsSync, openSync, readSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** Bytes of a kernel image read to find its version string (the setup code is at most 64 sectors). */
export const KERNEL_HEAD_BYTES = 64 * 1024;

/** The full version string of a bzImage ("6.1.0-28-amd64 (debian-kernel@…) #1 SMP … Debian 6.1.119-1 …"), or null. */
export function kernelVersionOf(head: Buffer): string | null {
  if (head.length < 0x210 || head.toString('latin1', 0x202, 0x206) !== 'HdrS') return null;
  const ptr = head.readUInt16LE(0x20e);
  if (ptr === 0) return null;
  const at = 0x200 + ptr;
  if (at >= head.length) return null;
  const end = head.indexOf(0, at);
  const text = head.toString('latin1', at, end < 0 ? Math.min(head.length, at + 256) : end).trim();
  return /^\d/.test(text) ? text : null;
}

/** The release: the version string's first word ("6.1.0-28-amd64"). */
export const releaseOf = (full: string) => full.split(/\s+/)[0];

/** Orders versions as `sort -V` does: runs of digits numerically, the rest by byte; null when unordered (equal). */
export function compareVersions(a: string, b: string): number {
  const pa = a.match(/\d+|\D+/g) ?? [];
  const pb = b.match(/\d+|\D+/g) ?? [];
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i];
    const y = pb[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const nx = /^\d/.test(x);
    const ny = /^\d/.test(y);
    if (nx && ny) {
      const d = Number(x) - Number(y);
      if (d !== 0) return d < 0 ? -1 : 1;
    } else if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

function readHead(path: string): Buffer {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(KERNEL_HEAD_BYTES);
    return b.subarray(0, readSync(fd, b, 0, b.length, 0));
  } finally {
    closeSync(fd);
  }
}

export interface RootKernel {
  release: string;
  /** The version string in the image, null when it cannot be read. */
  full: string | null;
  vmlinuz: string;
  /** /boot/initrd.img-RELEASE, null when the root has none. */
  initrd: string | null;
}

/** The kernels installed in the root (boot/vmlinuz-RELEASE), newest first. */
export function rootKernels(root: string): RootKernel[] {
  const boot = join(root, 'boot');
  let names: string[];
  try {
    names = readdirSync(boot);
  } catch {
    return [];
  }
  const out: RootKernel[] = [];
  for (const n of names) {
    const m = /^vmlinuz-(.+)$/.exec(n);
    if (!m) continue;
    let full: string | null = null;
    try {
      full = kernelVersionOf(readHead(join(boot, n)));
    } catch {
      /* unreadable: compared by name alone */
    }
    const initrd = join(boot, `initrd.img-${m[1]}`);
    out.push({ release: m[1], full, vmlinuz: join(boot, n), initrd: existsSync(initrd) ? initrd : null });
  }
  return out.sort((a, b) => compareVersions(b.release, a.release));
}

export interface MediumKernel {
  path: string;
  full: string | null;
}

export interface KernelCheck {
  /** same: the medium boots the root's kernel; updated: the root's newer kernel and initrd copied over the
   *  medium's; kept: a difference, reported, the medium's kernel kept; unknown: nothing to compare. */
  verdict: 'same' | 'updated' | 'kept' | 'unknown';
  medium: MediumKernel[];
  root: RootKernel | null;
  /** Files to put on the medium: a file of the root, and the ISO path it replaces. */
  copies: { from: string; to: string }[];
  /** One sentence for the report. */
  note: string;
}

/** Decides what to do about the kernel, given the medium's kernels (with their headers read) and initrd paths. */
export function checkKernel(medium: MediumKernel[], initrds: string[], root: RootKernel[]): KernelCheck {
  const newest = root[0] ?? null;
  const base = { medium, root: newest, copies: [] as { from: string; to: string }[] };
  if (medium.length === 0)
    return {
      ...base,
      verdict: 'unknown',
      note: "the boot configuration names no kernel this tool can follow: the medium's kernel was not compared",
    };
  if (!newest)
    return {
      ...base,
      verdict: 'unknown',
      note: "the new root has no kernel in /boot (vmlinuz-RELEASE): the medium's kernel was kept",
    };
  const releases = medium.map((k) => (k.full ? releaseOf(k.full) : null));
  const shown = medium.map((k, i) => `${k.path} (${releases[i] ?? 'version unreadable'})`).join(', ');
  if (medium.every((k) => k.full !== null && k.full === newest.full))
    return {
      ...base,
      verdict: 'same',
      note: `the medium boots the new root's kernel ${newest.release} (${medium.map((k) => k.path).join(', ')})`,
    };
  const known = releases.filter((r): r is string => r !== null);
  const newer =
    known.length === releases.length && new Set(known).size === 1 && compareVersions(newest.release, known[0]) > 0;
  if (!newer) {
    const why =
      known.length !== releases.length
        ? 'a kernel on the medium has no readable version'
        : new Set(known).size > 1
          ? 'the medium boots more than one kernel release'
          : compareVersions(newest.release, known[0]) === 0
            ? `the same release built differently (medium: ${medium[0].full}; root: ${newest.full ?? 'unreadable'})`
            : `the root's newest kernel ${newest.release} is older than the medium's`;
    return {
      ...base,
      verdict: 'kept',
      note: `the medium boots ${shown} and the new root has ${newest.release}: kept as it is (${why})`,
    };
  }
  if (!newest.initrd)
    return {
      ...base,
      verdict: 'kept',
      note: `the new root has the newer kernel ${newest.release} but no /boot/initrd.img-${newest.release}: the medium's ${shown} kept (make the initrd in the root, e.g. update-initramfs -c -k ${newest.release}, and remaster again)`,
    };
  if (initrds.length === 0)
    return {
      ...base,
      verdict: 'kept',
      note: `the new root has the newer kernel ${newest.release} but the boot configuration names no initrd to replace: the medium's ${shown} kept`,
    };
  const copies = [
    ...medium.map((k) => ({ from: newest.vmlinuz, to: k.path })),
    ...initrds.map((p) => ({ from: newest.initrd!, to: p })),
  ];
  return {
    ...base,
    copies,
    verdict: 'updated',
    note: `the new root's kernel ${newest.release} replaces the medium's ${known[0]}: ${copies.map((c) => c.to).join(', ')}`,
  };
}
