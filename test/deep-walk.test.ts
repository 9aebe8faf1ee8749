// The walk and the inode numbering are iterative: depth costs heap and one descriptor per level (two in
// diff mode), never thread stack. The walk runs on a libuv pool thread (8 MiB of stack), where a recursive
// walk dies with SIGSEGV at about 10,000 levels; these trees go that deep.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { needs } from './helpers/capabilities.js';
import { tempDir, unsquashfsList, withMount } from './helpers/image-check.js';
import { cliPath, must, run } from './helpers/tools.js';

const skip =
  needs('root', 'loop', 'squashfs-tools') ||
  (run('sh', ['-c', 'command -v python3']).status === 0 ? false : 'python3 is missing');

/**
 * `levels` directories named "d", one inside the other, below root/name, then an empty file; made with
 * relative calls, as the deepest paths are longer than PATH_MAX.
 */
function chain(root: string, name: string, levels: number, last: string): void {
  const py = `import os,sys\nos.chdir(sys.argv[1])\nos.mkdir(sys.argv[2]); os.chdir(sys.argv[2])\nfor i in range(int(sys.argv[3])):\n  os.mkdir('d'); os.chdir('d')\nopen(sys.argv[4], 'w').close()\n`;
  must('python3', ['-c', py, root, name, String(levels), last]);
}

/** Runs the CLI with the descriptor limit raised: every level holds its directory open. */
function cliWithFds(args: string[]): { status: number; stderr: string } {
  const quoted = [cliPath, ...args].map((a) => `'${a}'`).join(' ');
  return run('sh', [
    '-c',
    `ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec '${process.execPath}' ${quoted}`,
  ]);
}

/** Depth of the deepest entry named `name` in a mounted tree (find walks by descriptors, not paths). */
function depthOf(root: string, name: string): number[] {
  return must('find', [root, '-name', name, '-printf', '%d\n']).trim().split('\n').filter(Boolean).map(Number);
}

test('a 10,000-level tree is walked and numbered without a deep stack', { skip }, () => {
  const t = tempDir('cs-deep-');
  try {
    const src = join(t, 'src');
    mkdirSync(src);
    chain(src, 'top', 10000, 'bottom');
    const img = join(t, 'deep.sqfs');
    const r = cliWithFds(['-q', '--source', src, img]);
    assert.equal(r.status, 0, r.stderr.slice(0, 2000));
    assert.match(must('unsquashfs', ['-s', img]), /Number of inodes 10003\n/); // root, top, 10,000 d, bottom
    withMount(img, (mnt) => assert.deepEqual(depthOf(mnt, 'bottom'), [10002]));
  } finally {
    run('rm', ['-rf', t]); // fs.rmSync recurses per level and overflows the JS stack here
  }
});

test(
  'diff mode 3,000 levels down: the changed chain is kept, an unchanged one is pruned after its walk',
  {
    skip:
      skip ||
      (run('sh', ['-c', 'grep -qw overlay /proc/filesystems || modprobe overlay']).status === 0
        ? false
        : 'the kernel has no overlayfs'),
  },
  () => {
    const t = tempDir('cs-deepdiff-');
    const mounts: string[] = [];
    try {
      const lower = join(t, 'lower');
      mkdirSync(lower);
      chain(lower, 'changed', 3000, 'old');
      chain(lower, 'same', 3000, 'old');
      for (const d of ['upper', 'work', 'merged']) mkdirSync(join(t, d));
      const merged = join(t, 'merged');
      must('mount', [
        '-t',
        'overlay',
        'overlay',
        '-o',
        `lowerdir=${lower},upperdir=${t}/upper,workdir=${t}/work`,
        merged,
      ]);
      mounts.push(merged);
      // The session adds a file at the bottom of one chain (its parent's mtime changes, nothing above it).
      must('python3', [
        '-c',
        `import os\nos.chdir('${merged}/changed')\nfor i in range(3000): os.chdir('d')\nopen('new', 'w').close()\n`,
      ]);
      const img = join(t, 'diff.sqfs');
      const r = cliWithFds(['-q', '--root', merged, '--mode', 'diff', img]);
      assert.equal(r.status, 0, r.stderr.slice(0, 2000));
      assert.match(must('unsquashfs', ['-s', img]), /Number of inodes 3003\n/); // root, changed, 3,000 d, new
      assert.doesNotMatch(unsquashfsList(img), /\/same/);
      withMount(img, (mnt) => {
        assert.deepEqual(depthOf(mnt, 'new'), [3002]);
        assert.deepEqual(depthOf(mnt, 'old'), []);
      });
    } finally {
      for (const m of mounts) run('umount', ['-l', m]);
      run('rm', ['-rf', t]); // fs.rmSync recurses per level and overflows the JS stack here
    }
  },
);
