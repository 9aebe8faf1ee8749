// Seeded random source trees for the property test: random depth, odd names, sizes around block
// boundaries, duplicate and nearly-duplicate contents, holes, hard links, symlinks, special files,
// owners, modes, xattrs and mtimes. The same seed always gives the same tree.
import {
  chmodSync,
  closeSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readdirSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { bytes, makeSpecials, setXattrs, type SpecialSpec, type XattrSpec } from './make-tree.js';

/** A small, fast, seedable generator (a 32-bit multiply-xorshift mix); not for anything but tests. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let z = this.s;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return ((z ^ (z >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(a: readonly T[]): T {
    return a[Math.floor(this.next() * a.length)];
  }
}

const ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.';
// Bytes that trip up quoting, sorting (signed vs unsigned chars) and UTF-8 decoding.
const ODD = [
  0x01, 0x09, 0x0a, 0x0d, 0x1b, 0x20, 0x22, 0x27, 0x2a, 0x3f, 0x5c, 0x7f, 0x80, 0xa0, 0xc0, 0xc3, 0xfe, 0xff,
];
const UTF8 = ['é', 'ß', '日本', '🙂', 'Ω'];

function randomName(rng: Rng): Buffer {
  const r = rng.next();
  let parts: Buffer[] = [];
  if (r < 0.55) {
    const n = rng.int(1, 12);
    for (let i = 0; i < n; i++) parts.push(Buffer.from(rng.pick([...ALNUM])));
  } else if (r < 0.85) {
    const n = rng.int(1, 16);
    for (let i = 0; i < n; i++) {
      const k = rng.next();
      parts.push(
        k < 0.4
          ? Buffer.from(rng.pick([...ALNUM]))
          : k < 0.8
            ? Buffer.from([rng.pick(ODD)])
            : Buffer.from(rng.pick(UTF8)),
      );
    }
  } else {
    // Long names, up to the 255-byte limit, sometimes with odd bytes inside.
    const n = rng.chance(0.5) ? 255 : rng.int(200, 255);
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++)
      b[i] = rng.chance(0.05) ? rng.pick(ODD) : ALNUM.charCodeAt(rng.int(0, ALNUM.length - 1));
    parts = [b];
  }
  const name = Buffer.concat(parts).subarray(0, 255);
  const s = name.toString('latin1');
  if (s === '.' || s === '..') return Buffer.from(s + 'x');
  return name;
}

function join(dir: Buffer, name: Buffer): Buffer {
  return Buffer.concat([dir, Buffer.from('/'), name]);
}

export interface RandomTree {
  blockSize: number;
  /** casper-snapshot arguments chosen for this tree (block size, fragment mode, ...). */
  args: string[];
  entries: number;
}

