// The integrity record casper-snapshot writes after bytes_used (native/format/integrity_record.h), read and
// rewritten from TypeScript: tests find blocks by it, check its digests independently of the native code, and
// re-seal it after editing an image's tables (to act out a writer that wrote wrong tables and a record to
// match). XXH64 here is a second implementation from the specification, checked against published vectors.

const M = (1n << 64n) - 1n;
const P1 = 0x9e3779b185ebca87n;
const P2 = 0xc2b2ae3d27d4eb4fn;
const P3 = 0x165667b19e3779f9n;
const P4 = 0x85ebca77c2b2ae63n;
const P5 = 0x27d4eb2f165667c5n;

const rotl = (x: bigint, r: number) => ((x << BigInt(r)) | (x >> BigInt(64 - r))) & M;
const round = (acc: bigint, lane: bigint) => (rotl((acc + lane * P2) & M, 31) * P1) & M;
const merge = (acc: bigint, v: bigint) => ((((acc ^ round(0n, v)) * P1) & M) + P4) & M;

export function xxh64(b: Buffer, seed = 0n): bigint {
  const len = b.length;
  let p = 0;
  let acc: bigint;
  if (len >= 32) {
    let a1 = (seed + P1 + P2) & M;
    let a2 = (seed + P2) & M;
    let a3 = seed & M;
    let a4 = (seed - P1) & M;
    for (; len - p >= 32; p += 32) {
      a1 = round(a1, b.readBigUInt64LE(p));
      a2 = round(a2, b.readBigUInt64LE(p + 8));
      a3 = round(a3, b.readBigUInt64LE(p + 16));
      a4 = round(a4, b.readBigUInt64LE(p + 24));
    }
    acc = (rotl(a1, 1) + rotl(a2, 7) + rotl(a3, 12) + rotl(a4, 18)) & M;
    acc = merge(acc, a1);
    acc = merge(acc, a2);
    acc = merge(acc, a3);
    acc = merge(acc, a4);
  } else {
    acc = (seed + P5) & M;
  }
  acc = (acc + BigInt(len)) & M;
  for (; len - p >= 8; p += 8) acc = (rotl(acc ^ round(0n, b.readBigUInt64LE(p)), 27) * P1 + P4) & M;
  if (len - p >= 4) {
    acc = (rotl(acc ^ ((BigInt(b.readUInt32LE(p)) * P1) & M), 23) * P2 + P3) & M;
    p += 4;
  }
  for (; p < len; p++) acc = (rotl(acc ^ ((BigInt(b[p]) * P5) & M), 11) * P1) & M;
  acc ^= acc >> 33n;
  acc = (acc * P2) & M;
  acc ^= acc >> 29n;
  acc = (acc * P3) & M;
  acc ^= acc >> 32n;
  return acc;
}

export interface RecordBlock {
  pos: number;
  word: number;
  /** Stored raw (bit 24 of the size word). */
  raw: boolean;
  size: number;
  term: number;
  digest: bigint;
}

export interface Record {
  at: number;
  size: number;
  bytesUsed: number;
  dataStart: number;
  dataEnd: number;
  tablesDigest: bigint;
  blocks: RecordBlock[];
  fragments: { rawLen: number; piecesTag: number }[];
  fileTags: number[];
}

/** The record of an image, or null when the bytes after bytes_used are not one. */
export function readRecord(img: Buffer): Record | null {
  const at = Number(img.readBigUInt64LE(40));
  if (img.length < at + 72 || img.toString('latin1', at, at + 8) !== 'casperIR') return null;
  const size = Number(img.readBigUInt64LE(at + 16));
  const nb = img.readUInt32LE(at + 56);
  const nf = img.readUInt32LE(at + 60);
  const nfile = img.readUInt32LE(at + 64);
  const r: Record = {
    at,
    size,
    bytesUsed: Number(img.readBigUInt64LE(at + 24)),
    dataStart: Number(img.readBigUInt64LE(at + 32)),
    dataEnd: Number(img.readBigUInt64LE(at + 40)),
    tablesDigest: img.readBigUInt64LE(at + 48),
    blocks: [],
    fragments: [],
    fileTags: [],
  };
  let q = at + 72;
  let pos = r.dataStart;
  for (let i = 0; i < nb; i++, q += 16) {
    const word = img.readUInt32LE(q);
    const blockSize = word & 0xffffff;
    r.blocks.push({
      pos,
      word,
      raw: (word & (1 << 24)) !== 0,
      size: blockSize,
      term: img.readUInt32LE(q + 4),
      digest: img.readBigUInt64LE(q + 8),
    });
    pos += blockSize;
  }
  for (let i = 0; i < nf; i++, q += 8)
    r.fragments.push({ rawLen: img.readUInt32LE(q), piecesTag: img.readUInt32LE(q + 4) });
  for (let i = 0; i < nfile; i++, q += 4) r.fileTags.push(img.readUInt32LE(q));
  return r;
}

/** The first data byte: after the superblock and the compressor options block. */
export function dataStart(img: Buffer): number {
  return img.readUInt16LE(24) & 0x0400 ? 98 + (img.readUInt16LE(96) & 0x7fff) : 96;
}

/**
 * Re-seals the record of an image whose tables were edited: the record must already lie at the new bytes_used;
 * its bytes_used, tables digest and own digest are recomputed (what a writer that wrote these tables would have
 * written).
 */
export function resealRecord(img: Buffer): void {
  const bytesUsed = Number(img.readBigUInt64LE(40));
  const at = bytesUsed;
  if (img.toString('latin1', at, at + 8) !== 'casperIR') throw new Error('no record at bytes_used');
  const size = Number(img.readBigUInt64LE(at + 16));
  const dataEnd = Number(img.readBigUInt64LE(64));
  img.writeBigUInt64LE(BigInt(bytesUsed), at + 24);
  let d = xxh64(img.subarray(0, dataStart(img)), 0n);
  for (let off = dataEnd; off < bytesUsed; off += 1 << 20)
    d = xxh64(img.subarray(off, Math.min(bytesUsed, off + (1 << 20))), d);
  img.writeBigUInt64LE(d, at + 48);
  img.writeBigUInt64LE(xxh64(img.subarray(at, at + size - 8)), at + size - 8);
}
