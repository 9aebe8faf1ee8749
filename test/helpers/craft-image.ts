// Hand-built SquashFS 4.0 images for the reader's hostile-input tests: shapes no writer makes but the format
// allows to be declared (directory inodes sharing one listing, files of terabytes of holes), in a few KiB.
// gzip (zlib) metadata, no data blocks, no fragment, export or xattr table; one id (0).
import { deflateSync } from 'node:zlib';

const META = 8192;

/** A metadata stream written the way writers do: blocks of 8 KiB compressed as they fill, so a position is known before its block is written. */
class MetaStream {
  private out: Buffer[] = [];
  private size = 0;
  private cur: Buffer[] = [];
  private curLen = 0;

  /** (compressed block start, offset in its uncompressed bytes) of the next byte. */
  pos(): { block: number; offset: number } {
    return { block: this.size, offset: this.curLen };
  }

  append(b: Buffer): void {
    let at = 0;
    while (at < b.length) {
      const n = Math.min(META - this.curLen, b.length - at);
      this.cur.push(b.subarray(at, at + n));
      this.curLen += n;
      at += n;
      if (this.curLen === META) this.flush();
    }
  }

  private flush(): void {
    if (this.curLen === 0) return;
    const raw = Buffer.concat(this.cur);
    const z = deflateSync(raw, { level: 9 });
    const stored = z.length < raw.length;
    const h = Buffer.alloc(2);
    h.writeUInt16LE(stored ? z.length : raw.length | 0x8000);
    this.out.push(h, stored ? z : raw);
    this.size += 2 + (stored ? z.length : raw.length);
    this.cur = [];
    this.curLen = 0;
  }

  finish(): Buffer {
    this.flush();
    return Buffer.concat(this.out);
  }
}

interface DirEntry {
  name: string;
  ref: { block: number; offset: number };
  number: number;
  type: number;
}

/** A directory listing: headers of at most 256 entries sharing one inode block and a ±32767 number range. */
function listing(entries: DirEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < entries.length; ) {
    const first = entries[i];
    let n = 0;
    while (
      i + n < entries.length &&
      n < 256 &&
      entries[i + n].ref.block === first.ref.block &&
      Math.abs(entries[i + n].number - first.number) < 32767
    )
      n++;
    const h = Buffer.alloc(12);
    h.writeUInt32LE(n - 1, 0);
    h.writeUInt32LE(first.ref.block, 4);
    h.writeUInt32LE(first.number, 8);
    parts.push(h);
    for (let k = 0; k < n; k++) {
      const e = entries[i + k];
      const name = Buffer.from(e.name);
      const b = Buffer.alloc(8);
      b.writeUInt16LE(e.ref.offset, 0);
      b.writeInt16LE(e.number - first.number, 2);
      b.writeUInt16LE(e.type, 4);
      b.writeUInt16LE(name.length - 1, 6);
      parts.push(b, name);
    }
    i += n;
  }
  return Buffer.concat(parts);
}

function inodeHeader(type: number, mode: number, number: number): Buffer {
  const h = Buffer.alloc(16);
  h.writeUInt16LE(type, 0);
  h.writeUInt16LE(mode, 2);
  h.writeUInt16LE(0, 4); // uid index
  h.writeUInt16LE(0, 6); // gid index
  h.writeUInt32LE(1_700_000_000, 8);
  h.writeUInt32LE(number, 12);
  return h;
}

function basicDir(
  number: number,
  listingAt: { block: number; offset: number },
  listingBytes: number,
  nlink: number,
  parent: number,
): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt32LE(listingAt.block, 0);
  b.writeUInt32LE(nlink, 4);
  b.writeUInt16LE(listingBytes + 3, 8);
  b.writeUInt16LE(listingAt.offset, 10);
  b.writeUInt32LE(parent, 12);
  return Buffer.concat([inodeHeader(1, 0o755, number), b]);
}

