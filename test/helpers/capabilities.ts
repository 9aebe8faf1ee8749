// What this machine can do; tests that need a missing capability skip with the reason.
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { has, run } from './tools.js';

let loopMount: string | true | undefined;

/** true, or the reason why the kernel's squashfs cannot be loop-mounted here. */
export function canLoopMount(): string | true {
  if (loopMount !== undefined) return loopMount;
  if (process.getuid?.() !== 0) return (loopMount = 'needs root to loop-mount images');
  for (const t of ['mksquashfs', 'mount', 'umount']) if (!has(t)) return (loopMount = `${t} is not installed`);
  const dir = mkdtempSync(join(tmpdir(), 'cs-cap-'));
  try {
    mkdirSync(join(dir, 'src'));
    writeFileSync(join(dir, 'src', 'f'), 'x');
    run('mksquashfs', [join(dir, 'src'), join(dir, 'img'), '-noappend', '-quiet']);
    mkdirSync(join(dir, 'mnt'));
    const r = run('mount', ['-t', 'squashfs', '-o', 'loop,ro', join(dir, 'img'), join(dir, 'mnt')]);
    if (r.status !== 0) return (loopMount = `the kernel cannot loop-mount squashfs here: ${r.stderr.trim()}`);
    run('umount', [join(dir, 'mnt')]);
    return (loopMount = true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const kernelCompressors = new Map<string, string | true>();

/**
 * true when the running kernel mounts a mksquashfs image made with `-comp compressor`, else the reason
 * (naming the missing kernel support). Assumes canLoopMount() is true.
 */
export function kernelMounts(compressor: string): string | true {
  const known = kernelCompressors.get(compressor);
  if (known !== undefined) return known;
  const dir = mkdtempSync(join(tmpdir(), 'cs-cap-'));
  let result: string | true;
  try {
    mkdirSync(join(dir, 'src'));
    writeFileSync(join(dir, 'src', 'f'), 'casper '.repeat(1000));
    const mk = run('mksquashfs', [
      join(dir, 'src'),
      join(dir, 'img'),
      '-noappend',
      '-quiet',
      '-no-progress',
      '-comp',
      compressor,
    ]);
    if (mk.status !== 0) {
      result = `mksquashfs cannot make a ${compressor} image to probe the kernel: ${mk.stderr.trim()}`;
    } else {
      mkdirSync(join(dir, 'mnt'));
      const r = run('mount', ['-t', 'squashfs', '-o', 'loop,ro', join(dir, 'img'), join(dir, 'mnt')]);
      if (r.status === 0) {
        run('umount', [join(dir, 'mnt')]);
        result = true;
      } else {
        result = `the running kernel's squashfs cannot mount ${compressor} images (no ${compressor} decompressor: CONFIG_SQUASHFS_${compressor === 'gzip' ? 'ZLIB' : compressor.toUpperCase()}): ${r.stderr.trim().split('\n')[0]}`;
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  kernelCompressors.set(compressor, result);
  return result;
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** A skip reason for node:test's `skip` option, or false when everything is there. */
export function needs(...what: ('root' | 'loop' | 'squashfs-tools' | 'squashfs-tools-ng')[]): string | false {
  for (const w of what) {
    if (w === 'root' && !isRoot()) return 'needs root';
    if (w === 'loop') {
      const r = canLoopMount();
      if (r !== true) return r;
    }
    if (w === 'squashfs-tools' && !(has('mksquashfs') && has('unsquashfs')))
      return 'squashfs-tools (mksquashfs, unsquashfs) not installed';
    if (w === 'squashfs-tools-ng' && !(has('sqfsdiff') && has('rdsquashfs')))
      return 'squashfs-tools-ng (sqfsdiff, rdsquashfs) not installed';
  }
  return false;
}
