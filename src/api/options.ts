// The options of a snapshot, shared one to one by the CLI and the library, with their defaults and checks.
import { availableParallelism } from 'node:os';
import type { Addon, CompressorSpec, NativeImageOptions } from '../native/addon.js';
import { UsageError } from '../errors.js';

/** The compressors an image can use (the kernel mounts all five; lzma (LZMA1) is refused). */
export type CompressorName = 'gzip' | 'xz' | 'lz4' | 'zstd' | 'lzo';

export interface SnapshotOptions {
  /** A plain directory to capture as it is. Without it, the live system at `root` is captured. */
  source?: string;
  /** The mount to capture when no source is given (default "/"): a live root, or one mounted elsewhere. */
  root?: string;
  /** upper (the overlay's upper layer), diff (rebuilt from merged and lower views) or full (remaster).
   *  Default: upper when the upper layer is reachable, else diff. */
  mode?: 'upper' | 'diff' | 'full';
  /** Override the detected union filesystem. */
  filesystem?: 'overlay' | 'aufs';
  /** Exclude files (mksquashfs -ef): one path or pattern per line, # comments. */
  excludeFiles?: string[];
  /** How exclude entries are read: exact paths (default), mksquashfs -wildcards, or -regex. */
  excludeSyntax?: 'exact' | 'wildcards' | 'regex';
  /** false: only the output and the live system's own machinery are left out (--no-default-excludes). */
  defaultExcludes?: boolean;
  /** Full mode: also leave out machine identity, host keys, logs and other host state. */
  scrub?: boolean;
  /** Diff mode: compare the contents of files whose metadata is unchanged too. */
  compareContents?: boolean;
  /** Skip the free-space check of the output's filesystem. */
  noSpaceCheck?: boolean;
  /** Image to write (atomically: a temporary file beside it is renamed over it when complete). */
  output: string;
  /** gzip (default), xz, lz4, zstd or lzo (`versions().compressors`); lzma (LZMA1) is refused. */
  compressor?: CompressorName;
  /**
   * Compression level (the `level` compressor option): gzip 1–9 (default 6), xz 0–9 (default 6), lz4 with
   * hc 1–12 (default 9), zstd 1–22 (default 15), lzo with lzo1x_999 1–9 (default 8).
   */
  compressionLevel?: number;
  /**
   * Further compressor options by mksquashfs name without -X, passed to the addon as strings:
   * xz: `dict-size` (bytes, 64K, 1M, or a share of the block size such as '50%'; 2^n or 2^n+2^(n-1), 8K to
   * the block size; default the block size), `bcj` (comma list of x86, powerpc, ia64, arm, armthumb, sparc),
   * `extreme` (boolean); lz4: `hc` (boolean); lzo: `algorithm` (lzo1x_1, lzo1x_1_11, lzo1x_1_12, lzo1x_1_15,
   * lzo1x_999 (default)); every compressor: `level` (as compressionLevel).
   */
  compressorOptions?: Record<string, string | number | boolean>;
  /** Data block size: bytes or a size with K/M suffix, power of two from 4K to 1M (default 128K). */
  blockSize?: number | string;
  /** Pack files smaller than a block into fragment blocks (default true; mksquashfs -no-fragments = false). */
  fragments?: boolean;
  /** Also pack the tail ends of larger files (mksquashfs -always-use-fragments). */
  alwaysUseFragments?: boolean;
  /** Store identical files once (default true). */
  duplicates?: boolean;
  /** Store extended attributes (default true; mksquashfs -no-xattrs = false). */
  xattrs?: boolean;
  /** Write the NFS export table (default true; mksquashfs -no-exports = false). */
  exports?: boolean;
  /** Every file owned by root (mksquashfs -all-root). */
  allRoot?: boolean;
  /** Owner/group of every file (mksquashfs -force-uid / -force-gid). */
  forceUid?: number;
  forceGid?: number;
  /** Do not descend into other filesystems (they stay as empty directories). */
  oneFileSystem?: boolean;
  /** Paths inside the source to leave out, as image paths ("/var/cache") or paths relative to the source. */
  exclude?: string[];
  /** Worker threads (default: available cores; mksquashfs -processors). */
  jobs?: number;
  /** Cap on data in flight: bytes or a size with K/M/G suffix (default 256M). */
  mem?: number | string;
  /** Leave out unreadable entries (EACCES, EIO, …) and list them in the report instead of failing. */
  ignoreErrors?: boolean;
  /**
   * Replace an existing output file that is not a SquashFS image (mksquashfs -noappend). Without it only a
   * missing path, an empty file or a SquashFS image is replaced; devices, FIFOs and directories never are.
   */
  force?: boolean;
  /** Reproducible time: superblock time, and no inode time later (default: $SOURCE_DATE_EPOCH). */
  sourceDateEpoch?: number;
  /**
   * Read the new image back before it replaces the output (default false): every table and block is checked
   * as `verify` does, and each file's stored data must give the digest of the bytes read from the source
   * during the data phase. A failure fails the snapshot (the temporary file is removed, an existing image kept).
   */
  verify?: boolean;
  /**
   * Incremental snapshot: an earlier image whose stored data is copied for every file unchanged since it was
   * made (same type, size, mtime, mode, owner and xattrs, and an mtime older than the base's creation time),
   * so only new and changed files are read and compressed. Default: the output itself, when it already holds
   * an image made with the same compressor, options and block size. false: never (a full snapshot).
   */
  base?: string | false;
  /**
   * How a file is found unchanged since the base: 'quick' (default) by the quick check above; 'content' by
   * reading it and comparing its bytes with the base's (every file of the same size is read, none compressed).
   */
  baseCheck?: 'quick' | 'content';
}