/** Superblock, inode table, directory table, id table (one id: 0). */
function assemble(o: {
  inodes: MetaStream;
  dirs: MetaStream;
  root: { block: number; offset: number };
  inodeCount: number;
  blockLog: number;
}): Buffer {
  const inodeTable = o.inodes.finish();
  const dirTable = o.dirs.finish();
  const ids = new MetaStream();
  ids.append(Buffer.alloc(4));
  const idBlocks = ids.finish();
  const inodeStart = 96;
  const dirStart = inodeStart + inodeTable.length;
  const idBlockStart = dirStart + dirTable.length;
  const idIndex = idBlockStart + idBlocks.length;
  const bytesUsed = idIndex + 8;
  const sb = Buffer.alloc(96);
  sb.writeUInt32LE(0x73717368, 0);
  sb.writeUInt32LE(o.inodeCount, 4);
  sb.writeUInt32LE(1_700_000_000, 8);
  sb.writeUInt32LE(2 ** o.blockLog, 12);
  sb.writeUInt32LE(0, 16); // fragments
  sb.writeUInt16LE(1, 20); // gzip
  sb.writeUInt16LE(o.blockLog, 22);
  sb.writeUInt16LE(0x0010 | 0x0200, 24); // no fragments, no xattrs
  sb.writeUInt16LE(1, 26); // ids
  sb.writeUInt16LE(4, 28);
  sb.writeUInt16LE(0, 30);
  sb.writeBigUInt64LE((BigInt(o.root.block) << 16n) | BigInt(o.root.offset), 32);
  sb.writeBigUInt64LE(BigInt(bytesUsed), 40);
  sb.writeBigUInt64LE(BigInt(idIndex), 48);
  sb.writeBigUInt64LE(0xffffffffffffffffn, 56); // xattr id table
  sb.writeBigUInt64LE(BigInt(inodeStart), 64);
  sb.writeBigUInt64LE(BigInt(dirStart), 72);
  sb.writeBigUInt64LE(0xffffffffffffffffn, 80); // fragment table
  sb.writeBigUInt64LE(0xffffffffffffffffn, 88); // export table
  const index = Buffer.alloc(8);
  index.writeBigUInt64LE(BigInt(idBlockStart));
  const image = Buffer.concat([sb, inodeTable, dirTable, idBlocks, index]);
  return Buffer.concat([image, Buffer.alloc((4096 - (image.length % 4096)) % 4096)]); // padded as writers do (a loop device counts 512-byte sectors)
}

/**
 * `dirs` directories under the root, every one pointing at the same listing of `files` empty files (each file
 * then has dirs names, and its link count says so): dirs × files names in a tiny image.
 */
export function sharedListingImage(dirs: number, files: number): Buffer {
  const inodes = new MetaStream();
  const dirsT = new MetaStream();
  const fileEntries: DirEntry[] = [];
  const pad = (n: number) => String(n).padStart(6, '0');
  for (let i = 0; i < files; i++) {
    const ref = inodes.pos();
    // An extended file inode carries a link count: every directory names each file.
    const x = Buffer.alloc(40);
    x.writeBigUInt64LE(96n, 0);
    x.writeBigUInt64LE(0n, 8);
    x.writeBigUInt64LE(0n, 16);
    x.writeUInt32LE(dirs, 24);
    x.writeUInt32LE(0xffffffff, 28);
    x.writeUInt32LE(0, 32);
    x.writeUInt32LE(0xffffffff, 36);
    inodes.append(Buffer.concat([inodeHeader(9, 0o644, i + 1), x]));
    fileEntries.push({ name: `f${pad(i)}`, ref, number: i + 1, type: 2 });
  }
  const shared = dirsT.pos();
  const sharedBytes = listing(fileEntries);
  dirsT.append(sharedBytes);
  const root = files + dirs + 1;
  const dirEntries: DirEntry[] = [];
  for (let k = 0; k < dirs; k++) {
    const ref = inodes.pos();
    inodes.append(basicDir(files + k + 1, shared, sharedBytes.length, 2, root));
    dirEntries.push({ name: `d${pad(k)}`, ref, number: files + k + 1, type: 1 });
  }
  const rootListingAt = dirsT.pos();
  const rootListing = listing(dirEntries);
  dirsT.append(rootListing);
  const rootRef = inodes.pos();
  inodes.append(basicDir(root, rootListingAt, rootListing.length, 2 + dirs, root + 1));
  return assemble({ inodes, dirs: dirsT, root: rootRef, inodeCount: root, blockLog: 17 });
}

