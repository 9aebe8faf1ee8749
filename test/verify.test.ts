// The native reader and `verify`: every image written by this project, mksquashfs and gensquashfs reads back
// and matches its source; hand-made broken images are each caught with a typed error naming the table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, rmSync, truncateSync, writeFileSync, utimesSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { verify, type VerifyReport } from '../src/api/index.js';
import { cli, has, must, run } from './helpers/tools.js';
import { tempDir } from './helpers/image-check.js';
import { isRoot } from './helpers/capabilities.js';
import { bytes, file, hardlink, mknod, symlink } from './helpers/make-tree.js';
import { SB_FIELD, dirEntryName, fileInodeBySize, load, rawInodeAt, superblock } from './helpers/squashfs-surgery.js';

const BIG = 3 * 131072; // three full 128K blocks, no tail
const SMALL = 777; // one fragment tail

function makeSource(root: string): void {
  file(join(root, 'big.txt'), Buffer.from('casper snapshot verify '.repeat(BIG / 23 + 1).slice(0, BIG)));
  file(join(root, 'small'), bytes(SMALL, 7));
  file(join(root, 'random'), bytes(200_000, 3));
  file(join(root, 'empty'), '');
  file(join(root, 'a', 'x1'), 'one');
  file(join(root, 'a', 'x2'), 'two');
  file(join(root, 'a', 'sub', 'deep'), 'deep', 0o600);
  hardlink(join(root, 'a', 'x1'), join(root, 'a', 'x1-link'));
  symlink('a/x2', join(root, 'link'));
  // A sparse file: 1 MiB of hole, then a tail.
  writeFileSync(join(root, 'sparse'), '');
  truncateSync(join(root, 'sparse'), 1 << 20);
  writeFileSync(join(root, 'sparse'), 'tail', { flag: 'a' });
  // A large directory: more than 256 entries and more than 8 KiB of listing (an index in every writer).
  for (let i = 0; i < 300; i++)
    file(join(root, 'many', `entry-with-a-longish-name-${String(i).padStart(3, '0')}`), String(i));
  if (isRoot()) {
    mknod(join(root, 'null'), 'c', 1, 3);
    mknod(join(root, 'fifo'), 'p');
  }
  must('setfattr', ['-n', 'user.casper', '-v', 'verified', join(root, 'empty')]);
  for (const d of ['a/sub', 'a', 'many', '.']) utimesSync(join(root, d), 1_700_000_000, 1_700_000_000);
}