export interface ResolvedOptions {
  source?: string;
  output: string;
  image: NativeImageOptions;
  /** The compressor with its effective options, e.g. "xz level 6, dict-size 131072, bcj x86". */
  compressorDescription: string;
  xattrs: boolean;
  oneFileSystem: boolean;
  exclude: string[];
  jobs: number;
  mem: number;
  verify: boolean;
  /** The base image given, false for none, undefined for the default (the output, when it is a SquashFS image). */
  base: string | false | undefined;
  baseCheck: 'quick' | 'content';
}

const UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

/** Parses "131072", "128K", "1M", "2G" (mksquashfs style). */
export function parseSize(value: number | string, what: string): number {
  if (typeof value === 'number') {
    if (Number.isInteger(value) && value > 0) return value;
    throw new UsageError(`${what} must be a positive integer, got ${value}`);
  }
  const m = /^(\d+)\s*([KMG]?)i?B?$/i.exec(value.trim());
  if (!m) throw new UsageError(`${what} must be a size like 131072, 128K or 1M, got '${value}'`);
  return Number(m[1]) * UNITS[m[2].toUpperCase()];
}

function intIn(value: number | undefined, what: string, lo: number, hi: number): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || value < lo || value > hi)
    throw new UsageError(`${what} must be an integer from ${lo} to ${hi}, got ${value}`);
  return value;
}

function sourceDateEpoch(opt: number | undefined): number | undefined {
  if (opt !== undefined) return intIn(opt, 'sourceDateEpoch', 0, 0xffffffff);
  const env = process.env.SOURCE_DATE_EPOCH;
  if (env === undefined || env === '') return undefined;
  if (!/^\d+$/.test(env) || Number(env) > 0xffffffff)
    throw new UsageError(`SOURCE_DATE_EPOCH must be seconds from 0 to 4294967295, got '${env}'`);
  return Number(env);
}

function compressorOptionStrings(opts: SnapshotOptions['compressorOptions']): Record<string, string> {
  if (opts === undefined) return {};
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts))
    throw new UsageError('compressorOptions must be an object of option names to values');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(opts)) {
    if (v === undefined) continue;
    if (typeof v === 'string') out[k] = v.trim();
    else if (typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))) out[k] = String(v);
    else throw new UsageError(`compressor option '${k}' must be a string, number or boolean, got ${typeof v}`);
  }
  return out;
}

/**
 * The addon is the authority on compressor options: it builds the compressor once, here, before any file is
 * written. `typedBlockSize`: the block size as the caller gave it ('3M'), which its message repeats.
 */
function checkCompressor(addon: Addon, spec: CompressorSpec, typedBlockSize: unknown): string {
  try {
    return addon.checkCompressor(spec);
  } catch (err) {
    const e = err as { code?: string; message?: string };
    let message = e.message ?? String(err);
    if (typeof typedBlockSize === 'string' && message.startsWith('block size '))
      message = message.replace(new RegExp(`got ${spec.blockSize}$`), `got '${typedBlockSize}'`);
    if (e.code === 'EINVAL') throw new UsageError(message);
    throw err;
  }
}

