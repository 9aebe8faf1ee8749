// A live session as casper assembles one: a medium squashed by mksquashfs and loop-mounted read-only, a
// tmpfs upper, and the overlay of the two; or several such layers stacked.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './image-check.js';
import { must, run } from './tools.js';

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
    must('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${layers.join(':')},upperdir=${cow}/upper,workdir=${cow}/work`, merged]);
    mounts.push(merged);
    return { t, layers, merged, upper: join(cow, 'upper'), mounts, cleanup };
  } catch (err) {
    cleanup();
    throw err;
  }
}

export { tempDir };
