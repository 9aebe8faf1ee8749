// --base: an incremental snapshot copies the stored data of unchanged files from an earlier image. Each test
// makes a full snapshot, changes the tree, then checks the incremental image against the tree (kernel mount,
// unsquashfs, rdsquashfs, sqfsdiff against mksquashfs) and against a full snapshot of the same tree.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { snapshot, type SnapshotReport } from '../src/api/snapshot.js';
import { checkImage, tempDir } from './helpers/image-check.js';
import { bytes, file, hardlink } from './helpers/make-tree.js';
import { makeRandomTree, Rng } from './helpers/random-tree.js';
import { rng } from './helpers/fuzz.js';
import { mutateImage } from './helpers/image-mutations.js';
import { verify } from '../src/api/index.js';
import { cli, must } from './helpers/tools.js';

const BS = 131072;
const DAY = 86400;
const old = (path: string | Buffer, daysAgo = 2) => {
  const t = Math.floor(Date.now() / 1000) - daysAgo * DAY;
  utimesSync(path, t, t);
};

/** Every regular file under dir, as byte paths (names may be any bytes), in a stable order. */
function filesUnder(dir: Buffer | string): Buffer[] {
  const base = Buffer.isBuffer(dir) ? dir : Buffer.from(dir);
  const out: Buffer[] = [];
  const names = readdirSync(base, { encoding: 'buffer' }).sort(Buffer.compare);
  for (const name of names) {
    const p = Buffer.concat([base, Buffer.from('/'), name]);
    const st = lstatSync(p, { throwIfNoEntry: false });
    if (!st) continue;
    if (st.isDirectory()) out.push(...filesUnder(p));
    else if (st.isFile()) out.push(p);
  }
  return out;
}

/** sqfsdiff between two images: '' when their contents are equal. */
function sqfsdiff(a: string, b: string): string {
  const r = spawnSync('sqfsdiff', ['-a', a, '-b', b], { maxBuffer: 1 << 26 });
  return r.status === 0
    ? ''
    : `exit ${r.status}: ${r.stdout.toString().slice(0, 2000)}${r.stderr.toString().slice(0, 500)}`;
}

/** A tree of text and random files, small and large, with old mtimes (not racy). */
function makeTree(root: string): void {
  // Never changed: their tails fill the first fragment block on their own, which is then copied whole.
  for (let i = 0; i < 40; i++) file(join(root, 'keep', `k${String(i).padStart(2, '0')}`), bytes(4000 + i, 300 + i, 16));
  for (let i = 0; i < 60; i++)
    file(join(root, 'small', `f${String(i).padStart(3, '0')}`), `small file ${i} `.repeat(50 + i * 7));
  for (let i = 0; i < 6; i++) file(join(root, 'big', `b${i}`), bytes(3 * BS + 1000 * i, 100 + i, i % 2 ? 256 : 16));
  file(join(root, 'big', 'whole-blocks'), bytes(4 * BS, 7, 16));
  file(join(root, 'dup', 'one'), bytes(2 * BS + 500, 9, 16));
  file(join(root, 'dup', 'two'), bytes(2 * BS + 500, 9, 16)); // a duplicate: the base shares its blocks
  hardlink(join(root, 'big', 'b1'), join(root, 'big', 'b1-link'));
  writeFileSync(join(root, 'empty'), '');
  must('find', [root, '-exec', 'touch', '-h', '-d', '2 days ago', '{}', '+']);
}

