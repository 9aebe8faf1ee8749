// Benchmark inputs: real trees given by the user, and generated trees built deterministically from a seed
// (the same --scale gives the same bytes, names, modes and times on every machine), reused when present,
// optionally on a tmpfs mounted for the run.
import { spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  linkSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
  writeSync,
  chmodSync,
} from 'node:fs';
import { freemem } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { treeStats, type TreeStats } from './measure.js';

/** Bumped whenever a generator changes its output, so that stale corpora are not reused. */
export const GENERATOR_VERSION = 1;
export const GENERATED = ['small', 'large', 'mixed'] as const;
/** Generated on request only (--targets rss): not among the defaults of --generated. */
export const GENERATED_EXTRA = ['many'] as const;
export type GeneratedName = (typeof GENERATED)[number] | (typeof GENERATED_EXTRA)[number];

export interface Corpus {
  /** Name in reports: the generator name, or the path of a real tree. */
  name: string;
  kind: 'real' | 'generated';
  path: string;
  stats: TreeStats;
  /** What the generator was asked for (generated corpora only). */
  description?: string;
  reused?: boolean;
  generateS?: number;
}

// ---- deterministic randomness -------------------------------------------------------------------------

/** mulberry32: small, fast, and the same sequence everywhere for a given seed. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  u32(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    return this.u32() / 4294967296;
  }
  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** Log-uniform integer in [lo, hi). */
  logInt(lo: number, hi: number): number {
    return Math.floor(Math.exp(Math.log(lo) + this.next() * (Math.log(hi) - Math.log(lo))));
  }
}

/** Incompressible bytes. */
function fillRandom(buf: Buffer, rng: Rng): void {
  const whole = buf.length >>> 2;
  for (let i = 0; i < whole; i++) buf.writeUInt32LE(rng.u32(), i << 2);
  for (let i = whole << 2; i < buf.length; i++) buf[i] = rng.u32() & 0xff;
}

let poolCache: Buffer | undefined;

/** 4 MiB of word-like text (a seeded vocabulary drawn with a skewed distribution): compresses about 3:1. */
function textPool(): Buffer {
  if (poolCache) return poolCache;
  const rng = new Rng(0x7e47);
  const letters = 'etaoinshrdlcumwfgypbvkjxqz';
  const vocab: string[] = [];
  for (let i = 0; i < 4000; i++) {
    const n = 1 + rng.int(10);
    let w = '';
    for (let j = 0; j < n; j++) w += letters[Math.floor(rng.next() ** 2 * letters.length)];
    vocab.push(w);
  }
  const size = 4 << 20;
  const out = Buffer.alloc(size);
  let o = 0;
  let col = 0;
  while (o < size) {
    const w = vocab[Math.floor(rng.next() ** 3 * vocab.length)];
    const sep = col > 70 ? '\n' : rng.next() < 0.08 ? ', ' : rng.next() < 0.05 ? '. ' : ' ';
    o += out.write(w + sep, o, 'latin1');
    col = sep === '\n' ? 0 : col + w.length + sep.length;
  }
  return (poolCache = out);
}

/** Compressible text: 4 KiB pieces of the pool from random offsets (no two blocks alike). */
export function fillText(buf: Buffer, rng: Rng): void {
  const pool = textPool();
  for (let off = 0; off < buf.length; off += 4096) {
    const n = Math.min(4096, buf.length - off);
    const src = rng.int(pool.length - n);
    pool.copy(buf, off, src, src + n);
  }
}

type Content = 'text' | 'random' | 'zero';

function fill(buf: Buffer, kind: Content, rng: Rng): void {
  if (kind === 'text') fillText(buf, rng);
  else if (kind === 'random') fillRandom(buf, rng);
  else buf.fill(0);
}

/** Writes a file of `size` bytes of one content kind, generated in 4 MiB pieces. */
function writeContent(path: string, size: number, kind: Content, seed: number): void {
  const rng = new Rng(seed);
  const fd = openSync(path, 'w', 0o644);
  try {
    const chunk = Buffer.alloc(Math.min(size, 4 << 20));
    for (let done = 0; done < size; ) {
      const n = Math.min(chunk.length, size - done);
      const view = chunk.subarray(0, n);
      fill(view, kind, rng);
      writeSync(fd, view);
      done += n;
    }
  } finally {
    closeSync(fd);
  }
}

const BASE_TIME = 1_600_000_000;
const KiB = 1024;
const MiB = 1024 * KiB;
const page = (n: number) => Math.ceil(n / 4096) * 4096;

// ---- small: many 1 KiB files ---------------------------------------------------------------------------

function smallCount(scale: number): number {
  return Math.max(10, Math.round(100_000 * scale));
}