/** Validates everything that can be checked before a byte is written. */
export function resolveOptions(o: SnapshotOptions, addon: Addon): ResolvedOptions {
  if (!o || typeof o !== 'object') throw new UsageError('options are required');
  if (o.source !== undefined && (typeof o.source !== 'string' || o.source === ''))
    throw new UsageError('source must be a directory path');
  if (o.mode !== undefined && !['upper', 'diff', 'full'].includes(o.mode))
    throw new UsageError(`mode must be upper, diff or full, got '${o.mode}'`);
  if (o.source !== undefined && o.mode !== undefined)
    throw new UsageError('source captures a plain directory; mode applies to a live root', { option: 'root' });
  if (o.filesystem !== undefined && !['overlay', 'aufs'].includes(o.filesystem))
    throw new UsageError(`filesystem must be overlay or aufs, got '${o.filesystem}'`);
  if (typeof o.output !== 'string' || o.output === '') throw new UsageError('an output image path is required');
  // Block size range, compressor names (lzma refused) and codec options are checked once, natively
  // (checkCompressor below); only the size syntax is read here.
  const blockSize = parseSize(o.blockSize ?? addon.versions().defaultBlockSize, 'block size');
  const compressor = o.compressor ?? 'gzip';
  const compressorOptions = compressorOptionStrings(o.compressorOptions);
  if (o.compressionLevel !== undefined) {
    if (!Number.isInteger(o.compressionLevel))
      throw new UsageError(`compression level must be an integer, got ${o.compressionLevel}`);
    if (compressorOptions.level !== undefined && compressorOptions.level !== String(o.compressionLevel))
      throw new UsageError(
        `compression level given twice: ${o.compressionLevel} and compressorOptions.level ${compressorOptions.level}`,
      );
    compressorOptions.level = String(o.compressionLevel);
  }
  const compressorDescription = checkCompressor(addon, { compressor, blockSize, compressorOptions }, o.blockSize);
  if (o.fragments === false && o.alwaysUseFragments)
    throw new UsageError('fragments off and always-use-fragments contradict each other');
  const sde = sourceDateEpoch(o.sourceDateEpoch);
  const jobs = intIn(o.jobs, 'jobs', 1, 1024) ?? availableParallelism();
  const mem = parseSize(o.mem ?? '256M', 'mem');
  if (mem < 8 * 1024 * 1024) throw new UsageError('mem must be at least 8M');
  const image: NativeImageOptions = {
    compressor,
    blockSize,
    compressorOptions,
    fragments: o.fragments === false ? 'none' : o.alwaysUseFragments ? 'always' : 'default',
    dedup: o.duplicates ?? true,
    exports: o.exports ?? true,
    allRoot: o.allRoot ?? false,
    forceUid: intIn(o.forceUid, 'forceUid', 0, 0xffffffff),
    forceGid: intIn(o.forceGid, 'forceGid', 0, 0xffffffff),
    mkfsTime: sde ?? Math.floor(Date.now() / 1000),
    clampMtime: sde,
    ignoreErrors: o.ignoreErrors ?? false,
    outputPath: o.output,
  };
  return {
    source: o.source,
    output: o.output,
    image,
    compressorDescription,
    xattrs: o.xattrs ?? true,
    oneFileSystem: o.oneFileSystem ?? false,
    exclude: o.exclude ?? [],
    jobs,
    mem,
    verify: o.verify ?? false,
    base: baseOption(o.base),
    baseCheck: baseCheckOption(o.baseCheck),
  };
}

function baseCheckOption(v: SnapshotOptions['baseCheck']): 'quick' | 'content' {
  if (v === undefined || v === 'quick' || v === 'content') return v ?? 'quick';
  throw new UsageError(`baseCheck must be 'quick' or 'content', got '${String(v)}'`);
}

function baseOption(base: SnapshotOptions['base']): string | false | undefined {
  if (base === undefined || base === false) return base;
  if (typeof base !== 'string' || base === '')
    throw new UsageError('base must be the path of a SquashFS image, or false');
  return base;
}
