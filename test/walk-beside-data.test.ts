// The walk beside the data phase (src/pipeline/walk-beside-data.ts, native/traverse/plan_feed.h): the data phase
// plans the files the walk has finished with while it goes on. The image must be the walk-first one for any
// number of jobs, and a failure on either side must stop the other, report the cause and leave nothing behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { needs } from './helpers/capabilities.js';
import { checkImage, tempDir } from './helpers/image-check.js';
import { bytes, dir, file } from './helpers/make-tree.js';
import { makeRandomTree } from './helpers/random-tree.js';
import { cli, must, run } from './helpers/tools.js';
import { snapshot, CasperError } from '../src/api/index.js';

const skip = needs('root', 'loop', 'squashfs-tools', 'squashfs-tools-ng');
const leftovers = (d: string) => readdirSync(d).filter((n) => n.includes('.tmp-') || n.endsWith('.lock'));
// No clamping (the latest possible time): the image keeps every mtime yet is reproducible.
const ENV = { SOURCE_DATE_EPOCH: '4294967295' };

function json(args: string[], env: NodeJS.ProcessEnv = {}): { walk: { besideData: boolean } } {
  const r = cli([...args, '--json'], { ...ENV, ...env });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

test('random trees: the walk beside the data phase gives the walk-first image, for 1, 2 and 3 jobs', { skip }, () => {
  // At most 12 trees (the sanitizer run asks 200 of the property tests; this one makes four images of each).
  const count = Math.min(12, Number(process.env.CASPER_PROPERTY_TREES ?? 4));
  const first = Number(process.env.CASPER_TEST_SEED ?? 7100);
  for (let seed = first; seed < first + count; seed++) {
    const t = tempDir('cs-beside-');
    try {
      const src = join(t, 'src');
      mkdirSync(src);
      const tree = makeRandomTree(src, seed, t);
      // Many directories after the first files: the walk is still going when the first tasks are read.
      for (let d = 0; d < 40; d++)
        for (let f = 0; f < 12; f++)
          file(join(src, `zz${d}`, `f${f}`), bytes((d * 977 + f * 131) % (3 * tree.blockSize), seed * 100 + d, 16));
      const args = ['--source', src, '-b', String(tree.blockSize), '--no-base', '-q'];
      const walkFirst = join(t, 'first.sqfs');
      assert.equal(
        json([...args, walkFirst, '--jobs', '2'], { CASPER_SNAPSHOT_WALK_FIRST: '1' }).walk.besideData,
        false,
      );
      for (const jobs of ['1', '2', '3']) {
        const img = join(t, `beside-${jobs}.sqfs`);
        assert.equal(json([...args, img, '--jobs', jobs]).walk.besideData, true, `seed ${seed}: the walk ran first`);
        assert.ok(
          readFileSync(img).equals(readFileSync(walkFirst)),
          `seed ${seed}, --jobs ${jobs}: the image differs from the walk-first one`,
        );
      }
      checkImage(walkFirst, src, { mksquashfsArgs: ['-b', String(tree.blockSize)], anyFileInodeForm: true });
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  }
});

test('what needs the whole tree first (a base, a wildcard exclude) walks first, and says so', { skip }, () => {
  const t = tempDir('cs-beside-');
  try {
    const src = join(t, 'src');
    for (let i = 0; i < 20; i++) file(join(src, `d${i % 4}`, `f${i}.txt`), `file ${i}\n`.repeat(i + 1));
    file(join(src, 'skip.log'), 'left out\n');
    const out = join(t, 'out.sqfs');
    assert.equal(json(['--source', src, out, '-q']).walk.besideData, true, 'no base, no pattern');
    assert.equal(json(['--source', src, out, '-q']).walk.besideData, false, 'the existing image is the base');
    const pat = join(t, 'pat.sqfs');
    assert.equal(json(['--source', src, pat, '-q', '-wildcards', '-e', '*.log']).walk.besideData, false);
    assert.match(must('unsquashfs', ['-l', pat]), /d3\/f19\.txt/);
    assert.doesNotMatch(must('unsquashfs', ['-l', pat]), /skip\.log/);
  } finally {
    rmSync(t, { recursive: true, force: true });
  }
});

test(
  'aborted while the walk goes on beside the data phase: an abort error, no image, nothing left',
  { skip },
  async () => {
    const t = tempDir('cs-beside-');
    try {
      const src = join(t, 'src');
      file(join(src, 'a-big'), bytes(24 << 20, 3, 16)); // its tasks start as soon as the root is listed
      for (let d = 0; d < 200; d++) for (let f = 0; f < 50; f++) file(join(src, `z${d}`, `f${f}`), `${d}/${f}\n`);
      const outDir = join(t, 'out');
      dir(outDir);
      const ac = new AbortController();
      let besideWalk = false;
      await assert.rejects(
        snapshot({
          source: src,
          output: join(outDir, 'o.sqfs'),
          jobs: 2,
          signal: ac.signal,
          onProgress: (p) => {
            // The data phase's first report comes as it starts, with the walk's totals still growing.
            if (p.phase === 'data' && !ac.signal.aborted) {
              besideWalk = p.entriesTotal < 200 * 51;
              ac.abort();
            }
          },
        }),
        (err: unknown) => err instanceof CasperError && ['ABORT_ERR', 'ECANCELED'].includes(err.code),
      );
      assert.ok(besideWalk, 'the data phase began before the walk had found every entry');
      assert.deepEqual(readdirSync(outDir), []);
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  },
);

test(
  'a walk that fails after the data phase began: its error (path, cause), exit 2, the old image kept, nothing left',
  { skip },
  () => {
    const t = tempDir('cs-beside-');
    const zz = join(t, 'src', 'zz');
    try {
      file(join(t, 'src', 'big'), bytes(20 << 20, 5)); // published with the root: read while the walk goes on
      // A squashfs whose first inode block is damaged, mounted inside the source: its names list, but an lstat
      // of them fails with EIO (the kernel cannot read their inodes).
      const d = join(t, 'd');
      for (let i = 0; i < 1000; i++) file(join(d, `f${i}`), `file ${i}\n`);
      const bad = join(t, 'bad.sqfs');
      must('mksquashfs', [d, bad, '-noappend', '-quiet', '-no-progress']);
      const img = readFileSync(bad);
      const inodes = Number(img.readBigUInt64LE(64));
      const len = img.readUInt16LE(inodes) & 0x7fff;
      for (let i = inodes + 12; i < inodes + len - 8; i++) img[i] ^= 0x5a;
      writeFileSync(bad, img);
      mkdirSync(zz);
      must('mount', ['-o', 'loop,ro', bad, zz]);
      const out = join(t, 'out');
      dir(out);
      writeFileSync(join(out, 'o.sqfs'), 'hsqs: old');
      const r = cli(['--source', join(t, 'src'), join(out, 'o.sqfs'), '-q', '--no-base']);
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, /lstat '.*\/src\/zz\/f\d+': Input\/output error/);
      assert.equal(readFileSync(join(out, 'o.sqfs'), 'utf8'), 'hsqs: old');
      assert.deepEqual(leftovers(out), []);
    } finally {
      run('umount', ['-l', zz]);
      rmSync(t, { recursive: true, force: true });
    }
  },
);