function generateSmall(dir: string, scale: number): void {
  const count = smallCount(scale);
  const rng = new Rng(0x5a11);
  const buf = Buffer.alloc(1024);
  for (let i = 0; i < count; i++) {
    const d = join(dir, `d${String(Math.floor(i / 1000)).padStart(3, '0')}`);
    if (i % 1000 === 0) mkdirSync(d);
    fillText(buf, rng);
    buf.write(`file ${i}\n`, 0, 'latin1'); // every file differs, so duplicate detection finds nothing
    const p = join(d, `f${String(i).padStart(6, '0')}.txt`);
    writeFileSync(p, buf);
    utimesSync(p, BASE_TIME + i, BASE_TIME + i);
  }
}

// ---- large: a few big files of mixed compressible / incompressible / zero runs ---------------------------

function largeSizes(scale: number): number[] {
  const size = Math.max(64 * KiB, page(Math.round(256 * MiB * scale)));
  return [size, size, size, size];
}

function generateLarge(dir: string, scale: number): void {
  largeSizes(scale).forEach((size, f) => {
    const rng = new Rng(0x1a26e + f);
    const p = join(dir, `large-${f}.bin`);
    const fd = openSync(p, 'w', 0o644);
    try {
      const unit = 64 * KiB;
      const buf = Buffer.alloc(16 * unit);
      for (let done = 0; done < size; ) {
        // a run of 1–16 units of one kind: 45 % text, 45 % random, 10 % zeros (sparse blocks)
        const r = rng.next();
        const kind: Content = r < 0.45 ? 'text' : r < 0.9 ? 'random' : 'zero';
        const n = Math.min((1 + rng.int(16)) * unit, size - done);
        const view = buf.subarray(0, n);
        fill(view, kind, rng);
        writeSync(fd, view);
        done += n;
      }
    } finally {
      closeSync(fd);
    }
    utimesSync(p, BASE_TIME + f, BASE_TIME + f);
  });
}

// ---- many: a huge number of entries, mostly empty files (memory per entry) --------------------------------

function manyCount(scale: number): number {
  return Math.max(100, Math.round(2_000_000 * scale));
}

/** Every 100th entry is a directory, every 50th file holds 1–64 bytes of text; the rest are empty files. */
function generateMany(dir: string, scale: number): void {
  const count = manyCount(scale);
  const rng = new Rng(0x3a77);
  const pool = textPool();
  let d = dir;
  let top = '';
  for (let i = 1; i < count; i++) {
    if (i % 100_000 === 1) {
      top = join(dir, `t${String(Math.floor(i / 100_000)).padStart(2, '0')}`);
      mkdirSync(top);
      continue;
    }
    if (i % 100 === 2) {
      d = join(top, `d${String(i).padStart(7, '0')}`);
      mkdirSync(d);
      continue;
    }
    const p = join(d, `e${String(i).padStart(7, '0')}`);
    if (i % 50 === 3) {
      const n = 1 + rng.int(64);
      const at = rng.int(pool.length - n);
      writeFileSync(p, pool.subarray(at, at + n));
    } else closeSync(openSync(p, 'w', 0o644));
    utimesSync(p, BASE_TIME, BASE_TIME);
  }
}

// ---- mixed: a tree like a real one --------------------------------------------------------------------

interface MixedEntry {
  type: 'dir' | 'file' | 'dup' | 'hardlink' | 'symlink';
  path: string;
  size?: number;
  kind?: Content;
  seed?: number;
  mode?: number;
  /** dup/hardlink: the entry copied or linked; symlink: the target path. */
  target?: string;
  mtime: number;
}

