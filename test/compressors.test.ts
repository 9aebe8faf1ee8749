// Every compressor (gzip, xz, lz4, zstd, lzo): the codec round trip, images at several block sizes checked by
// the kernel, unsquashfs, rdsquashfs and sqfsdiff, the options blocks as mksquashfs writes them, and the
// usage errors for refused compressors and bad options.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { kernelMounts, needs } from './helpers/capabilities.js';
import { checkImage, tempDir } from './helpers/image-check.js';
import { bytes, dir, file, symlink } from './helpers/make-tree.js';
import { cli, must, run } from './helpers/tools.js';
import { loadAddon } from '../src/native/addon.js';
import { snapshot, UsageError } from '../src/api/index.js';

const skip = needs('root', 'loop', 'squashfs-tools', 'squashfs-tools-ng');
const COMPRESSORS = ['gzip', 'xz', 'lz4', 'zstd', 'lzo'];

function snap(src: string, img: string, args: string[] = []): void {
  const r = cli(['--source', src, img, '-q', ...args]);
  assert.equal(r.status, 0, `casper-snapshot ${args.join(' ')} failed: ${r.stderr}`);
}

const TEXT = Array.from(
  { length: 2500 },
  (_, i) => `line ${i}: the quick brown fox ${i % 17} jumps over the lazy dog\n`,
).join('');

/** Compressible text, random bytes, a file of two blocks and a tail, small files for fragments, symlinks. */
function buildTree(src: string, blockSize: number): void {
  dir(src);
  file(join(src, 'text.txt'), TEXT);
  file(join(src, 'random.bin'), bytes(40000, 11));
  // Two blocks and a tail: a text block, then a block that starts less compressible, then random bytes.
  const text = (n: number) => Buffer.from(TEXT.repeat(Math.ceil(n / TEXT.length) + 1)).subarray(0, n);
  const mixed = Math.min(blockSize, 65536);
  file(
    join(src, 'multi-block'),
    Buffer.concat([text(blockSize), bytes(mixed, 12, 16), text(blockSize - mixed), bytes(777, 13)]),
  );
  for (let i = 0; i < 30; i++) file(join(src, `small/f${i}`), `small file ${i}\n`.repeat(i + 1));
  file(join(src, 'small/empty'), '');
  file(join(src, 'code/ls'), readFileSync('/bin/ls')); // machine code, for the BCJ filters
  symlink('text.txt', join(src, 'link'));
  symlink('../text.txt', join(src, 'small/up-link'));
}

/** The lines unsquashfs -s prints about the compressor and its options. */
function compressorSection(img: string): string {
  const out = must('unsquashfs', ['-s', img]);
  const lines = out.split('\n');
  const from = lines.findIndex((l) => l.startsWith('Compression '));
  const to = lines.findIndex((l) => l.startsWith('Block size'));
  assert.ok(from >= 0 && to > from, `unsquashfs -s output has no compression section:\n${out}`);
  return lines.slice(from, to).join('\n');
}

test('the addon lists every compressor with its SquashFS id', () => {
  const ids = Object.fromEntries(
    loadAddon()
      .versions()
      .compressors.map((c) => [c.name, c.id]),
  );
  assert.deepEqual(ids, { gzip: 1, lzo: 3, xz: 4, lz4: 5, zstd: 6 });
});

test('codec round trips: text, random (refused: stored raw), zeros, metadata-sized and 1M blocks', () => {
  const addon = loadAddon();
  const variants: [string, Record<string, string>][] = [
    ['gzip', {}],
    ['gzip', { level: '1' }],
    ['xz', {}],
    ['xz', { bcj: 'x86,powerpc,ia64,arm,armthumb,sparc', 'dict-size': '50%' }],
    ['xz', { level: '0', extreme: 'true' }],
    ['lz4', {}],
    ['lz4', { hc: 'true', level: '12' }],
    ['zstd', {}],
    ['zstd', { level: '1' }],
    ['lzo', {}],
    ['lzo', { algorithm: 'lzo1x_1' }],
    ['lzo', { algorithm: 'lzo1x_1_11' }],
    ['lzo', { algorithm: 'lzo1x_1_12' }],
    ['lzo', { algorithm: 'lzo1x_1_15' }],
    ['lzo', { level: '1' }],
  ];
  const inputs = [
    Buffer.from(TEXT).subarray(0, 8192),
    Buffer.alloc(131072),
    Buffer.concat([Buffer.from(TEXT).subarray(0, 65536), bytes(65536, 3, 4)]),
  ];
  for (const [compressor, compressorOptions] of variants) {
    const spec = { compressor, blockSize: 131072, compressorOptions };
    assert.match(addon.checkCompressor(spec), new RegExp(`^${compressor}`));
    for (const data of inputs) {
      const c = addon.compress(data, spec);
      assert.ok(
        c && c.byteLength < data.length,
        `${compressor} ${JSON.stringify(compressorOptions)} does not compress ${data.length} bytes`,
      );
      assert.ok(
        Buffer.from(addon.decompress(c, spec, data.length)).equals(data),
        `${compressor} ${JSON.stringify(compressorOptions)} round trip`,
      );
    }
    assert.equal(
      addon.compress(bytes(65536, 5), spec),
      null,
      `${compressor}: random bytes must be refused (stored raw)`,
    );
  }
  const big = { compressor: 'zstd', blockSize: 1048576 };
  const data = Buffer.concat([Buffer.from(TEXT.repeat(5)), bytes(1048576 - 5 * TEXT.length, 9, 8)]);
  for (const compressor of COMPRESSORS) {
    const spec = { ...big, compressor };
    const c = addon.compress(data, spec)!;
    assert.ok(Buffer.from(addon.decompress(c, spec, data.length)).equals(data), `${compressor} 1M round trip`);
  }
});