/** Why the sources (made in the temporary directory) cannot carry a user xattr here, or false. */
function userXattrsMissing(): string | false {
  if (!has('setfattr')) return 'setfattr (attr) is not installed';
  const d = tempDir('cs-xattr-');
  try {
    writeFileSync(join(d, 'probe'), '');
    const r = run('setfattr', ['-n', 'user.casper', '-v', 'probe', join(d, 'probe')]);
    return r.status === 0
      ? false
      : `the file system of ${dirname(d)} takes no user xattrs (setfattr: ${r.stderr.trim().split(': ').pop()})`;
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
}
// The sources carry a user xattr: where none can be set, the tests that use them say why they skip.
const noXattrs = userXattrsMissing();

function assertSound(
  r: VerifyReport,
  what: string,
  allowed: (d: VerifyReport['differences'][number]) => boolean = () => false,
): void {
  assert.deepEqual(r.problems, [], `${what}: problems`);
  assert.equal(r.ok, true, what);
  const diffs = r.differences.filter((d) => !allowed(d));
  assert.deepEqual(
    diffs.map((d) => d.line),
    [],
    `${what}: differences from the source`,
  );
  assert.ok(r.counts.entries >= 310, `${what}: entries ${r.counts.entries}`);
}

test(
  'verify reads every image of ours, mksquashfs and gensquashfs (all codecs, 4K-1M blocks) and each matches its source',
  { skip: noXattrs },
  async () => {
    const dir = tempDir('cs-verify-');
    try {
      const src = join(dir, 'src');
      mkdirSync(src);
      makeSource(src);
      const images: { img: string; what: string; allowed?: (d: VerifyReport['differences'][number]) => boolean }[] = [];
      const ours: [string, string][] = [
        ['gzip', '4K'],
        ['xz', '1M'],
        ['lz4', '128K'],
        ['zstd', '64K'],
        ['lzo', '16K'],
      ];
      for (const [comp, bs] of ours) {
        const img = join(dir, `ours-${comp}-${bs}.sqfs`);
        must(process.execPath, [
          join(process.cwd(), 'bin', 'casper-snapshot.js'),
          '--source',
          src,
          img,
          '--compressor',
          comp,
          '-b',
          bs,
          '-q',
        ]);
        images.push({ img, what: `ours ${comp} ${bs}` });
      }
      if (has('mksquashfs')) {
        const mk: [string, string][] = [
          ['gzip', '1M'],
          ['xz', '4K'],
          ['lz4', '128K'],
          ['zstd', '4K'],
          ['lzo', '1M'],
        ];
        for (const [comp, bs] of mk) {
          const img = join(dir, `mk-${comp}-${bs}.sqfs`);
          must('mksquashfs', [src, img, '-noappend', '-quiet', '-no-progress', '-comp', comp, '-b', bs]);
          images.push({ img, what: `mksquashfs ${comp} ${bs}` });
        }
        const raw = join(dir, 'mk-raw.sqfs');
        must('mksquashfs', [
          src,
          raw,
          '-noappend',
          '-quiet',
          '-no-progress',
          '-noI',
          '-noD',
          '-noF',
          '-noX',
          '-always-use-fragments',
        ]);
        images.push({ img: raw, what: 'mksquashfs uncompressed metadata' });
      }
      if (has('gensquashfs')) {
        const ng: [string, string][] = [
          ['gzip', '131072'],
          ['xz', '4096'],
          ['lz4', '1048576'],
          ['zstd', '65536'],
          ['lzo', '131072'],
        ];
        for (const [comp, bs] of ng) {
          const img = join(dir, `ng-${comp}-${bs}.sqfs`);
          must('gensquashfs', ['-q', '-D', src, '-k', '-x', '-f', '-c', comp, '-b', bs, img]);
          // gensquashfs -D does not detect hard links and gives the root directory time 0.
          images.push({
            img,
            what: `gensquashfs ${comp} ${bs}`,
            allowed: (d) => d.kind === 'links' || (d.path === '/' && d.kind === 'mtime'),
          });
        }
      }
      for (const { img, what, allowed } of images) {
        const r = await verify(img, { dir: src, ignore: isRoot() ? [] : ['owner'] });
        assertSound(r, what, allowed);
        assert.ok(r.counts.sparseBlocks >= 1 || what.startsWith('gensquashfs'), `${what}: the sparse file's hole`);
        if (!what.startsWith('gensquashfs')) assert.equal(r.counts.hardlinks, 1, `${what}: hard links`);
        assert.ok(
          r.counts.dataBlocks > 0 && r.counts.fragmentTails > 0,
          `${what}: data blocks and fragments were read`,
        );
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test(
  'verify IMAGE DIR lists each difference like diff -r and exits 3; a sound image exits 0; --json',
  { skip: noXattrs },
  () => {
    const dir = tempDir('cs-verify-');
    try {
      const src = join(dir, 'src');
      mkdirSync(src);
      makeSource(src);
      const img = join(dir, 'img.sqfs');
      must(process.execPath, [join(process.cwd(), 'bin', 'casper-snapshot.js'), '--source', src, img, '-q']);
      let r = cli(['verify', img, src]);
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /sound, same as/);
      const x2time = Math.floor(lstatSync(join(src, 'a', 'x2')).mtimeMs / 1000);
      writeFileSync(join(src, 'a', 'x2'), 'TWO');
      utimesSync(join(src, 'a', 'x2'), 1_600_000_000, 1_600_000_000);
      writeFileSync(join(src, 'a', 'new'), 'n');
      rmSync(join(src, 'a', 'sub', 'deep'));
      must('chmod', ['700', join(src, 'many')]);
      utimesSync(join(src, 'a'), 1_700_000_000, 1_700_000_000);
      utimesSync(join(src, 'a', 'sub'), 1_700_000_000, 1_700_000_000);
      r = cli(['verify', '-q', img, src]);
      assert.equal(r.status, 3, r.stdout + r.stderr);
      const lines = r.stdout.trim().split('\n');
      assert.deepEqual(lines, [
        `Only in ${src}/a: new`,
        `Only in ${img}:/a/sub: deep`,
        `Modification times differ: ${img}:/a/x2 ${x2time}, ${src}/a/x2 1600000000`,
        `Files ${img}:/a/x2 and ${src}/a/x2 differ`,
        `Modes differ: ${img}:/many 0755, ${src}/many 0700`,
      ]);
      const j = cli(['verify', '--json', '--ignore', 'mtime,content', img, src]);
      assert.equal(j.status, 3);
      const rep = JSON.parse(j.stdout);
      assert.equal(rep.ok, true);
      assert.deepEqual(rep.differences.map((d: { kind: string; path: string }) => `${d.kind} ${d.path}`).sort(), [
        'mode /many',
        'only-in-dir /a/new',
        'only-in-image /a/sub/deep',
      ]);
      const plain = cli(['verify', '--json', img]);
      assert.equal(plain.status, 0);
      assert.equal(JSON.parse(plain.stdout).identical, null);
      assert.equal(cli(['verify', '--ignore', 'colour', img]).status, 1);
      assert.equal(cli(['verify', join(dir, 'missing.sqfs')]).status, 2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

// Each broken image: what is done to it, and what the error must name.
interface Breakage {
  name: string;
  table: RegExp;
  message: RegExp;
  make(b: Buffer): Buffer;
}

const put64 = (b: Buffer, at: number, v: number | bigint) => {
  b.writeBigUInt64LE(BigInt(v), at);
  return b;
};

const BREAKAGES: Breakage[] = [
  {
    name: 'truncated',
    table: /superblock/,
    message: /truncated/,
    make: (b) => b.subarray(0, Math.floor(superblock(b).bytesUsed / 2)),
  },
  { name: 'empty file', table: /superblock/, message: /less than a superblock/, make: () => Buffer.alloc(0) },
  {
    name: 'bad magic',
    table: /superblock/,
    message: /bad magic/,
    make: (b) => {
      b.write('hsqt', 0, 'latin1');
      return b;
    },
  },
  {
    name: 'inode table offset past the end',
    table: /superblock/,
    message: /inode_table_start|out of order/,
    make: (b) => put64(b, SB_FIELD.inodeTable, superblock(b).bytesUsed + 4096),
  },
  {
    name: 'directory entry pointing past the inode table',
    table: /directory table/,
    message: /past the inode table/,
    make: (b) => {
      // The header of a/'s one run: 12 bytes before its first entry, 'sub'.
      b.writeUInt32LE(0xfff0, headerOfA(b) + 4);
      return b;
    },
  },
  {
    name: 'unsorted names',
    table: /directory table/,
    message: /not sorted/,
    make: (b) => {
      const a = dirEntryName(b, 'x1');
      const c = dirEntryName(b, 'x2');
      b.write('x2', a, 'latin1');
      b.write('x1', c, 'latin1');
      return b;
    },
  },
  {
    name: 'bad compressed block',
    table: /data block/,
    message: /does not decompress|declared/,
    make: (b) => {
      const ino = fileInodeBySize(b, BIG);
      const start = b.readUInt32LE(ino + 16);
      b.fill(0x55, start + 8, start + 40);
      return b;
    },
  },
  {
    name: 'block size word too large',
    table: /data block/,
    message: /more than the block size/,
    make: (b) => {
      b.writeUInt32LE(0x00ffffff, fileInodeBySize(b, BIG) + 32);
      return b;
    },
  },
  {
    name: 'id index out of range',
    table: /inode table/,
    message: /uid index \d+ is past the id table/,
    make: (b) => {
      b.writeUInt16LE(200, fileInodeBySize(b, BIG) + 4);
      return b;
    },
  },
  {
    name: 'fragment index out of range',
    table: /inode table/,
    message: /fragment index \d+ is past the fragment table/,
    make: (b) => {
      b.writeUInt32LE(5000, fileInodeBySize(b, SMALL) + 20);
      return b;
    },
  },
  {
    name: 'looping metadata (a directory listing that leads back to its parent)',
    table: /directory table/,
    message: /shares the listing of directory inode|a second time/, // a loop through a shared listing is caught as the sharing
    make: (b) => {
      // Directory a/sub is given the root's listing, which holds 'a' again.
      const sb = superblock(b);
      const root = rawInodeAt(b, sb.rootInode);
      assert.equal(b.readUInt16LE(root), 1, 'the root is a basic directory');
      const subEntry = dirEntryName(b, 'sub') - 8;
      const inodeBlock = b.readUInt32LE(headerOfA(b) + 4);
      const sub = rawInodeAt(b, (BigInt(inodeBlock) << 16n) | BigInt(b.readUInt16LE(subEntry)));
      assert.equal(b.readUInt16LE(sub), 1, 'a/sub is a basic directory');
      b.writeUInt32LE(b.readUInt32LE(root + 16), sub + 16); // listing block
      b.writeUInt16LE(b.readUInt16LE(root + 24), sub + 24); // listing size
      b.writeUInt16LE(b.readUInt16LE(root + 26), sub + 26); // listing offset
      return b;
    },
  },
  {
    name: 'export table at the id table',
    table: /export table|index/,
    message: /.+/,
    make: (b) => put64(b, SB_FIELD.exportTable, superblock(b).idTable),
  },
];

/** The header of directory a/'s listing (one run: sub, x1, x1-link, x2), in a raw directory table. */
function headerOfA(b: Buffer): number {
  const h = dirEntryName(b, 'sub') - 8 - 12;
  assert.equal(b.readUInt32LE(h), 3, "a/'s run holds 4 entries");
  return h;
}

test(
  'verify catches each hand-made broken image with a typed error naming the table',
  { skip: noXattrs },
  async (t) => {
    if (!has('mksquashfs')) return t.skip('mksquashfs (for an image with uncompressed metadata) is not installed');
    const dir = tempDir('cs-verify-');
    try {
      const src = join(dir, 'src');
      mkdirSync(src);
      makeSource(src);
      const base = join(dir, 'base.sqfs');
      must('mksquashfs', [
        src,
        base,
        '-noappend',
        '-quiet',
        '-no-progress',
        '-noI',
        '-noX',
        '-comp',
        'gzip',
        '-b',
        '128K',
      ]);
      const good = await verify(base);
      assert.equal(good.ok, true, JSON.stringify(good.problems));
      for (const br of BREAKAGES) {
        const img = join(dir, `broken-${br.name.split(' ')[0]}.sqfs`);
        writeFileSync(img, br.make(load(base)));
        const r = await verify(img);
        assert.equal(r.ok, false, `${br.name}: not caught`);
        const p = r.problems[0];
        assert.equal(p.code, 'ESQUASH_CORRUPT', `${br.name}: ${JSON.stringify(p)}`);
        assert.match(p.table, br.table, `${br.name}: ${p.message}`);
        assert.match(p.message, br.message, `${br.name}: ${p.message}`);
        if (!/empty|truncated/.test(br.name)) assert.equal(typeof p.offset, 'number', `${br.name}: an offset`);
        const c = cli(['verify', img]);
        assert.equal(c.status, 2, `${br.name}: exit status`);
        assert.match(c.stdout, /corrupt image: /);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test('the verify help and usage errors', () => {
  const h = cli(['verify', '--help']);
  assert.equal(h.status, 0);
  for (const o of ['--json', '--ignore', '--no-data', '--jobs', '--quiet']) assert.ok(h.stdout.includes(o), o);
  assert.equal(cli(['verify']).status, 1);
  const r = run(process.execPath, [join(process.cwd(), 'bin', 'casper-snapshot.js'), 'verify', '--json']);
  assert.equal(r.status, 1);
  assert.equal(JSON.parse(r.stdout).error.code, 'EUSAGE');
});