function mixedPlan(scale: number): MixedEntry[] {
  const rng = new Rng(0x313ed);
  const nFiles = Math.max(20, Math.round(10_000 * scale));
  const nDirs = Math.max(3, Math.round(nFiles / 25));
  const syl = [
    'lib',
    'share',
    'doc',
    'src',
    'data',
    'conf',
    'bin',
    'man',
    'icons',
    'locale',
    'fonts',
    'test',
    'x86',
    'gtk',
    'py',
    'perl',
    'zone',
    'pixmaps',
  ];
  const entries: MixedEntry[] = [];
  const dirs = ['']; // relative paths; '' is the root
  for (let i = 1; i < nDirs; i++) {
    // parents drawn towards recent directories, so the tree gets depth as well as width
    const parent = dirs[dirs.length - 1 - Math.floor(rng.next() ** 2 * dirs.length)];
    const p = join(parent, `${syl[rng.int(syl.length)]}-${i}`);
    dirs.push(p);
    entries.push({ type: 'dir', path: p, mode: 0o755, mtime: BASE_TIME + rng.int(1e7) });
  }
  const files: MixedEntry[] = [];
  for (let i = 0; i < nFiles; i++) {
    const d = dirs[rng.int(dirs.length)];
    const path = join(d, `file-${i}.${['txt', 'so', 'png', 'conf', 'gz', 'py', 'h'][rng.int(7)]}`);
    const mtime = BASE_TIME + rng.int(1e7);
    const r = rng.next();
    if (files.length > 10 && r < 0.04) {
      entries.push({ type: 'dup', path, target: files[rng.int(files.length)].path, mode: 0o644, mtime });
      continue;
    }
    if (files.length > 10 && r < 0.05) {
      entries.push({ type: 'hardlink', path, target: files[rng.int(files.length)].path, mtime });
      continue;
    }
    if (files.length > 10 && r < 0.07) {
      entries.push({
        type: 'symlink',
        path,
        target: relative(dirname(path), files[rng.int(files.length)].path),
        mtime,
      });
      continue;
    }
    const s = rng.next();
    const size =
      s < 0.03
        ? 0
        : s < 0.7
          ? 1 + rng.int(8 * KiB)
          : s < 0.95
            ? rng.logInt(8 * KiB, 128 * KiB)
            : s < 0.995
              ? rng.logInt(128 * KiB, MiB)
              : rng.logInt(2 * MiB, 8 * MiB);
    const k = rng.next();
    const kind: Content = k < 0.6 ? 'text' : k < 0.9 ? 'random' : 'zero';
    const e: MixedEntry = {
      type: 'file',
      path,
      size,
      kind,
      seed: rng.u32(),
      mode: rng.next() < 0.1 ? 0o755 : 0o644,
      mtime,
    };
    files.push(e);
    entries.push(e);
  }
  return entries;
}

function generateMixed(dir: string, scale: number): void {
  const plan = mixedPlan(scale);
  const byPath = new Map(plan.map((e) => [e.path, e]));
  for (const e of plan) {
    const p = join(dir, e.path);
    if (e.type === 'dir') mkdirSync(p);
    else if (e.type === 'file') {
      writeContent(p, e.size as number, e.kind as Content, e.seed as number);
      chmodSync(p, e.mode as number);
    } else if (e.type === 'dup') {
      const src = byPath.get(e.target as string) as MixedEntry;
      writeContent(p, src.size as number, src.kind as Content, src.seed as number);
    } else if (e.type === 'hardlink') linkSync(join(dir, e.target as string), p);
    else symlinkSync(e.target as string, p);
  }
  // times last (a hard link shares its target's time), deepest directories first
  for (const e of plan) {
    if (e.type === 'file' || e.type === 'dup') utimesSync(join(dir, e.path), e.mtime, e.mtime);
    else if (e.type === 'symlink') lutimesSync(join(dir, e.path), e.mtime, e.mtime);
  }
  for (const e of [...plan].reverse()) if (e.type === 'dir') utimesSync(join(dir, e.path), e.mtime, e.mtime);
}

// ---- public -----------------------------------------------------------------------------------------------

export function describeGenerated(name: GeneratedName, scale: number): string {
  if (name === 'small') return `${smallCount(scale)} files of 1 KiB text in directories of 1000`;
  if (name === 'many')
    return `${manyCount(scale)} entries: directories of about 100, 2 % of the files hold 1–64 bytes of text, the rest are empty`;
  if (name === 'large') {
    const s = largeSizes(scale);
    return `${s.length} files of ${(s[0] / MiB).toFixed(1)} MiB: runs of text (45 %), random (45 %), zeros (10 %)`;
  }
  const plan = mixedPlan(scale);
  const n = (t: MixedEntry['type']) => plan.filter((e) => e.type === t).length;
  return `${n('file')} files (0 B–8 MiB; text, random, zeros), ${n('dup')} duplicates, ${n('hardlink')} hard links, ${n('symlink')} symlinks, ${n('dir') + 1} directories`;
}

/** Bytes the corpus takes on a tmpfs (data rounded up to pages), used to size the mount. */
export function footprint(name: GeneratedName, scale: number): number {
  if (name === 'small') return smallCount(scale) * 4096;
  if (name === 'many') return Math.ceil(manyCount(scale) / 50) * 4096;
  if (name === 'large') return largeSizes(scale).reduce((a, b) => a + page(b), 0);
  const plan = mixedPlan(scale);
  const byPath = new Map(plan.map((e) => [e.path, e]));
  let total = 0;
  for (const e of plan) {
    if (e.type === 'file') total += page(e.size as number);
    else if (e.type === 'dup') total += page((byPath.get(e.target as string) as MixedEntry).size as number);
  }
  return total;
}

