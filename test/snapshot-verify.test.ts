// --verify / verify: true on a snapshot: the new image is read back before it replaces the output, and each
// file's stored data must give the digest of the bytes read from the source. Images are broken between the
// tables and the check through snapshotWith's afterTables hook (tests only), never by a fault in the product.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { snapshotWith } from '../src/api/snapshot.js';
import { CasperError } from '../src/errors.js';
import { cli } from './helpers/tools.js';
import { tempDir } from './helpers/image-check.js';
import { bytes, file } from './helpers/make-tree.js';
import { makeRandomTree } from './helpers/random-tree.js';
import { SB_FIELD, findAll, load, superblock } from './helpers/squashfs-surgery.js';

const BS = 131072;

/** Files whose data is stored raw (random bytes do not compress), so a flipped byte still reads as a block. */
function makeSource(root: string): { big: Buffer; tail: Buffer } {
  const big = bytes(40 * BS, 11); // 5 MiB of raw blocks: with ~2 MiB tasks the file spans several segments
  const tail = bytes(3000, 12); // alone in its fragment block, which is then stored raw too
  file(join(root, 'dir', 'big-random'), big);
  file(join(root, 'tail-random'), tail);
  file(join(root, 'text'), 'casper '.repeat(20000));
  file(join(root, 'empty'), '');
  // Holes and zero blocks: the digest must see them as the reader does (sparse words).
  writeFileSync(join(root, 'sparse'), '');
  truncateSync(join(root, 'sparse'), 3 * BS + 17);
  writeFileSync(join(root, 'sparse'), 'end', { flag: 'a' });
  file(join(root, 'zeros'), Buffer.alloc(2 * BS + 100));
  return { big, tail };
}

/** Flips one byte of the image where `needle` (source bytes stored raw) lies in the data section. */
function flipWhere(img: string, needle: Buffer): void {
  const b = load(img);
  const sb = superblock(b);
  const at = findAll(b, needle, 0, sb.inodeTable);
  assert.equal(at.length, 1, 'the bytes to break are stored once, raw');
  b[at[0] + 5] ^= 0xff;
  writeFileSync(img, b);
}

const noTemps = (dir: string) => readdirSync(dir).filter((n) => n.includes('.tmp-'));

test('verify: true passes on a good snapshot and reports every regular file, at 1 and 3 jobs', async () => {
  const t = tempDir('cs-sv-');
  try {
    const src = join(t, 'src');
    mkdirSync(src);
    makeSource(src);
    for (const jobs of [1, 3]) {
      const out = join(t, `good-${jobs}.sqfs`);
      const phases = new Set<string>();
      const r = await snapshotWith(
        {
          source: src,
          output: out,
          jobs,
          verify: true,
          sourceDateEpoch: 1_700_000_000,
          onProgress: (p) => phases.add(p.phase),
        },
        {},
      );
      assert.ok(r.verified, 'verified is reported');
      assert.equal(r.verified.files, r.image.types.files);
      assert.equal(r.verified.bytes, 40 * BS + 3000 + 7 * 20000 + 3 * BS + 17 + 3 + 2 * BS + 100);
      assert.ok(r.verified.ms >= 0 && r.times.verify >= 0);
      assert.ok(phases.has('verify'), `phases: ${[...phases].join(' ')}`);
    }
    assert.deepEqual(readFileSync(join(t, 'good-1.sqfs')), readFileSync(join(t, 'good-3.sqfs')));
    // Without verify the report says so.
    const plain = await snapshotWith({ source: src, output: join(t, 'plain.sqfs') }, {});
    assert.equal(plain.verified, null);
  } finally {
    rmSync(t, { recursive: true, force: true });
  }
});

test('verify: true passes on seeded random trees (holes, duplicates, hard links, odd block sizes)', async () => {
  const t = tempDir('cs-sv-rand-');
  try {
    mkdirSync(join(t, 'scratch'));
    for (const seed of [101, 202, 303, 404]) {
      const src = join(t, `src${seed}`);
      mkdirSync(src);
      const tree = makeRandomTree(src, seed, join(t, 'scratch'));
      const r = cli([...tree.args, '--source', src, '--verify', '--json', join(t, `r${seed}.sqfs`)]);
      assert.equal(r.status, 0, `seed ${seed} (${tree.args.join(' ')}): ${r.stderr}`);
      const rep = JSON.parse(r.stdout) as { verified: { files: number }; counts: { files: number } };
      assert.equal(rep.verified.files, rep.counts.files, `seed ${seed}`);
      assert.ok(rep.counts.files > 0);
    }
  } finally {
    rmSync(t, { recursive: true, force: true });
  }
});

