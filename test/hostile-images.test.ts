// Hostile images for the reader (verify, and the base reader), and a hostile directory for `verify IMAGE DIR`:
// the reader's work is bounded by the image's size (a shared directory listing, terabytes of holes in a few
// hundred KiB), and the directory's files are opened beneath it, never following a link, never blocking.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  closeSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
  ftruncateSync,
} from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './helpers/image-check.js';
import { file } from './helpers/make-tree.js';
import { cliPath, must, repoRoot } from './helpers/tools.js';
import { overlappingListingsImage, sharedListingImage, sparseFileImage } from './helpers/craft-image.js';
import { needs } from './helpers/capabilities.js';
import { holdFirstOpen } from './helpers/acting.js';

/** Peak RSS figures mean nothing under ASan (shadow memory, quarantine). */
const measured = process.env.CASPER_SANITIZE !== '1';

/** Runs `verify ARGS` in a child under a deadline; its peak RSS (KiB) from /proc when it ends. */
function verifyBounded(
  args: string[],
  deadlineMs: number,
): Promise<{ code: number | null; stdout: string; stderr: string; hung: boolean; peakKiB: number }> {
  return new Promise((resolve) => {
    // The child reports its own high-water mark at exit, so the figure is the verify's, whatever the harness.
    const script = `process.on('exit', () => { const m = /VmHWM:\\s*(\\d+)/.exec(require('fs').readFileSync('/proc/self/status', 'utf8')); process.stderr.write('PEAK ' + m[1] + '\\n'); });
      import(${JSON.stringify(join(repoRoot, 'dist/cli/main.js'))}).then((m) => m.main(${JSON.stringify(['verify', ...args])})).then((c) => { process.exitCode = c; });`;
    const c = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let hung = false;
    c.stdout.on('data', (d) => (stdout += d));
    c.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      hung = true;
      c.kill('SIGKILL');
    }, deadlineMs);
    c.on('exit', (code) => {
      clearTimeout(timer);
      const peak = /PEAK (\d+)/.exec(stderr);
      resolve({ code, stdout, stderr, hung, peakKiB: peak ? Number(peak[1]) : NaN });
    });
  });
}

test('point 7: directory inodes sharing one listing: refused at once, without building dirs × names entries', async () => {
  const t = tempDir('cs-hostile-img-');
  try {
    const img = join(t, 'shared.sqfs');
    writeFileSync(img, sharedListingImage(3000, 3000)); // ~44 KiB declaring 9,000,000 names
    const r = await verifyBounded([img], 120_000);
    assert.equal(r.hung, false, 'verify did not finish within two minutes');
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stdout + r.stderr, /shares the listing of directory inode/);
    if (measured) assert.ok(r.peakKiB < 256 * 1024, `peak RSS ${r.peakKiB} KiB`);
  } finally {
    rmSync(t, { recursive: true, force: true });
  }
});

test('point 7: directory listings that overlap (each starting inside another): refused once they hold more than the table', async () => {
  const t = tempDir('cs-hostile-img-');
  try {
    const img = join(t, 'overlap.sqfs');
    writeFileSync(img, overlappingListingsImage(3000, 2400)); // ~56 KiB declaring 3.6 million names
    const r = await verifyBounded([img], 120_000);
    assert.equal(r.hung, false);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stdout + r.stderr, /listings overlap/);
    if (measured) assert.ok(r.peakKiB < 128 * 1024, `peak RSS ${r.peakKiB} KiB`);
  } finally {
    rmSync(t, { recursive: true, force: true });
  }
});

test('point 7: a 16 TiB file of holes in a 270 KiB image: verified without materialising a sparse block', async () => {
  const t = tempDir('cs-hostile-img-');
  try {
    const img = join(t, 'sparse.sqfs');
    writeFileSync(img, sparseFileImage(16n * 2n ** 40n));
    const r = await verifyBounded([img], 60_000);
    assert.equal(r.hung, false, 'verify did not finish within a minute');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /16777216 sparse/);
    if (measured) assert.ok(r.peakKiB < 256 * 1024, `peak RSS ${r.peakKiB} KiB`);
    // Compared with a directory holding the same file of holes (on a tmpfs, which takes a file of any size): holes
    // are skipped on both sides.
    if (process.getuid?.() !== 0) return;
    const dir = join(t, 'dir');
    mkdirSync(dir);
    must('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', dir]);
    try {
      const fd = openSync(join(dir, 'sparse'), 'w');
      ftruncateSync(fd, 2 ** 44);
      closeSync(fd);
      const c = await verifyBounded([img, dir, '--ignore', 'mtime,mode,owner'], 60_000);
      assert.equal(c.hung, false, 'verify IMAGE DIR did not finish within a minute');
      assert.equal(c.code, 0, c.stdout + c.stderr);
    } finally {
      must('umount', [dir]);
    }
  } finally {
    rmSync(t, { recursive: true, force: true });
  }
});