test('an incremental snapshot copies unchanged files and equals a full snapshot of the changed tree', async () => {
  const t = tempDir('cs-inc-');
  try {
    const src = join(t, 'src');
    makeTree(src);
    const out = join(t, 'out.sqfs');
    const first = await snapshot({ source: src, output: out, jobs: 2 });
    assert.equal(first.base, null, 'no image at the output: no base');
    // Changes: rewritten (new size), rewritten (same size, other mtime), deleted, added, chmod, a fragment
    // block's neighbours deleted so it is repacked.
    file(join(src, 'big', 'b2'), bytes(3 * BS + 777, 55, 16));
    old(join(src, 'big', 'b2'), 1);
    writeFileSync(join(src, 'small', 'f005'), 'X'.repeat(statSync(join(src, 'small', 'f005')).size));
    old(join(src, 'small', 'f005'), 1);
    // Many of small/'s tails go: what is left of their fragment blocks is packed again.
    for (let i = 10; i < 40; i++) unlinkSync(join(src, 'small', `f0${i}`));
    file(join(src, 'small', 'new'), 'a new file');
    require_chmod(join(src, 'small', 'f050'));
    const inc = await snapshot({ source: src, output: out, jobs: 2 });
    assert.ok(inc.base?.used, `the output was the base: ${JSON.stringify(inc.base)} ${inc.warnings.join('; ')}`);
    assert.equal(inc.base.byDefault, true);
    // Read again: b2, f005, f050 (mode), new; the empty file has no data to copy.
    const files = filesUnder(src).length - 1; // b1-link shares b1's inode
    assert.equal(inc.base.files, files - 5, `unchanged files: ${JSON.stringify(inc.base)}`);
    assert.ok(inc.base.repackedTails > 0, 'the tails around the deleted files are packed again');
    assert.ok(inc.base.copiedFragments > 0, 'a fragment block holding only unchanged files (keep/) is copied whole');
    assert.equal(inc.image.reusedFiles, inc.base.files);
    assert.ok(
      inc.image.bytesRead < 3 * BS + 777 + 4 * 5000,
      `only changed files are read (${inc.image.bytesRead} bytes)`,
    );
    checkImage(out, src, { contents: true });
    const full = join(t, 'full.sqfs');
    const f = await snapshot({ source: src, output: full, base: false, jobs: 2 });
    assert.equal(f.base, null);
    assert.equal(sqfsdiff(out, full), '', 'the incremental image holds what a full snapshot holds');
    assert.ok(
      statSync(out).size <= statSync(full).size * 1.02,
      `no bloat: ${statSync(out).size} vs ${statSync(full).size}`,
    );
    // The duplicate in the base stays shared.
    assert.equal(inc.image.dataBlocks, f.image.dataBlocks, 'the same number of data blocks as the full snapshot');
    // The verifier reads it all back; --verify checks the copied blocks decompress.
    const v = cli(['verify', out, src]);
    assert.equal(v.status, 0, v.stdout + v.stderr);
  } finally {
    rmSync(t, { recursive: true, force: true });
  }
});

function require_chmod(path: string): void {
  must('chmod', ['0600', path]);
  old(path, 2);
}

test('incremental images are byte-identical for any number of jobs, and --verify passes', async () => {
  const t = tempDir('cs-inc-');
  try {
    const src = join(t, 'src');
    makeTree(src);
    const base = join(t, 'base.sqfs');
    const sourceDateEpoch = Math.floor(Date.now() / 1000) - DAY; // one value for every run: it is the superblock's time
    await snapshot({ source: src, output: base, jobs: 2, sourceDateEpoch });
    file(join(src, 'big', 'b3'), bytes(5 * BS + 3, 77, 16));
    old(join(src, 'big', 'b3'), 0.5);
    unlinkSync(join(src, 'small', 'f040'));
    const hashes = new Set<string>();
    for (const jobs of [1, 2, 5]) {
      const out = join(t, `inc-${jobs}.sqfs`);
      const r = await snapshot({ source: src, output: out, base, jobs, verify: true, sourceDateEpoch });
      assert.ok(r.base?.used, JSON.stringify(r.base));
      assert.equal(r.base.byDefault, false);
      assert.ok(r.verified && r.verified.files >= 1, 'the file read is verified by digest');
      hashes.add(must('sha256sum', [out]).split(' ')[0]);
    }
    assert.equal(hashes.size, 1, 'the same bytes for 1, 2 and 5 jobs');
  } finally {
    rmSync(t, { recursive: true, force: true });
  }
});

test("a file modified within the base's creation second is read again (racily clean)", async () => {
  const t = tempDir('cs-inc-');
  try {
    const src = join(t, 'src');
    makeTree(src);
    const racy = join(src, 'small', 'f001');
    const future = Math.floor(Date.now() / 1000) + 3600; // not older than the base: the quick check cannot trust it
    utimesSync(racy, future, future);
    const out = join(t, 'out.sqfs');
    await snapshot({ source: src, output: out, jobs: 1 });
    const size = statSync(racy).size;
    writeFileSync(racy, 'Z'.repeat(size)); // same size, and the same mtime again
    utimesSync(racy, future, future);
    const r = await snapshot({ source: src, output: out, jobs: 1 });
    assert.ok(r.base?.used);
    assert.equal(r.base.racy, 1, 'one file passed the quick check but was read again');
    const got = must('unsquashfs', ['-cat', out, '/small/f001']);
    assert.equal(got, 'Z'.repeat(size), 'the new content is in the image');
  } finally {
    rmSync(t, { recursive: true, force: true });
  }
});