test('a data block changed after it was written fails the snapshot, naming the file; no temporary left, the old image kept', async () => {
  const t = tempDir('cs-sv-bad-');
  try {
    const src = join(t, 'src');
    mkdirSync(src);
    const { big } = makeSource(src);
    const out = join(t, 'out.sqfs');
    await snapshotWith({ source: src, output: out }, {});
    const before = readFileSync(out);
    const needle = big.subarray(3 * BS + 1000, 3 * BS + 1064); // inside the fourth block
    await assert.rejects(
      snapshotWith({ source: src, output: out, verify: true }, { afterTables: (tmp) => flipWhere(tmp, needle) }),
      (err: unknown) => {
        assert.ok(err instanceof CasperError);
        assert.equal(err.code, 'EDIGEST');
        assert.match(err.message, /'\/dir\/big-random'/);
        assert.doesNotMatch(err.message, /tail-random|'\/text'/);
        return true;
      },
    );
    assert.deepEqual(readFileSync(out), before, 'the existing image is untouched');
    assert.deepEqual(noTemps(t), []);
    // The same break without verify goes unnoticed: the check above is what caught it.
    const r = await snapshotWith(
      { source: src, output: join(t, 'unchecked.sqfs') },
      { afterTables: (tmp) => flipWhere(tmp, needle) },
    );
    assert.equal(r.verified, null);
  } finally {
    rmSync(t, { recursive: true, force: true });
  }
});

test('a fragment tail changed after it was written fails the snapshot, naming the file', async () => {
  const t = tempDir('cs-sv-frag-');
  try {
    const src = join(t, 'src');
    mkdirSync(src);
    const tail = bytes(3000, 12);
    file(join(src, 'tail-random'), tail);
    file(join(src, 'other'), bytes(5000, 13)); // shares the fragment block
    const out = join(t, 'out.sqfs');
    await assert.rejects(
      snapshotWith(
        { source: src, output: out, verify: true },
        { afterTables: (tmp) => flipWhere(tmp, tail.subarray(100, 164)) },
      ),
      (err: unknown) => {
        assert.ok(err instanceof CasperError);
        assert.equal(err.code, 'EDIGEST');
        assert.match(err.message, /'\/tail-random'/);
        assert.doesNotMatch(err.message, /'\/other'/);
        return true;
      },
    );
    assert.equal(existsSync(out), false, 'nothing written');
    assert.deepEqual(noTemps(t), []);
  } finally {
    rmSync(t, { recursive: true, force: true });
  }
});

test('a broken table fails --verify too (the structural checks of verify)', async () => {
  const t = tempDir('cs-sv-table-');
  try {
    const src = join(t, 'src');
    mkdirSync(src);
    makeSource(src);
    const out = join(t, 'out.sqfs');
    await assert.rejects(
      snapshotWith(
        { source: src, output: out, verify: true },
        {
          afterTables: (tmp) => {
            const b = load(tmp);
            b.writeBigUInt64LE(BigInt(b.length + 4096), SB_FIELD.directoryTable); // the directory table beyond the end
            writeFileSync(tmp, b);
          },
        },
      ),
      (err: unknown) => err instanceof CasperError && /--verify/.test(err.message),
    );
    assert.equal(existsSync(out), false);
  } finally {
    rmSync(t, { recursive: true, force: true });
  }
});

test('casper-snapshot --verify: a summary line, report.verified in --json; exit 0', () => {
  const t = tempDir('cs-sv-cli-');
  try {
    const src = join(t, 'src');
    mkdirSync(src);
    makeSource(src);
    const r = cli(['--source', src, '--verify', join(t, 'a.sqfs')]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /verified +6 files \(.*\) read back from the image match what was read/);
    const j = cli(['--source', src, '--verify', '--json', join(t, 'b.sqfs')]);
    assert.equal(j.status, 0, j.stderr);
    const rep = JSON.parse(j.stdout) as {
      verified: { files: number; bytes: number; ms: number };
      times: { verify: number };
    };
    assert.equal(rep.verified.files, 6);
    assert.equal(typeof rep.verified.ms, 'number');
    const n = cli(['--source', src, '--json', join(t, 'c.sqfs')]);
    assert.equal((JSON.parse(n.stdout) as { verified: unknown }).verified, null);
  } finally {
    rmSync(t, { recursive: true, force: true });
  }
});