/** Fills the existing, empty directory `root` with a random tree; scratch is a directory outside it. */
export function makeRandomTree(root: string, seed: number, scratch: string): RandomTree {
  const rng = new Rng(seed);
  const bs = rng.pick([4096, 8192, 16384, 65536, 131072]);
  const maxDepth = rng.int(1, 5);
  let budget = rng.int(30, 150);
  const pool: Buffer[] = [];
  const linkable: Buffer[] = [];
  const specials: SpecialSpec[] = [];
  const specialLinks: [Buffer, Buffer][] = [];
  let entries = 0;

  const content = (): Buffer => {
    if (pool.length > 0 && rng.chance(0.2)) {
      const c = rng.pick(pool);
      if (c.length === 0 || rng.chance(0.6)) return c; // duplicate
      const d = Buffer.from(c); // same size, one byte differs: must not be shared
      d[rng.int(0, d.length - 1)] ^= 1 << rng.int(0, 7);
      return d;
    }
    const size = rng.pick([
      () => 0,
      () => 1,
      () => rng.int(2, bs - 1),
      () => bs - 1,
      () => bs,
      () => bs + 1,
      () => 2 * bs,
      () => 3 * bs,
      () => 3 * bs - 1,
      () => rng.int(bs + 2, 3 * bs - 2),
    ])();
    const kind = rng.int(0, 9);
    let b: Buffer;
    if (kind === 0)
      b = Buffer.alloc(size); // all zeros: sparse blocks
    else b = bytes(size, rng.int(1, 0x7fffffff), rng.pick([2, 16, 64, 256]));
    if (kind === 1 && size > 0) {
      // Some whole blocks and sometimes a zero tail: sparse blocks inside a file.
      for (let off = 0; off < size; off += bs) if (rng.chance(0.5)) b.fill(0, off, Math.min(size, off + bs));
    }
    pool.push(b);
    return b;
  };

  const makeFile = (p: Buffer) => {
    if (rng.chance(0.08)) {
      // A file with real holes: its size comes from truncate, some data at random offsets.
      const size = rng.int(1, 3 * bs + bs / 2);
      writeFileSync(p, '');
      truncateSync(p, size);
      const fd = openSync(p, 'r+');
      try {
        for (let k = rng.int(0, 3); k > 0; k--) {
          const len = rng.int(1, Math.min(size, 3000));
          writeSync(fd, bytes(len, rng.int(1, 1e9), 64), 0, len, rng.int(0, size - len));
        }
      } finally {
        closeSync(fd);
      }
    } else {
      writeFileSync(p, content());
    }
    linkable.push(p);
  };

  const symlinkTarget = (): Buffer => {
    const r = rng.next();
    if (r < 0.4) return randomName(rng);
    if (r < 0.6) return Buffer.from('../'.repeat(rng.int(0, 3)) + 'some/where');
    if (r < 0.7) return Buffer.from('/' + 'abs/'.repeat(rng.int(0, 5)) + 'target');
    if (r < 0.85) return Buffer.from('a/'.repeat(rng.int(50, 2047)).slice(0, rng.int(100, 4095)));
    return Buffer.concat([Buffer.from('x'), Buffer.from([rng.pick(ODD)]), randomName(rng)]).subarray(0, 4095);
  };

  const fill = (dir: Buffer, depth: number) => {
    const names = new Set<string>();
    const n = Math.min(budget, depth === 1 ? rng.int(8, 24) : rng.int(0, 16));
    budget -= n;
    for (let i = 0; i < n; i++) {
      let name = randomName(rng);
      while (names.has(name.toString('latin1'))) name = Buffer.concat([name.subarray(0, 250), Buffer.from(String(i))]);
      names.add(name.toString('latin1'));
      const p = join(dir, name);
      entries++;
      const r = rng.next();
      if (r < 0.45) makeFile(p);
      else if (r < 0.62) {
        mkdirSync(p);
        if (depth < maxDepth) fill(p, depth + 1);
      } else if (r < 0.74) {
        symlinkSync(symlinkTarget(), p);
        if (rng.chance(0.3)) linkable.push(p);
      } else if (r < 0.84) {
        if (linkable.length > 0) linkSync(rng.pick(linkable), p);
        else makeFile(p);
      } else {
        const kind = rng.pick(['p', 'p', 'c', 'b', 's'] as const);
        specials.push({
          path: p,
          kind,
          major: rng.int(0, 4095),
          minor: rng.pick([0, 1, 255, 256, rng.int(0, 0xfffff)]),
        });
        if (rng.chance(0.15)) {
          let ln = Buffer.concat([name.subarray(0, 240), Buffer.from('.hl')]);
          while (names.has(ln.toString('latin1'))) ln = Buffer.concat([ln, Buffer.from('_')]);
          names.add(ln.toString('latin1'));
          specialLinks.push([p, join(dir, ln)]);
          entries++;
        }
      }
    }
  };

  const rootBuf = Buffer.from(root);
  fill(rootBuf, 1);
  makeSpecials(specials);
  for (const [a, b] of specialLinks) linkSync(a, b);

  // Owners, modes and xattrs on every entry (the root too); hard-linked names update the same inode.
  const uids = [0, 1, 7, 100, 1000, 1001, 65534, 65535, 65536, 2 ** 31, 4294967294];
  const xattrs: XattrSpec[] = [];
  const values = [
    Buffer.from('v'),
    Buffer.from('12345678'),
    Buffer.from('123456789'),
    Buffer.alloc(0),
    bytes(300, seed, 256),
    Buffer.alloc(2000, 'L'),
  ];
  const all: { p: Buffer; dir: boolean }[] = [];
  const withXattrs = new Set<string>();
  const visit = (p: Buffer) => {
    const st = lstatSync(p);
    const isDir = st.isDirectory();
    if (isDir) for (const n of readdirSync(p, { encoding: 'buffer' })) visit(join(p, n));
    all.push({ p, dir: isDir }); // post-order: children before their directory
    lchownSync(p, rng.pick(uids), rng.pick(uids));
    if (!st.isSymbolicLink())
      chmodSync(p, isDir ? rng.pick([0o755, 0o700, 0o1777, 0o2755, 0o555, 0o000]) : rng.int(0, 0o7777));
    const inode = `${st.dev}:${st.ino}`;
    if (rng.chance(0.3) && !withXattrs.has(inode)) {
      withXattrs.add(inode); // once per inode: hard-linked names share one (and ext4 keeps it in 4 KiB)
      const used = new Set<string>();
      const regularOrDir = st.isFile() || isDir;
      let total = 0;
      for (let k = rng.int(1, 4); k > 0; k--) {
        const ns = regularOrDir ? rng.pick(['user.', 'user.', 'trusted.', 'security.']) : 'trusted.';
        const key = ns + rng.pick(['a', 'b', 'comment', 'overlay.opaque', 'k'.repeat(rng.int(1, 60))]);
        if (used.has(key)) continue;
        used.add(key);
        const v = rng.chance(0.7) ? rng.pick(values) : bytes(rng.int(1, 1500), rng.int(1, 1e9), 256);
        if (total + v.length > 3000) continue; // ext4 keeps an inode's xattrs in one 4 KiB block
        total += v.length + key.length;
        xattrs.push({ path: p, key, value: v });
      }
    }
  };
  visit(rootBuf);
  setXattrs(xattrs, scratch);
  // Times last: creating entries changes their directory's mtime.
  for (const { p } of all) {
    const t = rng.pick([0, 1, 1e9, 2 ** 31 - 1, 2 ** 31, 4294967295, rng.int(0, 4294967295)]);
    lutimesSync(p, t, t);
  }

  const args = ['-b', String(bs)];
  args.push(...rng.pick([[], ['-no-fragments'], ['-always-use-fragments']]));
  if (rng.chance(0.2)) args.push('-no-duplicates');
  if (rng.chance(0.2)) args.push('-no-exports');
  if (rng.chance(0.3)) args.push('-Xcompression-level', String(rng.int(1, 9)));
  args.push('-processors', String(rng.int(1, 3)));
  return { blockSize: bs, args, entries };
}