/** One file of `size` bytes, all holes (every block size word 0), in 1 MiB blocks: "sparse" under the root. */
export function sparseFileImage(size: bigint): Buffer {
  const blockLog = 20;
  const inodes = new MetaStream();
  const dirsT = new MetaStream();
  const ref = inodes.pos();
  const x = Buffer.alloc(40);
  x.writeBigUInt64LE(96n, 0);
  x.writeBigUInt64LE(size, 8);
  x.writeBigUInt64LE(size, 16); // bytes saved by sparse blocks
  x.writeUInt32LE(1, 24);
  x.writeUInt32LE(0xffffffff, 28);
  x.writeUInt32LE(0, 32);
  x.writeUInt32LE(0xffffffff, 36);
  inodes.append(Buffer.concat([inodeHeader(9, 0o644, 1), x]));
  const blocks = Number((size + (1n << BigInt(blockLog)) - 1n) >> BigInt(blockLog));
  const zeros = Buffer.alloc(1 << 20);
  for (let left = blocks * 4; left > 0; left -= zeros.length)
    inodes.append(zeros.subarray(0, Math.min(zeros.length, left)));
  const at = dirsT.pos();
  const l = listing([{ name: 'sparse', ref, number: 1, type: 2 }]);
  dirsT.append(l);
  const rootRef = inodes.pos();
  inodes.append(basicDir(2, at, l.length, 2, 3));
  return assemble({ inodes, dirs: dirsT, root: rootRef, inodeCount: 2, blockLog });
}

/**
 * `files` files in one listing of one-entry headers, and `dirs` directories each pointing at a later header of
 * it (directory k's listing starts at header k and runs to the end): listings that overlap, each parsing as valid,
 * dirs × files / 2 names in all from one listing's bytes.
 */
export function overlappingListingsImage(dirs: number, files: number): Buffer {
  if (files > 2400)
    throw new Error('a basic directory inode holds a listing of at most 64 KiB: 2,400 one-entry headers');
  const inodes = new MetaStream();
  const dirsT = new MetaStream();
  const entries: DirEntry[] = [];
  for (let i = 0; i < files; i++) {
    const ref = inodes.pos();
    const x = Buffer.alloc(40);
    x.writeBigUInt64LE(96n, 0);
    x.writeUInt32LE(1, 24);
    x.writeUInt32LE(0xffffffff, 28);
    x.writeUInt32LE(0xffffffff, 36);
    inodes.append(Buffer.concat([inodeHeader(9, 0o644, i + 1), x]));
    entries.push({ name: `f${String(i).padStart(6, '0')}`, ref, number: i + 1, type: 2 });
  }
  // One header per entry, each header's position recorded.
  const starts: { at: { block: number; offset: number }; rest: number }[] = [];
  const parts = entries.map((e) => listing([e]));
  let left = parts.reduce((n, p) => n + p.length, 0);
  for (const p of parts) {
    starts.push({ at: dirsT.pos(), rest: left });
    dirsT.append(p);
    left -= p.length;
  }
  const root = files + dirs + 1;
  const dirEntries: DirEntry[] = [];
  for (let k = 0; k < dirs; k++) {
    const s = starts[k % starts.length];
    const ref = inodes.pos();
    inodes.append(basicDir(files + k + 1, s.at, s.rest, 2, root));
    dirEntries.push({ name: `d${String(k).padStart(6, '0')}`, ref, number: files + k + 1, type: 1 });
  }
  const rootAt = dirsT.pos();
  const rootListing = listing(dirEntries);
  dirsT.append(rootListing);
  const rootRef = inodes.pos();
  inodes.append(basicDir(root, rootAt, rootListing.length, 2 + dirs, root + 1));
  return assemble({ inodes, dirs: dirsT, root: rootRef, inodeCount: root, blockLog: 17 });
}

/** One of the hostile shapes, its size drawn from next() (0..1): what it is, and the image (always under 1 MiB). */
export function craftedHostileImage(next: () => number): { what: string; data: Buffer } {
  const pick = (lo: number, hi: number) => Math.floor(lo * (hi / lo) ** next()); // log-uniform
  switch (Math.floor(next() * 3)) {
    case 0: {
      const dirs = pick(2, 4000),
        files = pick(1, 4000);
      return { what: `${dirs} directories sharing a listing of ${files} names`, data: sharedListingImage(dirs, files) };
    }
    case 1: {
      const dirs = pick(2, 3000),
        files = pick(2, 2400);
      return {
        what: `${dirs} directories in overlapping listings of ${files} names`,
        data: overlappingListingsImage(dirs, files),
      };
    }
    default: {
      const size = BigInt(pick(1, 16 * 1024 * 1024)) * 1048576n - BigInt(Math.floor(next() * 1048576));
      return { what: `a file of ${size} bytes of holes`, data: sparseFileImage(size > 0n ? size : 1n) };
    }
  }
}