test('a base that does not fit or does not read gives a warning and a full snapshot; --no-base and -noappend take none', async () => {
  const t = tempDir('cs-inc-');
  try {
    const src = join(t, 'src');
    makeTree(src);
    const out = join(t, 'out.sqfs');
    await snapshot({ source: src, output: out, compressor: 'gzip', jobs: 1 });
    const other = await snapshot({ source: src, output: out, compressor: 'lz4', jobs: 1 });
    assert.equal(other.base?.used, false);
    assert.match(other.base.reason, /compressed with gzip/);
    assert.ok(
      other.warnings.some((w) => /not used as the base .*a full snapshot/.test(w)),
      other.warnings.join('; '),
    );
    checkImage(out, src, { noReference: true });
    const bs = await snapshot({ source: src, output: out, compressor: 'lz4', blockSize: 65536, jobs: 1 });
    assert.match(bs.base!.reason, /block size is 131072/);
    // A base whose inode table is garbage: not used, and the snapshot is still right.
    const broken = join(t, 'broken.sqfs');
    copyFileSync(out, broken);
    const b = readFileSync(broken);
    const inodeTable = Number(b.readBigUInt64LE(64));
    b.fill(0xa5, inodeTable, inodeTable + 64);
    writeFileSync(broken, b);
    const r = await snapshot({
      source: src,
      output: join(t, 'x.sqfs'),
      base: broken,
      compressor: 'lz4',
      blockSize: 65536,
      jobs: 1,
    });
    assert.equal(r.base?.used, false);
    assert.ok(
      r.warnings.some((w) => w.includes(broken)),
      r.warnings.join('; '),
    );
    checkImage(join(t, 'x.sqfs'), src, { noReference: true });
    const none = await snapshot({
      source: src,
      output: out,
      compressor: 'lz4',
      blockSize: 65536,
      base: false,
      jobs: 1,
    });
    assert.equal(none.base, null);
    const c = cli(['--source', src, out, '-comp', 'lz4', '-b', '65536', '-noappend', '--json', '-q']);
    assert.equal(c.status, 0, c.stderr);
    assert.equal(JSON.parse(c.stdout).base, null, '-noappend: the image is written anew');
    const d = cli(['--source', src, out, '-comp', 'lz4', '-b', '65536', '--json', '-q']);
    assert.equal(JSON.parse(d.stdout).base.used, true, 'the CLI takes the output as the base by default');
    const missing = cli(['--source', src, join(t, 'y.sqfs'), '--base', join(t, 'nope.sqfs')]);
    assert.equal(missing.status, 1, 'a base that does not exist is a usage error');
    assert.match(missing.stderr, /nope\.sqfs.*cannot be read/);
  } finally {
    rmSync(t, { recursive: true, force: true });
  }
});