test('xz tries each BCJ filter besides none and keeps the smallest result', () => {
  const addon = loadAddon();
  const code = readFileSync('/bin/ls').subarray(0, 131072);
  const size = (o: Record<string, string>) =>
    addon.compress(code, { compressor: 'xz', blockSize: 131072, compressorOptions: o })!.byteLength;
  const none = size({});
  const x86 = size({ bcj: 'x86' });
  assert.ok(x86 < none, `x86 filter on x86 code: ${x86} bytes, not smaller than ${none} without a filter`);
  assert.equal(size({ bcj: 'sparc,x86,arm' }), x86, 'the smallest of several filters is kept');
  assert.ok(size({ bcj: 'sparc' }) <= none, 'a useless filter never makes a block bigger');
});

for (const compressor of COMPRESSORS) {
  test(
    `${compressor}: images at 4K, 128K and 1M blocks read by the kernel, unsquashfs, rdsquashfs, sqfsdiff`,
    { skip },
    async (t) => {
      const kernel = kernelMounts(compressor);
      if (kernel !== true) t.diagnostic(`kernel mount skipped: ${kernel}`);
      const tmp = tempDir();
      try {
        for (const bs of [4096, 131072, 1048576]) {
          await t.test(`${bs / 1024}K blocks`, () => {
            const src = join(tmp, `src-${bs}`);
            buildTree(src, bs);
            const img = join(tmp, `${compressor}-${bs}.sqfs`);
            const args = ['-comp', compressor, '-b', String(bs)];
            snap(src, img, args);
            // checkImage loop-mounts the image with the kernel's squashfs and compares the tree, contents
            // included, with the source (unless the running kernel lacks this compressor: the diagnostic above).
            checkImage(img, src, { mksquashfsArgs: args, noMount: kernel !== true });
            rmSync(src, { recursive: true, force: true });
          });
        }
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    },
  );
}

// Each set of options against mksquashfs with the same options: the image reads back everywhere, and
// unsquashfs -s shows the same compressor options (so the options block is written exactly when mksquashfs
// writes it, with the same content).
const OPTION_CASES: { args: string[]; shows: RegExp[] }[] = [
  { args: ['-comp', 'xz'], shows: [/^Compression xz$/] },
  {
    args: ['-comp', 'xz', '-Xbcj', 'x86,arm', '-Xdict-size', '64K'],
    shows: [/Dictionary size 65536/, /Filters selected: x86, arm/],
  },
  { args: ['-comp', 'xz', '-Xdict-size', '37.5%'], shows: [/Dictionary size 49152/] },
  { args: ['-comp', 'xz', '-b', '4K'], shows: [/^Compression xz$/] },
  { args: ['-comp', 'lz4'], shows: [/^Compression lz4$/] },
  { args: ['-comp', 'lz4', '-Xhc'], shows: [/High Compression option specified/] },
  { args: ['-comp', 'zstd'], shows: [/^Compression zstd$/] },
  { args: ['-comp', 'zstd', '-Xcompression-level', '19'], shows: [/compression-level 19/] },
  { args: ['-comp', 'lzo'], shows: [/^Compression lzo$/] },
  { args: ['-comp', 'lzo', '-Xalgorithm', 'lzo1x_1'], shows: [/algorithm lzo1x_1/] },
  { args: ['-comp', 'lzo', '-Xcompression-level', '9'], shows: [/algorithm lzo1x_999/, /compression level 9/] },
  { args: ['-comp', 'gzip', '-Xcompression-level', '6'], shows: [/compression-level 6/] },
];

test(
  'compressor options: the options block and unsquashfs -s match mksquashfs, images check out',
  { skip },
  async (t) => {
    const tmp = tempDir();
    try {
      const src = join(tmp, 'src');
      buildTree(src, 131072);
      for (const { args, shows } of OPTION_CASES) {
        await t.test(args.join(' '), () => {
          const comp = args[1];
          const kernel = kernelMounts(comp);
          const img = join(tmp, 'img.sqfs');
          const ref = join(tmp, 'ref.sqfs');
          snap(src, img, args);
          must('mksquashfs', [src, ref, '-noappend', '-quiet', '-no-progress', ...args]);
          const ours = compressorSection(img);
          assert.equal(
            ours,
            compressorSection(ref),
            'unsquashfs -s shows other compressor options than for mksquashfs',
          );
          for (const re of shows) assert.match(ours, new RegExp(re.source, 'm'));
          const a = readFileSync(img);
          const b = readFileSync(ref);
          assert.equal(a.readUInt16LE(20), b.readUInt16LE(20), 'superblock compressor id');
          const flag = 0x400;
          assert.equal(a.readUInt16LE(24) & flag, b.readUInt16LE(24) & flag, 'compressor-options flag');
          if (b.readUInt16LE(24) & flag) {
            const len = (b.readUInt16LE(96) & 0x7fff) + 2;
            assert.ok(
              a.subarray(96, 96 + len).equals(b.subarray(96, 96 + len)),
              'options block differs from mksquashfs',
            );
          }
          checkImage(img, src, { noReference: true, noMount: kernel !== true });
          const diff = run('sqfsdiff', ['-a', ref, '-b', img]);
          assert.equal(
            diff.status,
            0,
            `sqfsdiff reports differences from mksquashfs:\n${diff.stdout.slice(0, 3000)}${diff.stderr.slice(0, 1000)}`,
          );
        });
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  },
);

const BAD: { args: string[]; message: RegExp }[] = [
  { args: ['-comp', 'lzma'], message: /compressor 'lzma' \(LZMA1\) is refused.*use xz/ },
  { args: ['-comp', 'brotli'], message: /unknown compressor 'brotli' \(available: gzip, lzo, xz, lz4, zstd\)/ },
  { args: ['-comp', 'xz', '-Xdict-size', '100K'], message: /xz dict-size 100K .* must be 2\^n or 2\^n\+2\^\(n-1\)/ },
  { args: ['-comp', 'xz', '-Xdict-size', '4K'], message: /below the minimum of 8K/ },
  { args: ['-comp', 'xz', '-b', '4K', '-Xdict-size', '8K'], message: /larger than the block size \(4096\)/ },
  { args: ['-comp', 'xz', '-Xdict-size', '150%'], message: /percentage must be above 0 and at most 100/ },
  { args: ['-comp', 'xz', '-Xbcj', 'x86,mips'], message: /bcj filter 'mips' is unknown/ },
  { args: ['-comp', 'xz', '-Xcompression-level', '10'], message: /xz level must be an integer from 0 to 9/ },
  { args: ['-comp', 'lz4', '-Xcompression-level', '5'], message: /lz4 level applies only to high-compression mode/ },
  {
    args: ['-comp', 'zstd', '-Xcompression-level', '23'],
    message: /zstd level must be an integer from 1 to 22, got '23'/,
  },
  {
    args: ['-comp', 'lzo', '-Xalgorithm', 'lzo1x_1', '-Xcompression-level', '5'],
    message: /lzo level applies only to the lzo1x_999 algorithm/,
  },
  { args: ['-comp', 'lzo', '-Xalgorithm', 'lzo2a'], message: /lzo algorithm 'lzo2a' is unknown/ },
  { args: ['-comp', 'gzip', '-Xhc'], message: /gzip has no option 'hc' \(it takes: level\)/ },
];

test(
  'refused compressors and bad options: exit 1 with a clear message, nothing written',
  { skip: needs('root') },
  async (t) => {
    const tmp = tempDir();
    try {
      const src = join(tmp, 'src');
      file(join(src, 'f'), 'x');
      const out = join(tmp, 'out');
      dir(out);
      for (const { args, message } of BAD) {
        await t.test(args.join(' '), () => {
          const r = cli(['--source', src, join(out, 'img.sqfs'), ...args]);
          assert.equal(r.status, 1, `exit status (stderr: ${r.stderr})`);
          assert.match(r.stderr, message);
          assert.deepEqual(readdirSync(out), [], 'no image and no temporary file');
        });
      }
      await t.test('library API: snapshot() rejects with a UsageError', async () => {
        const img = join(out, 'api.sqfs');
        await assert.rejects(
          snapshot({ source: src, output: img, compressor: 'xz', compressorOptions: { 'dict-size': '3K' } }),
          (e: unknown) => {
            assert.ok(e instanceof UsageError);
            assert.match((e as Error).message, /dict-size/);
            return true;
          },
        );
        await assert.rejects(
          snapshot({ source: src, output: img, compressor: 'lz4', compressorOptions: { hc: 'perhaps' } }),
          UsageError,
        );
        assert.equal(existsSync(img), false);
        assert.deepEqual(readdirSync(out), []);
      });
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  },
);
