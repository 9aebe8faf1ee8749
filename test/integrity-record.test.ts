// The integrity record every image gets (native/format/integrity_record.h): verify finds any damaged byte of
// the data section, raw blocks included; the record's digests are XXH64 as its specification defines it; and
// every reader (the kernel, unsquashfs, rdsquashfs, sqfsdiff) still reads the image, record and all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { snapshot } from '../src/api/snapshot.js';
import { verify } from '../src/api/index.js';
import { checkImage, tempDir } from './helpers/image-check.js';
import { bytes, file } from './helpers/make-tree.js';
import { rng } from './helpers/fuzz.js';
import { needs } from './helpers/capabilities.js';
import { dataStart, readRecord, xxh64 } from './helpers/integrity-record.js';
import { fileBlocks, superblock } from './helpers/squashfs-surgery.js';

const BS = 131072;

test('XXH64 of the test helper gives the published reference values', () => {
  const vectors: [string, bigint, bigint][] = [
    ['', 0n, 0xef46db3751d8e999n],
    ['abc', 0n, 0x44bc2cf5ad770999n],
    ['abc', 12345n, 0x01700e64f6f23509n],
    ['Nobody inspects the spammish repetition', 0n, 0xfbcea83c8a378bf1n],
    ['0123456789abcdef0123456789abcdef', 0n, 0x642a94958e71e6c5n],
    ['The quick brown fox jumps over the lazy dog', 0n, 0x0b242d361fda71bcn],
  ];
  for (const [s, seed, want] of vectors) assert.equal(xxh64(Buffer.from(s), seed), want, JSON.stringify(s));
  assert.equal(xxh64(Buffer.alloc(32, 'a')), 0x856e843298f99ad7n);
});

test('the record lists every stored block with the XXH64 of its bytes, and covers the data section exactly', async () => {
  const t = tempDir('cs-record-');
  try {
    const src = join(t, 'src');
    file(join(src, 'text'), Buffer.from('record me '.repeat(40000)));
    file(join(src, 'random'), bytes(BS + 777, 3));
    for (let i = 0; i < 30; i++) file(join(src, 'small', `s${i}`), bytes(1000 + i, 40 + i, 16));
    const out = join(t, 'out.sqfs');
    const r = await snapshot({ source: src, output: out, jobs: 2 });
    const img = readFileSync(out);
    const rec = readRecord(img)!;
    assert.ok(rec, 'an integrity record after bytes_used');
    assert.equal(rec.at, r.image.bytesUsed);
    assert.equal(rec.dataStart, dataStart(img));
    assert.equal(rec.dataEnd, Number(img.readBigUInt64LE(64)), 'data ends where the inode table starts');
    assert.equal(rec.fileTags.length, 32);
    assert.ok(rec.blocks.some((b) => b.raw) && rec.blocks.some((b) => !b.raw));
    let pos = rec.dataStart;
    for (const b of rec.blocks) {
      assert.equal(b.pos, pos);
      assert.equal(xxh64(img.subarray(b.pos, b.pos + b.size)), b.digest, `block at ${b.pos}`);
      pos += b.size;
    }
    assert.equal(pos, rec.dataEnd);
    assert.equal(
      xxh64(img.subarray(rec.at, rec.at + rec.size - 8)),
      img.readBigUInt64LE(rec.at + rec.size - 8),
      "the record's own digest",
    );
    assert.equal(r.image.recordBytes, rec.size);
    assert.equal(r.image.imageSize % 4096, 0);
    const v = await verify(out);
    assert.equal(v.integrity.record, 'valid');
    assert.equal(v.integrity.blocks, rec.blocks.length);
    assert.equal(v.integrity.files, 32);
  } finally {
    rmSync(t, { recursive: true, force: true });
  }
});

test('verify detects a flipped byte anywhere in the data of an image it wrote: 200 of 200, raw and compressed blocks', async () => {
  const t = tempDir('cs-record-flip-');
  try {
    const src = join(t, 'src');
    file(join(src, 'text'), Buffer.from('some text that compresses well, over and over; '.repeat(12000)));
    file(join(src, 'random'), bytes(3 * BS + 500, 9)); // stored raw
    for (let i = 0; i < 40; i++)
      file(join(src, 'small', `s${i}`), i % 2 ? bytes(2000 + i, i) : Buffer.from(`small ${i} `.repeat(300)));
    const out = join(t, 'out.sqfs');
    await snapshot({ source: src, output: out, jobs: 2 });
    const clean = readFileSync(out);
    // The blocks, as an independent reader (rdsquashfs) places them: random's are raw, text's compressed, and
    // the fragment block (compressed) comes last, up to the inode table.
    const raw = fileBlocks(out, 'random');
    const text = fileBlocks(out, 'text');
    const end = Math.max(...[...raw, ...text].map((b) => b.pos + b.size));
    const packed = [...text, { pos: end, size: superblock(clean).inodeTable - end, raw: false }];
    assert.ok(raw.every((b) => b.raw) && text.every((b) => !b.raw) && packed[packed.length - 1].size > 0);
    const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : Math.floor(Math.random() * 2 ** 31);
    const next = rng(seed);
    const flipped = join(t, 'flipped.sqfs');
    let detected = 0;
    const missed: string[] = [];
    for (let i = 0; i < 200; i++) {
      const pool = i % 2 ? raw : packed;
      const blk = pool[Math.floor(next() * pool.length)];
      const at = blk.pos + Math.floor(next() * blk.size);
      const img = Buffer.from(clean);
      img[at] ^= 1 << Math.floor(next() * 8);
      writeFileSync(flipped, img);
      const v = await verify(flipped, { jobs: 2 });
      if (!v.ok) detected++;
      else missed.push(`${blk.raw ? 'raw' : 'compressed'} block at ${blk.pos}, byte ${at}`);
    }
    assert.equal(detected, 200, `FUZZ_SEED=${seed}: missed ${missed.slice(0, 5).join('; ')}`);
  } finally {
    rmSync(t, { recursive: true, force: true });
  }
});

test(
  'every reader reads an image whose record runs past the 4 KiB padding',
  { skip: needs('root', 'loop', 'squashfs-tools', 'squashfs-tools-ng') },
  async () => {
    const t = tempDir('cs-record-read-');
    try {
      const src = join(t, 'src');
      for (let i = 0; i < 3000; i++) file(join(src, `d${i % 30}`, `f${i}`), `file ${i}\n`);
      file(join(src, 'big'), bytes(5 * BS, 4));
      for (const compressor of ['gzip', 'xz'] as const) {
        const out = join(t, `out-${compressor}.sqfs`);
        const r = await snapshot({ source: src, output: out, compressor, jobs: 2 });
        assert.ok(r.image.recordBytes > 8192, `a record of ${r.image.recordBytes} bytes`);
        assert.ok(r.image.imageSize >= r.image.bytesUsed + r.image.recordBytes);
        checkImage(out, src, { contents: true });
      }
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  },
);