test('random trees: an incremental snapshot after random changes equals a full one (every reader agrees)', async () => {
  const seeds = Number(process.env.CASPER_INCREMENTAL_TREES ?? 6);
  for (let seed = 1; seed <= seeds; seed++) {
    const t = tempDir('cs-inc-');
    try {
      const src = join(t, 'src');
      mkdirSync(src);
      const tree = makeRandomTree(src, 9000 + seed, t);
      const args = tree.args;
      must('find', [src, '-exec', 'touch', '-h', '-d', '3 days ago', '{}', '+']);
      const out = join(t, 'out.sqfs');
      let r = cli(['--source', src, out, '-q', ...args]);
      assert.equal(r.status, 0, r.stderr);
      const rng = new Rng(seed);
      const files = filesUnder(src);
      files.forEach((p, i) => {
        const roll = rng.int(0, 9);
        if (roll === 0) unlinkSync(p);
        else if (roll === 1) {
          writeFileSync(p, bytes(rng.int(0, 3 * tree.blockSize), seed * 1000 + i, rng.pick([16, 256])));
          old(p, 1);
        }
      });
      file(join(src, 'added-by-test'), bytes(tree.blockSize + 5, seed, 16));
      old(join(src, 'added-by-test'), 1);
      old(src, 1);
      r = cli(['--source', src, out, '-q', '--json', ...args]);
      assert.equal(r.status, 0, r.stderr);
      const rep = JSON.parse(r.stdout) as { base: SnapshotReport['base'] };
      assert.ok(rep.base?.used, `seed ${seed}: ${JSON.stringify(rep.base)}`);
      checkImage(out, src, { contents: true, mksquashfsArgs: mksquashfsArgsOf(args), anyFileInodeForm: true });
      const full = join(t, 'full.sqfs');
      r = cli(['--source', src, full, '-q', '--no-base', ...args]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(sqfsdiff(out, full), '', `seed ${seed}: incremental and full images differ`);
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  }
});

/** The mksquashfs arguments matching a random tree's casper-snapshot arguments (both accept the same spellings). */
function mksquashfsArgsOf(args: string[]): string[] {
  return args.filter((a) => a !== '-q');
}

test('mutated base images: a snapshot never crashes or fails because of its base, and its tables are sound', async () => {
  const t = tempDir('cs-inc-');
  try {
    const src = join(t, 'src');
    makeTree(src);
    const seeds: Buffer[] = [];
    for (const compressor of ['gzip', 'zstd'] as const) {
      const img = join(t, `seed-${compressor}.sqfs`);
      await snapshot({ source: src, output: img, compressor, jobs: 1 });
      seeds.push(readFileSync(img));
    }
    file(join(src, 'small', 'f002'), 'changed');
    unlinkSync(join(src, 'small', 'f003'));
    const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : Math.floor(Math.random() * 2 ** 31);
    const count = Number(process.env.CASPER_BASE_FUZZ ?? 60);
    const next = rng(seed);
    let used = 0;
    for (let i = 0; i < count; i++) {
      const k = i % seeds.length;
      const { data, what } = mutateImage(seeds[k], next);
      const base = join(t, 'base.sqfs');
      writeFileSync(base, data);
      const out = join(t, 'out.sqfs');
      rmSync(out, { force: true });
      const compressor = k === 0 ? 'gzip' : 'zstd';
      let r: SnapshotReport;
      try {
        r = await snapshot({ source: src, output: out, compressor, base, jobs: 1 });
      } catch (err) {
        assert.fail(`FUZZ_SEED=${seed} case ${i} (${what}): the snapshot failed: ${(err as Error).message}`);
      }
      if (r.base?.used) used++;
      else
        assert.ok(
          r.warnings.some((w) => w.includes('not used as the base')),
          `case ${i} (${what}): a base not used is a warning`,
        );
      const v = await verify(out, { data: false });
      assert.ok(
        v.ok,
        `FUZZ_SEED=${seed} case ${i} (${what}): the new image's tables: ${JSON.stringify(v.problems.slice(0, 2))}`,
      );
    }
    assert.ok(used > 0, 'some mutations leave the base usable (a flipped data byte)');
  } finally {
    rmSync(t, { recursive: true, force: true });
  }
});

test('--base-check content: equal data is copied whatever the mtime, and a rewrite behind an old mtime is caught', async () => {
  const t = tempDir('cs-inc-');
  try {
    const src = join(t, 'src');
    makeTree(src);
    const out = join(t, 'out.sqfs');
    await snapshot({ source: src, output: out, jobs: 2 });
    // Touched (same bytes, new mtime), and rewritten with its old mtime put back (the quick check's blind spot).
    must('touch', [join(src, 'big', 'b4'), join(src, 'small', 'f007')]);
    const sneaky = join(src, 'small', 'f008');
    const st = statSync(sneaky);
    writeFileSync(sneaky, 'Q'.repeat(st.size));
    utimesSync(sneaky, st.atime, st.mtime);
    const quick = join(t, 'quick.sqfs');
    const q = await snapshot({ source: src, output: quick, base: out, jobs: 2 });
    assert.equal(q.base?.compared, 0);
    assert.notEqual(
      must('unsquashfs', ['-cat', quick, '/small/f008']),
      'Q'.repeat(st.size),
      'the quick check takes the rewrite for unchanged (documented)',
    );
    const c = cli([
      '--source',
      src,
      join(t, 'content.sqfs'),
      '--base',
      out,
      '--base-check',
      'content',
      '--json',
      '-q',
      '-j',
      '2',
    ]);
    assert.equal(c.status, 0, c.stderr);
    const rep = JSON.parse(c.stdout) as { base: NonNullable<SnapshotReport['base']> };
    assert.ok(rep.base.used && rep.base.compared > 0, JSON.stringify(rep.base));
    assert.equal(
      rep.base.files,
      q.base!.files + 1,
      'the two touched files are copied, the rewritten one is read (quick: the touched read, the rewrite copied)',
    );
    assert.equal(
      must('unsquashfs', ['-cat', join(t, 'content.sqfs'), '/small/f008']),
      'Q'.repeat(st.size),
      'content comparison reads the rewrite',
    );
    const full = join(t, 'full.sqfs');
    await snapshot({ source: src, output: full, base: false, jobs: 2 });
    assert.equal(sqfsdiff(join(t, 'content.sqfs'), full), '');
    checkImage(join(t, 'content.sqfs'), src, { contents: true });
  } finally {
    rmSync(t, { recursive: true, force: true });
  }
});