test(
  'point 7: an image path that is a FIFO (swapped in by whoever can write its directory) is refused at once, never waited on',
  { skip: needs('squashfs-tools') },
  async () => {
    const t = tempDir('cs-hostile-img-');
    try {
      must('mkfifo', [join(t, 'image.sqfs')]);
      const r = await verifyBounded([join(t, 'image.sqfs')], 30_000);
      assert.equal(r.hung, false, 'verify waited on the FIFO');
      assert.equal(r.code, 2, r.stdout + r.stderr);
      assert.match(r.stderr, /not a regular file or a block device/);
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  },
);

test(
  'point 7: verify IMAGE DIR never blocks on a FIFO nor follows a symlink swapped into DIR',
  { skip: needs('squashfs-tools') },
  async (tc) => {
    const t = tempDir('cs-hostile-img-');
    let held: ReturnType<typeof holdFirstOpen> | undefined;
    try {
      const src = join(t, 'src');
      // Small files first (the data phase reads them in name order on one job), the two targets last.
      for (let i = 0; i < 200; i++) file(join(src, 'bulk', `f${String(i).padStart(5, '0')}`), `bulk file ${i}\n`);
      file(join(src, 'zz-fifo'), 'a regular file, soon a FIFO\n');
      file(join(src, 'zz-dir/inner'), 'the real inner file\n');
      const decoy = join(t, 'decoy');
      file(join(decoy, 'inner'), 'the real inner file\n'); // same bytes: following the link would hide the swap
      const img = join(t, 'img.sqfs');
      must(process.execPath, [cliPath, '-q', '--source', src, img]);
      // The tree comparison opens no regular file: verify's first open of the last bulk file is in its data
      // phase, after the comparison and before the two targets are read. It is held there (fanotify) while the
      // targets are swapped, so no timing decides what verify sees.
      held = holdFirstOpen(join(src, 'bulk', 'f00199'));
      try {
        await held.ready;
      } catch (err) {
        return tc.skip(`fanotify permission events are not available: ${(err as Error).message}`);
      }
      const script = `import(${JSON.stringify(join(repoRoot, 'dist/src/api/index.js'))}).then(async (m) => {
      const r = await m.verify(${JSON.stringify(img)}, { dir: ${JSON.stringify(src)}, jobs: 1 });
      process.stdout.write('REPORT ' + JSON.stringify(r.differences) + '\\n');
    });`;
      const c = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let hung = false;
      c.stdout.on('data', (d) => (out += d));
      let stderr = '';
      c.stderr.on('data', (d) => (stderr += d));
      const exited = new Promise<number | null>((r) => c.on('exit', (k) => r(k)));
      const timer = setTimeout(() => {
        hung = true;
        c.kill('SIGKILL');
      }, 60_000);
      await Promise.race([held.opened(c.pid!), exited]);
      const swapped = c.exitCode === null && c.signalCode === null;
      if (swapped) {
        unlinkSync(join(src, 'zz-fifo'));
        must('mkfifo', [join(src, 'zz-fifo')]);
        renameSync(join(src, 'zz-dir'), join(src, 'zz-dir.real'));
        symlinkSync(decoy, join(src, 'zz-dir'));
        held.release();
      }
      const code = await exited;
      clearTimeout(timer);
      assert.ok(swapped, `verify ended before it opened the last bulk file: ${stderr}`);
      assert.equal(hung, false, 'verify hung on the FIFO swapped into the directory');
      assert.equal(code, 0, stderr);
      const diffs = JSON.parse(/REPORT (.*)/.exec(out)![1]) as { path: string; kind: string }[];
      const paths = diffs.map((d) => `${d.kind} ${d.path}`);
      assert.ok(
        paths.some((p) => /\/zz-fifo$/.test(p)),
        `the FIFO is not reported: ${paths.join(', ')}`,
      );
      assert.ok(
        paths.some((p) => /\/zz-dir\/inner$/.test(p)),
        `the file read through the swapped-in symlink is not reported: ${paths.join(', ')}`,
      );
    } finally {
      held?.stop();
      rmSync(t, { recursive: true, force: true });
    }
  },
);
