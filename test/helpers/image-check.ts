// Checks an image with every independent reader: the kernel (loop mount, compared with the source tree),
// unsquashfs -lls, rdsquashfs --describe, and sqfsdiff against a mksquashfs image of the same tree.
import { mkdtempSync, mkdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { describeTree, diffTrees, type NodeInfo } from './tree-compare.js';
import { must, run } from './tools.js';

export function tempDir(prefix = 'cs-test-'): string {
  return mkdtempSync(join(process.env.CASPER_TEST_TMP ?? tmpdir(), prefix));
}

/**
 * Runs fn on the root of a fresh tmpfs, unmounted afterwards (needs root): trees of tens of thousands of
 * files are made and thrown away there in a fraction of the time a disk filesystem takes.
 */
export function withTmpfs<T>(fn: (dir: string) => T, sizeMiB = 4096): T {
  const d = tempDir('cs-tmpfs-');
  must('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m,mode=0755`, 'casper-test', d]);
  try {
    return fn(d);
  } finally {
    must('umount', [d]);
    rmSync(d, { recursive: true, force: true });
  }
}

/** Mounts img read-only with the kernel's squashfs driver, runs fn on the mount point, unmounts. */
export function withMount<T>(img: string, fn: (mnt: string) => T): T {
  const mnt = tempDir('cs-mnt-');
  must('mount', ['-t', 'squashfs', '-o', 'loop,ro', img, mnt]);
  try {
    return fn(mnt);
  } finally {
    must('umount', [mnt]);
    rmSync(mnt, { recursive: true, force: true });
  }
}

export interface CheckOptions {
  /** Fields not preserved by the options used (e.g. 'xattrs' with -no-xattrs, 'uid' with -all-root). */
  ignore?: (keyof NodeInfo)[];
  /** Paths (relative, starting with '/') left out of the image on purpose. */
  skip?: (rel: string) => boolean;
  /** Extra mksquashfs arguments matching the options used for the image, for the sqfsdiff comparison. */
  mksquashfsArgs?: string[];
  /** Skip the sqfsdiff comparison (e.g. when mksquashfs cannot build the same tree). */
  noReference?: boolean;
  contents?: boolean;
}

export function unsquashfsList(img: string): string {
  return must('unsquashfs', ['-lls', '-n', '-d', '', img]);
}

export function checkImage(img: string, source: string, o: CheckOptions = {}): void {
  // 1. squashfs-tools' reader parses every inode and directory.
  unsquashfsList(img);
  // 2. squashfs-tools-ng's reader does the same.
  must('rdsquashfs', ['--describe', img]);
  // 3. The kernel: mounted, the tree equals the source.
  const want = describeTree(source, { skip: o.skip, contents: o.contents });
  const got = withMount(img, (mnt) => describeTree(mnt, { contents: o.contents }));
  const diffs = diffTrees(want, got, { ignore: o.ignore });
  assert.deepEqual(diffs.slice(0, 50), [], `kernel view differs from the source (${diffs.length} differences)`);
  // 4. sqfsdiff against mksquashfs's image of the same tree.
  if (!o.noReference) {
    const dir = tempDir('cs-ref-');
    try {
      const ref = join(dir, 'ref.sqfs');
      must('mksquashfs', [source, ref, '-noappend', '-quiet', '-no-progress', ...(o.mksquashfsArgs ?? [])]);
      const r = run('sqfsdiff', ['-a', ref, '-b', img]);
      assert.equal(r.status, 0, `sqfsdiff reports differences from mksquashfs:\n${r.stdout.slice(0, 3000)}${r.stderr.slice(0, 1000)}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

export function ensureDir(p: string): string {
  if (!existsSync(p)) mkdirSync(p, { recursive: true });
  return p;
}
