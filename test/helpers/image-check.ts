// Checks an image with every independent reader: the kernel (loop mount, compared with the source tree),
// unsquashfs -lls, rdsquashfs --describe, and sqfsdiff against a mksquashfs image of the same tree.
import { spawnSync } from 'node:child_process';
import { lstatSync, mkdtempSync, mkdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { describeTree, diffTrees, type NodeInfo } from './tree-compare.js';
import { must } from './tools.js';

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
  /** Skip the kernel mount (e.g. when the running kernel lacks the image's decompressor). */
  noMount?: boolean;
  contents?: boolean;
  /**
   * Accept a regular file stored as a basic inode where mksquashfs uses an extended one, or the reverse.
   * mksquashfs 4.5 stores an all-zero tail as a sparse block and counts sparse bytes by rules of its own
   * (a 300,000-byte file of written zeros is extended by default, basic with -always-use-fragments); both
   * forms read the same. Whatever matters in the choice (nlink, xattrs, size) the kernel comparison checks.
   */
  anyFileInodeForm?: boolean;
}

/**
 * sqfsdiff's report minus the lines that only say a regular file has the other (basic/extended) inode form.
 * Parsed as bytes by its record ending, since names may hold newlines.
 */
function sqfsdiffResidue(report: Buffer, source: string): string {
  const text = report.toString('latin1');
  const record = / has (?:a basic|an extended) type\n/g;
  let residue = '';
  let last = 0;
  for (let m = record.exec(text); m; m = record.exec(text)) {
    const path = text.slice(last, m.index);
    last = m.index + m[0].length;
    let isFile = false;
    try {
      isFile = lstatSync(Buffer.concat([Buffer.from(source), Buffer.from(path, 'latin1')])).isFile();
    } catch {
      isFile = false;
    }
    if (!isFile) residue += path + m[0];
  }
  return residue + text.slice(last);
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
  if (!o.noMount) {
    const want = describeTree(source, { skip: o.skip, contents: o.contents });
    const got = withMount(img, (mnt) => describeTree(mnt, { contents: o.contents }));
    const diffs = diffTrees(want, got, { ignore: o.ignore });
    assert.deepEqual(diffs.slice(0, 50), [], `kernel view differs from the source (${diffs.length} differences)`);
  }
  // 4. sqfsdiff against mksquashfs's image of the same tree.
  if (!o.noReference) {
    const dir = tempDir('cs-ref-');
    try {
      const ref = join(dir, 'ref.sqfs');
      must('mksquashfs', [source, ref, '-noappend', '-quiet', '-no-progress', ...(o.mksquashfsArgs ?? [])]);
      const r = spawnSync('sqfsdiff', ['-a', ref, '-b', img], { maxBuffer: 1 << 28 });
      if (r.error) throw r.error;
      const report =
        r.status === 1 && o.anyFileInodeForm ? sqfsdiffResidue(r.stdout, source) : r.stdout.toString('latin1');
      const ok = r.status === 0 || (r.status === 1 && report === '');
      assert.ok(
        ok,
        `sqfsdiff reports differences from mksquashfs (exit ${r.status}):\n${report.slice(0, 3000)}${r.stderr.toString().slice(0, 1000)}`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

export function ensureDir(p: string): string {
  if (!existsSync(p)) mkdirSync(p, { recursive: true });
  return p;
}