/** Input bytes of a generated corpus, known before it is built. */
export function plannedBytes(name: GeneratedName, scale: number): number {
  if (name === 'small') return smallCount(scale) * 1024;
  if (name === 'many') return Math.ceil(manyCount(scale) / 50) * 32;
  return footprint(name, scale);
}

/** Builds a generated corpus under root (or reuses a complete one there) and returns it. */
export function generatedCorpus(root: string, name: GeneratedName, scale: number, log: (s: string) => void): Corpus {
  const dir = join(root, `${name}-s${scale}-v${GENERATOR_VERSION}`);
  const done = `${dir}.done.json`; // beside the tree, not in it
  const description = describeGenerated(name, scale);
  if (existsSync(done) && existsSync(dir)) {
    const stats = JSON.parse(readFileSync(done, 'utf8')) as TreeStats;
    log(`corpus ${name}: reusing ${dir}`);
    return { name, kind: 'generated', path: dir, stats, description, reused: true };
  }
  rmSync(dir, { recursive: true, force: true });
  rmSync(done, { force: true });
  const tmp = `${dir}.partial`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  log(`corpus ${name}: generating ${description} in ${dir}`);
  const t0 = process.hrtime.bigint();
  const mask = process.umask(0o022); // modes must not depend on the caller's umask
  try {
    if (name === 'small') generateSmall(tmp, scale);
    else if (name === 'many') generateMany(tmp, scale);
    else if (name === 'large') generateLarge(tmp, scale);
    else generateMixed(tmp, scale);
  } finally {
    process.umask(mask);
  }
  chmodSync(tmp, 0o755);
  utimesSync(tmp, BASE_TIME, BASE_TIME);
  spawnSync('sync', [], { stdio: 'ignore' });
  renameSync(tmp, dir);
  const generateS = Number(process.hrtime.bigint() - t0) / 1e9;
  const stats = treeStats(dir);
  writeFileSync(done, JSON.stringify(stats) + '\n');
  log(`corpus ${name}: ${stats.files} files, ${(stats.bytes / MiB).toFixed(1)} MiB in ${generateS.toFixed(1)} s`);
  return { name, kind: 'generated', path: dir, stats, description, reused: false, generateS };
}

export function realCorpus(path: string, log: (s: string) => void): Corpus {
  if (!existsSync(path) || !statSync(path).isDirectory()) throw new Error(`--corpus ${path}: not a directory`);
  log(`corpus ${path}: sizing`);
  const stats = treeStats(path);
  log(`corpus ${path}: ${stats.files} files, ${(stats.bytes / MiB).toFixed(1)} MiB`);
  return { name: path, kind: 'real', path, stats };
}

/** Reads every regular file of a tree once, so that the first timed run finds it in the page cache too. */
export function warmCache(path: string, log: (s: string) => void): void {
  const t0 = process.hrtime.bigint();
  spawnSync('sh', ['-c', 'find "$1" -type f -print0 | xargs -0 -r cat > /dev/null 2>&1', 'sh', path], {
    stdio: 'ignore',
  });
  log(`corpus ${path}: read once into the page cache in ${(Number(process.hrtime.bigint() - t0) / 1e9).toFixed(1)} s`);
}

// ---- tmpfs ------------------------------------------------------------------------------------------------

function memAvailable(): number {
  try {
    const m = /MemAvailable:\s+(\d+) kB/.exec(readFileSync('/proc/meminfo', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    /* not Linux */
  }
  return freemem();
}

function isMountPoint(dir: string): boolean {
  return spawnSync('mountpoint', ['-q', dir]).status === 0;
}

/** Mounts a tmpfs of `bytes` at dir (root only). Refuses when it would not fit in available memory. */
export function mountTmpfs(dir: string, bytes: number): void {
  if (process.getuid?.() !== 0) throw new Error('--tmpfs needs root (it mounts a tmpfs)');
  const avail = memAvailable();
  if (bytes > avail * 0.8)
    throw new Error(
      `--tmpfs needs ${(bytes / MiB).toFixed(0)} MiB but only ${(avail / MiB).toFixed(0)} MiB of memory is available; lower --scale or drop --tmpfs`,
    );
  mkdirSync(dir, { recursive: true });
  if (isMountPoint(dir)) throw new Error(`${dir} is already a mount point (a previous run left it? umount ${dir})`);
  const size = Math.ceil(bytes / MiB);
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}m,mode=0755`, 'casper-bench', dir], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`mount tmpfs at ${dir} failed: ${r.stderr.trim()}`);
}

export function unmountTmpfs(dir: string): void {
  if (!isMountPoint(dir)) return;
  const r = spawnSync('umount', [dir], { encoding: 'utf8' });
  if (r.status !== 0) process.stderr.write(`bench: umount ${dir} failed: ${r.stderr.trim()}\n`);
  else rmSync(dir, { recursive: true, force: true });
}
