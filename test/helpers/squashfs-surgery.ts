// Hand-made corruption of SquashFS images for the reader's tests: superblock fields, and structures found in
// images whose metadata is stored uncompressed (mksquashfs -noI: inode and directory tables), where they can be patched in place.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { inflateSync } from 'node:zlib';

export interface Sb {
  inodeCount: number;
  blockSize: number;
  fragmentCount: number;
  rootInode: bigint;
  bytesUsed: number;
  idTable: number;
  xattrIdTable: bigint;
  inodeTable: number;
  directoryTable: number;
  fragmentTable: bigint;
  exportTable: bigint;
}

export const SB_FIELD = {
  rootInode: 32,
  bytesUsed: 40,
  idTable: 48,
  xattrIdTable: 56,
  inodeTable: 64,
  directoryTable: 72,
  fragmentTable: 80,
  exportTable: 88,
} as const;

export function superblock(b: Buffer): Sb {
  return {
    inodeCount: b.readUInt32LE(4),
    blockSize: b.readUInt32LE(12),
    fragmentCount: b.readUInt32LE(16),
    rootInode: b.readBigUInt64LE(32),
    bytesUsed: Number(b.readBigUInt64LE(40)),
    idTable: Number(b.readBigUInt64LE(48)),
    xattrIdTable: b.readBigUInt64LE(56),
    inodeTable: Number(b.readBigUInt64LE(64)),
    directoryTable: Number(b.readBigUInt64LE(72)),
    fragmentTable: b.readBigUInt64LE(80),
    exportTable: b.readBigUInt64LE(88),
  };
}

export function load(path: string): Buffer {
  return Buffer.from(readFileSync(path));
}

/** Image offset of the inode at a reference, in an image whose inode table is stored raw. */
export function rawInodeAt(b: Buffer, ref: bigint): number {
  const sb = superblock(b);
  return sb.inodeTable + Number(ref >> 16n) + 2 + Number(ref & 0xffffn);
}

/** Offsets of every occurrence of needle in b within [from, to). */
export function findAll(b: Buffer, needle: Buffer, from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = b.indexOf(needle, from); i >= 0 && i + needle.length <= to; i = b.indexOf(needle, i + 1)) out.push(i);
  return out;
}

/** The regular-file inode (basic form) of a file with this size, in a raw inode table: its offset. */
export function fileInodeBySize(b: Buffer, size: number): number {
  const sb = superblock(b);
  const needle = Buffer.alloc(4);
  needle.writeUInt32LE(size);
  for (const at of findAll(b, needle, sb.inodeTable, sb.directoryTable)) {
    const h = at - 28;
    if (h >= sb.inodeTable && b.readUInt16LE(h) === 2) return h;
  }
  throw new Error(`no basic file inode of size ${size} found`);
}

/** A directory entry's name in a raw directory table: the offset of the name bytes. */
export function dirEntryName(b: Buffer, name: string): number {
  const sb = superblock(b);
  const end = sb.fragmentTable !== 0xffffffffffffffffn ? Number(sb.fragmentTable) : sb.idTable;
  const len = Buffer.alloc(2);
  len.writeUInt16LE(name.length - 1);
  const hits = findAll(b, Buffer.concat([len, Buffer.from(name)]), sb.directoryTable, end);
  if (hits.length !== 1) throw new Error(`entry '${name}' found ${hits.length} times in the directory table`);
  return hits[0] + 2;
}

const NO_TABLE = 0xffffffffffffffffn;

/**
 * An image whose inode table is one metadata block (gzip or raw), rewritten: `patch` edits the uncompressed
 * inodes in place, the block is stored raw, and every offset after it (superblock, lookup-table indexes, the
 * xattr table's) moves by the change in length. What follows bytes_used (the integrity record) moves along,
 * untouched.
 */
export function rewriteInodeTable(b: Buffer, patch: (raw: Buffer) => void): Buffer {
  const sb = superblock(b);
  const it = sb.inodeTable;
  const dt = sb.directoryTable;
  const hdr = b.readUInt16LE(it);
  const len = hdr & 0x7fff;
  if (2 + len !== dt - it) throw new Error('the inode table is more than one metadata block');
  const stored = b.subarray(it + 2, it + 2 + len);
  const raw = hdr & 0x8000 ? Buffer.from(stored) : inflateSync(stored);
  patch(raw);
  const block = Buffer.alloc(2 + raw.length);
  block.writeUInt16LE(raw.length | 0x8000);
  raw.copy(block, 2);
  const delta = BigInt(block.length - (dt - it));
  const out = Buffer.concat([b.subarray(0, it), block, b.subarray(dt)]);
  const shift = (at: number) => out.writeBigUInt64LE(out.readBigUInt64LE(at) + delta, at);
  for (const f of [SB_FIELD.directoryTable, SB_FIELD.idTable, SB_FIELD.bytesUsed]) shift(f);
  for (const f of [SB_FIELD.fragmentTable, SB_FIELD.exportTable, SB_FIELD.xattrIdTable])
    if (out.readBigUInt64LE(f) !== NO_TABLE) shift(f);
  const nsb = superblock(out);
  const indexes = (at: number, entries: number, size: number) => {
    for (let i = 0; i < Math.ceil((entries * size) / 8192); i++) shift(at + 8 * i);
  };
  if (nsb.fragmentTable !== NO_TABLE) indexes(Number(nsb.fragmentTable), nsb.fragmentCount, 16);
  if (nsb.exportTable !== NO_TABLE) indexes(Number(nsb.exportTable), nsb.inodeCount, 8);
  indexes(nsb.idTable, out.readUInt16LE(26), 4);
  if (nsb.xattrIdTable !== NO_TABLE) {
    const x = Number(nsb.xattrIdTable);
    shift(x);
    indexes(x + 16, out.readUInt32LE(x + 8), 16);
  }
  return out;
}

/** Offsets of the basic regular-file inodes of this size in an uncompressed inode table. */
export function fileInodesBySize(raw: Buffer, size: number): number[] {
  const out: number[] = [];
  for (let h = 0; h + 32 <= raw.length; h++)
    if (raw.readUInt16LE(h) === 2 && raw.readUInt32LE(h + 28) === size) out.push(h);
  return out;
}

/** Where a file's data blocks are (rdsquashfs --stat, a reader independent of ours): position, size, stored raw. */
export function fileBlocks(img: string, path: string): { pos: number; size: number; raw: boolean }[] {
  const r = spawnSync('rdsquashfs', ['--stat', `/${path}`, img], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`rdsquashfs --stat ${path}: ${r.stderr}`);
  let pos = Number(/Blocks start: (\d+)/.exec(r.stdout)![1]);
  const out: { pos: number; size: number; raw: boolean }[] = [];
  for (const m of r.stdout.matchAll(/Block #\d+ size: (\d+)( \(uncompressed\))?/g)) {
    out.push({ pos, size: Number(m[1]), raw: m[2] !== undefined });
    pos += Number(m[1]);
  }
  return out;
}
