// A live session as casper assembles one: a medium squashed by mksquashfs and loop-mounted read-only, a
// tmpfs upper, and the overlay of the two; or several such layers stacked. Also what a user does in one.
import { chmodSync, linkSync, mkdirSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './image-check.js';
import { must, run } from './tools.js';
import { bytes, dir, file, mknod, setXattr, symlink } from './make-tree.js';

export interface LiveSession {
  t: string;
  /** Mount points of the squashed layers, topmost first. */
  layers: string[];
  merged: string;
  upper: string;
  /** Extra mounts made by a test (unmounted first, in reverse order). */
  mounts: string[];
  cleanup: () => void;
}

/** trees: the layer trees, topmost first, each filled by the caller beforehand. */
export function liveSessionOf(t: string, trees: string[]): LiveSession {
  const layers: string[] = [];
  const mounts: string[] = [];
  const cleanup = () => {
    for (const m of [...mounts].reverse()) run('umount', ['-l', m]);
    run('rm', ['-rf', t]);
  };
  try {
    trees.forEach((tree, k) => {
      const img = join(t, `layer${k}.squashfs`);
      must('mksquashfs', [tree, img, '-noappend', '-quiet', '-no-progress']);
      const mnt = join(t, `layer${k}`);
      mkdirSync(mnt);
      must('mount', ['-t', 'squashfs', '-o', 'loop,ro', img, mnt]);
      mounts.push(mnt);
      layers.push(mnt);
    });
    const cow = join(t, 'cow');
    const merged = join(t, 'merged');
    mkdirSync(cow);
    mkdirSync(merged);
    must('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', cow]);
    mounts.push(cow);
    mkdirSync(join(cow, 'upper'));
    mkdirSync(join(cow, 'work'));
    must('mount', [
      '-t',
      'overlay',
      'overlay',
      '-o',
      `lowerdir=${layers.join(':')},upperdir=${cow}/upper,workdir=${cow}/work`,
      merged,
    ]);
    mounts.push(merged);
    return { t, layers, merged, upper: join(cow, 'upper'), mounts, cleanup };
  } catch (err) {
    cleanup();
    throw err;
  }
}

export interface Session {
  t: string;
  rofs: string;
  merged: string;
  upper: string;
  cleanup: () => void;
}

/** A medium squashed by mksquashfs, loop-mounted, under an overlay with a tmpfs upper: a live session. */
export function liveSession(): Session {
  const t = tempDir('cs-live-');
  const lower = join(t, 'medium-tree');
  for (const d of [
    'proc',
    'sys',
    'dev',
    'run',
    'tmp',
    'var/tmp',
    'var/cache/apt',
    'mnt',
    'media',
    'etc',
    'usr/bin',
    'usr/share/doc',
  ])
    dir(join(lower, d));
  file(join(lower, 'etc/hostname'), 'ubuntu\n');
  file(join(lower, 'etc/to-modify.conf'), 'original = 1\n');
  file(join(lower, 'etc/to-chmod'), 'mode changes only\n', 0o644);
  file(join(lower, 'etc/to-delete'), 'gone soon\n');
  file(join(lower, 'usr/bin/tool'), bytes(300000, 1, 64), 0o755);
  file(join(lower, 'usr/share/doc/readme'), 'docs\n');
  file(join(lower, 'var/cache/apt/pkgcache.bin'), bytes(5000, 2));
  for (const n of ['a', 'b', 'c']) file(join(lower, 'dir-to-delete', n), n);
  for (const n of ['old1', 'old2']) file(join(lower, 'dir-to-recreate', n), n);
  file(join(lower, 'dir-to-rename/inner'), 'inner');
  const medium = join(t, 'medium.squashfs');
  must('mksquashfs', [lower, medium, '-noappend', '-quiet', '-no-progress']);
  const rofs = join(t, 'rofs');
  const cow = join(t, 'cow');
  const merged = join(t, 'merged');
  for (const d of [rofs, cow, merged]) mkdirSync(d);
  must('mount', ['-t', 'squashfs', '-o', 'loop,ro', medium, rofs]);
  must('mount', ['-t', 'tmpfs', '-o', 'size=256m', 'tmpfs', cow]);
  mkdirSync(join(cow, 'upper'));
  mkdirSync(join(cow, 'work'));
  must('mount', [
    '-t',
    'overlay',
    'overlay',
    '-o',
    `lowerdir=${rofs},upperdir=${cow}/upper,workdir=${cow}/work,redirect_dir=on`,
    merged,
  ]);
  const cleanup = () => {
    for (const m of [merged, cow, rofs]) run('umount', ['-l', m]);
    rmSync(t, { recursive: true, force: true });
  };
  return { t, rofs, merged, upper: join(cow, 'upper'), cleanup };
}

/** What a user does in a live session. */
export function sessionChanges(m: string): void {
  file(join(m, 'home/user/notes.txt'), 'new file\n');
  file(join(m, 'home/user/big.bin'), bytes(700000, 3, 32));
  writeFileSync(join(m, 'etc/to-modify.conf'), 'original = 2\n');
  chmodSync(join(m, 'etc/to-chmod'), 0o600);
  unlinkSync(join(m, 'etc/to-delete'));
  rmSync(join(m, 'dir-to-delete'), { recursive: true });
  rmSync(join(m, 'dir-to-recreate'), { recursive: true });
  file(join(m, 'dir-to-recreate/new'), 'recreated');
  renameSync(join(m, 'dir-to-rename'), join(m, 'dir-renamed'));
  linkSync(join(m, 'home/user/notes.txt'), join(m, 'home/user/notes-link'));
  setXattr(join(m, 'home/user/notes.txt'), 'user.tag', 'session');
  mknod(join(m, 'dev-node'), 'c', 1, 7);
  symlink('/usr/bin/tool', join(m, 'usr/bin/tool-link'));
  file(join(m, 'tmp/scratch'), 'never captured');
  file(join(m, 'var/cache/apt/new.bin'), 'never captured');
}

export const excludedBelow = ['/tmp', '/var/tmp', '/var/cache', '/proc', '/sys', '/dev', '/run', '/mnt', '/media'];
export const skipExcluded = (rel: string) => excludedBelow.some((p) => rel.startsWith(p + '/'));

export { tempDir };
