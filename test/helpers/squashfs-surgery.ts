// Hand-made corruption of SquashFS images for the reader's tests: superblock fields, and structures found in
// images whose metadata is stored uncompressed (mksquashfs -noI: inode and directory tables), where they can be patched in place.
import { readFileSync } from 'node:fs';

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

export const SB_FIELD = { rootInode: 32, bytesUsed: 40, idTable: 48, xattrIdTable: 56, inodeTable: 64, directoryTable: 72, fragmentTable: 80, exportTable: 88 } as const;

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
