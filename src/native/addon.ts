// Loads the Node-API addon: an explicit path or loaded module first (Electron apps that pack into asar),
// then the prebuilt shipped in the package, then the cmake-js build, then the node-gyp build.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CasperError } from '../errors.js';
import type { NativeVerifyReport } from './verify-report.js';

export interface CompressorSpec {
  compressor: string;
  blockSize: number;
  compressorOptions?: Record<string, string>;
}

export interface NativeImageOptions extends CompressorSpec {
  fragments: 'default' | 'none' | 'always';
  dedup: boolean;
  exports: boolean;
  allRoot: boolean;
  forceUid?: number;
  forceGid?: number;
  mkfsTime: number;
  clampMtime?: number;
  ignoreErrors: boolean;
  outputPath: string;
}

export interface NativeWalkOptions {
  xattrs: boolean;
  oneFileSystem: boolean;
  exclude: string[];
  emptyDirs: string[];
  /** Regular files stored empty (same owner and mode). */
  truncate?: string[];
  excludeInodes: { dev: number; ino: number }[];
  ignoreErrors: boolean;
  /** Overlay upper mode: bookkeeping xattrs to drop, the opaque/redirect xattr names, the merged view. */
  dropXattrPrefixes?: string[];
  /** Image paths (and below) where xattrs SquashFS cannot store are expected (journald's ACLs): counted apart. */
  expectedSystemXattrs?: string[];
  opaqueXattr?: string;
  redirectXattr?: string;
  mergedRoot?: string;
  /** Read file data from this tree (the merged view) instead of the walked one. */
  dataRoot?: string;
  aufs?: boolean;
  /** Diff mode: the lower view to compare the walked (merged) tree with. */
  lowerRoot?: string;
  /** Cumulative upper mode: the tree of the image being replaced, merged under the upper as overlayfs does. */
  foldRoot?: string;
  /** With foldRoot: the layers beneath that image (an upper whiteout is kept only where it hides something there). */
  beneathRoot?: string;
  compareContents?: boolean;
}

export interface NativeSummary {
  bytesUsed: number;
  imageSize: number;
  inodes: number;
  ids: number;
  fragments: number;
  xattrIds: number;
  inodeTableBytes: number;
  directoryTableBytes: number;
  types: {
    files: number;
    directories: number;
    symlinks: number;
    devices: number;
    fifos: number;
    sockets: number;
    hardlinks: number;
  };
  duplicates: number;
  /** Files whose data was copied from the --base image. */
  reusedFiles: number;
  duplicateBytes: number;
  bytesRead: number;
  dataBlocks: number;
  sparseBlocks: number;
  dataBytes: number;
  changedFiles: string[];
  /** Entries left out: vanished while walking or reading (ENOENT), or unreadable with ignoreErrors. */
  skipped: { path: string; code: string }[];
  /** Files the base was to give whose stored blocks did not match their digests when copied: read from the source instead. */
  baseDamaged: string[];
  /** Bytes of the integrity record written after bytes_used (part of imageSize). */
  recordBytes: number;
  /** Metadata blocks of the inode, directory and lookup tables, and the waves their compression took (its critical path). */
  metadataBlocks: number;
  metadataWaves: number;
  /** CPU ms compressing those blocks, and the table phase's serial part (the calling thread's own work plus each wave's longest compression). */
  tablesCompressCpuMs: number;
  tablesSerialCpuMs: number;
  /** CPU ms of that compression that more threads share (all of it less each wave's longest block). */
  tablesParallelCpuMs: number;
}

/** compareRestored()'s result: the differences (restored side first), the mount points left out, entries compared. */
export interface NativeRestoreResult {
  differences: { path: string; kind: string; restored?: string; live?: string; line: string }[];
  mountPoints: string[];
  entries: number;
}

export interface TreeInfo {
  entries: number;
  files: number;
  bytes: number;
  /** File bytes allocated on disk (holes of sparse files left out): what the space estimate uses. */
  allocatedBytes: number;
  skippedSystemXattrs: number;
  /** Of those, the ones on paths where they are expected (expectedSystemXattrs). */
  expectedSystemXattrs: number;
  /** The first image paths of the unexpected ones. */
  systemXattrPaths: string[];
  warnings: string[];
  /** Image paths an exact exclude left out (an exclude of the user's never met is warned about). */
  excluded: string[];
}

/** What --base gave: used false with the reason when the base could not be used (a full snapshot is made). */
export interface BaseUse {
  used: boolean;
  reason: string;
  /**
   * How files were found unchanged: 'quick' (the quick check, each file's data checked against the base's
   * integrity record) or 'content' (read and compared with the base's bytes); checkReason says why 'content'
   * was chosen when it was not asked for (no integrity record, a filesystem that does not keep ownership).
   */
  check: 'quick' | 'content';
  checkReason: string;
  /** Files that passed the quick check but are read again: their mtime is outside what SquashFS stores (stored clamped). */
  clamped: number;
  /**
   * Files that looked unchanged but whose data in the base did not check out (the tables or the integrity record
   * disagree, a damaged block): read again. The first 20 paths.
   */
  rejected: number;
  rejectedPaths: string[];
  /** Unchanged files whose data is copied, and their size. */
  files: number;
  bytes: number;
  /** Files that passed the quick check but are read again: their mtime is not older than the base's creation time. */
  racy: number;
  /** --base-check content: files of the same size read and compared with the base, and their bytes. */
  compared: number;
  comparedBytes: number;
  /** Fragment blocks copied whole, and tails of unchanged files packed again (their block was not copied). */
  copiedFragments: number;
  repackedTails: number;
}

/** How far the data phase has got (builder.dataProgress()). */
export interface DataProgress {
  /** File bytes of the tasks written, and bytes of the data section written so far (fragment tails counted once, in their block). */
  bytesIn: number;
  bytesOut: number;
  /** Read tasks planned and fragment blocks closed so far, and tasks written. */
  tasks: number;
  fragments: number;
  tasksWritten: number;
  /** Entries before the next file still to be written (the plan follows entry order). */
  entriesDone: number;
  /** Every task and fragment block is in the image: finish() may run. */
  done: boolean;
  /** So far: CPU time of the threads holding the writer's lock, and the wall time it was held (ms). */
  writerCpuMs: number;
  writerHeldMs: number;
}

export interface ImageBuilder {
  /**
   * progress: BigUint64Array(2), entries and regular file bytes found so far (written by the walking thread).
   * besideData: begin() and startData() may follow at once, the data phase planning the files the walk has
   * finished with (nothing else may read the tree until the promise settles). cpuMs: the walking thread's CPU.
   */
  walk(
    source: string,
    options: NativeWalkOptions,
    progress?: BigUint64Array,
    besideData?: boolean,
  ): Promise<{ cpuMs: number }>;
  treeInfo(): TreeInfo;
  /** --base: reads the image at `path` and marks the files whose stored data it gives (before begin). */
  /**
   * Before walk(): opens the base image once with the trust checks (owner, mode, directory, filesystem); refused
   * says why it is not used, contentOnly why every file must be compared with the source before it is taken.
   */
  openBase(path: string): { refused: string; contentOnly: string };
  /** After walk(), when openBase() did not refuse: reads that base and marks the files whose data it gives. */
  useBase(options: { content: boolean; jobs: number }): Promise<BaseUse>;
  /** Closes the base image's descriptor now (false while a job or the data phase may still read it). */
  closeBase(): boolean;
  begin(fd: number): void;
  /**
   * The data engine (native/image/data_engine.h): returns its id. Each pool thread then runs its share with
   * runData(id, spec) (a piscina worker) or runDataAsync(id, spec) (libuv); no task passes through JavaScript.
   * taskBytes: file bytes per read task; window: most tasks planned and not yet written; nice: how much lower the
   * pool threads' scheduling priority is while they run it.
   */
  startData(taskBytes: number, window: number, nice?: number): number;
  dataProgress(): DataProgress;
  /** Waiting pool threads look at the cancel flag now rather than within 50 ms. */
  wakeData(): void;
  /** After every runData call has returned, whatever its outcome. */
  endData(): void;
  /** Tables, superblock, padding; jobs: threads that compress the metadata blocks (default 1). */
  finish(jobs?: number): Promise<NativeSummary>;
  /**
   * After finish() (--verify): reads the image at `path` back (every table and block) and compares each regular
   * file's content digest with the one taken while its data was read. Mismatches are problems with code EDIGEST.
   * progress: BigUint64Array(4) as verifyImage's.
   */
  verifyWritten(path: string, jobs: number, progress?: BigUint64Array): Promise<NativeVerifyReport>;
  /**
   * -regex excludes matched with glibc's regexec on libuv's pool (after walk, before leaveOut): the entries matched,
   * their image paths, and per pattern how many entries it matched. Rejects EINVAL when regcomp refuses one.
   */
  matchRegex(
    patterns: { anchored: string[]; floating: string[] | null; nonDirOnly: boolean }[],
  ): Promise<{ entries: Uint32Array; paths: string[]; hits: number[] }>;
  /** Image paths of every entry (and which are directories), for exclusion patterns matched in JS. */
  /** Every entry's image path, whether it is a directory, and whether its data is copied from the base. */
  imagePaths(): { paths: string[]; dirs: Uint8Array; fromBase: Uint8Array };
  /** Leaves these entries (and everything below them) out; between walk() and begin(). */
  leaveOut(indices: Uint32Array): void;
}

export interface Addon {
  ImageBuilder: new (options: NativeImageOptions, cancel?: Int32Array) => ImageBuilder;
  /** A pool worker's share of the data phase (synchronous, with the worker's cached compressor); throws its failure. */
  runData(engine: number, spec: CompressorSpec): void;
  /** The same on libuv's pool (jobs that start no workers); rejects with the phase's first failure. */
  runDataAsync(engine: number, spec: CompressorSpec): Promise<void>;
  compress(data: ArrayBuffer | Uint8Array, spec: CompressorSpec): ArrayBuffer | null;
  decompress(data: ArrayBuffer | Uint8Array, spec: CompressorSpec, capacity: number): ArrayBuffer;
  /** Builds the compressor to validate name and options (throws code EINVAL with a readable message); returns its description. */
  checkCompressor(spec: CompressorSpec): string;
  /** Exclusive non-blocking flock(2) on an open file: false when another process holds it. */
  lockFile(fd: number): boolean;
  /** The output's directory and its own files, by descriptor, never following a name (native/bindings/output_dir.cc). */
  openDir(path: string): number;
  createAt(dirFd: number, name: string, mode: number): number;
  openOwnAt(dirFd: number, name: string): number;
  statAt(
    dirFd: number,
    name: string,
  ): { dev: number; ino: number; mode: number; uid: number; gid: number; nlink: number; size: number } | null;
  renameAt(dirFd: number, from: string, to: string): void;
  unlinkAt(dirFd: number, name: string): void;
  listAt(dirFd: number): string[];
  /**
   * Reads a whole image back (and compares it with options.dir) on libuv's pool; see src/api/verify.ts. Rejects
   * (code, path, syscall) only when the image cannot be read at all or on cancel (ECANCELED).
   */
  verifyImage(
    image: string,
    options: { dir?: string; jobs?: number; data?: boolean; ignore?: string[] },
    cancel?: Int32Array,
    progress?: BigUint64Array,
  ): Promise<NativeVerifyReport>;
  /**
   * --verify's restore proof (src/api/restore-check.ts) on libuv's pool: compares `restored` (the image stacked
   * over the lower layers) with `live` (the session's merged root), paths in `skip` and mount points left out.
   */
  compareRestored(
    image: string,
    restored: string,
    live: string,
    options: { skip: string[]; ignore: string[] },
    cancel?: Int32Array,
    progress?: BigUint64Array,
  ): Promise<NativeRestoreResult>;
  /** Ends the process at once (_exit): the CLI's signal handlers, which must not wait for native work on other threads. */
  exitNow(code: number): never;
  /** CPU time of the calling thread (CLOCK_THREAD_CPUTIME_ID), in ms. */
  threadCpuMs(): number;
  versions(): {
    defaultBlockSize: number;
    addon: string;
    napi: number;
    compressors: { name: string; id: number; library: string; defaultLevel?: number }[];
  };
}

/**
 * Set by the standalone executable (src/standalone/main.ts) before it runs the CLI: the addon and worker it
 * unpacked from its assets, and its version (there is no package.json beside it).
 */
export const runtime: {
  /** The addon the executable loaded from addonPath. */
  addon?: Addon;
  addonPath?: string;
  workerFilename?: string;
  version?: string;
  standalone?: boolean;
  /** The standalone executable: why the addon could not be unpacked where it can be loaded (its message). */
  addonProblem?: string;
} = {};

function findPackageRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  // dist/src/native in the ESM build, dist/cjs in the CommonJS bundle: walk up to our package.json.
  for (let dir = here; ; dir = dirname(dir)) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj)) {
      try {
        if ((JSON.parse(readFileSync(pj, 'utf8')) as { name?: string }).name === 'casper-snapshot') return dir;
      } catch {
        /* not ours */
      }
    }
    if (dirname(dir) === dir) return resolve(here, '..', '..', '..');
  }
}

export const packageRoot = findPackageRoot();

export function packageVersion(): string {
  if (runtime.version) return runtime.version;
  return (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
}

/** The prebuilt addon shipped in the npm package (built in a Debian bullseye root: glibc 2.31, codecs static). */
export const prebuiltPath = join(
  packageRoot,
  'prebuilds',
  `${process.platform}-${process.arch}`,
  'casper_snapshot.node',
);

let cached: Addon | undefined;
let cachedPath: string | undefined;

/** Loads a .node file by path: process.dlopen works from ESM, CommonJS and the single executable alike. */
function dlopen(path: string): Addon {
  const m = { exports: {} as Addon };
  process.dlopen(m, resolve(path));
  return m.exports;
}

/** The addon given as nativeBinding: a load failure is a CasperError (EADDON) naming the path. */
function dlopenGiven(path: string): Addon {
  try {
    return dlopen(path);
  } catch (err) {
    throw new CasperError(
      `the native addon given as nativeBinding cannot be loaded: ${(err as Error).message}`,
      'EADDON',
      { path, syscall: 'dlopen', cause: err },
    );
  }
}

/** The addon's path once loadAddon() found it (handed to the worker threads so they load the same file). */
export function addonPath(): string | undefined {
  return cachedPath;
}

/**
 * The addon: `binding` may be a loaded addon object or a path to a .node file. Otherwise, in this order:
 * $CASPER_SNAPSHOT_ADDON, the standalone executable's unpacked copy, the cmake-js build, the prebuilt, the
 * node-gyp build. In an installed package build/Release exists only when scripts/install.cjs compiled it
 * because the prebuilt did not load here; in a checkout it is the build of the sources at hand, which must
 * win over a prebuilt left by `npm pack`. A candidate that fails to load falls through to the next.
 */
export function loadAddon(binding?: string | Addon): Addon {
  if (binding && typeof binding === 'object') return binding;
  if (typeof binding === 'string') return dlopenGiven(binding);
  if (cached) return cached;
  if (runtime.addon) {
    cached = runtime.addon;
    cachedPath = runtime.addonPath;
    return cached;
  }
  // The standalone executable carries its addon: nothing to build, only somewhere to map it from (and no
  // package around it whose builds could stand in).
  if (runtime.standalone)
    throw new CasperError(
      `the executable's built-in native addon cannot be loaded: ${runtime.addonProblem ?? 'it was not unpacked'}`,
      'EADDON',
      { syscall: 'dlopen' },
    );
  const candidates = [
    process.env.CASPER_SNAPSHOT_ADDON,
    runtime.addonPath,
    join(packageRoot, 'build', 'Release', 'casper_snapshot.node'),
    prebuiltPath,
    join(packageRoot, 'build-gyp', 'Release', 'casper_snapshot.node'),
  ].filter((p): p is string => !!p);
  const failures: string[] = [];
  for (const p of candidates) {
    if (!existsSync(p)) continue;
    try {
      cached = dlopen(p);
      cachedPath = resolve(p);
      return cached;
    } catch (err) {
      failures.push(`${p}: ${(err as Error).message}`);
    }
  }
  throw new CasperError(
    `casper-snapshot's native addon is missing or does not load here (looked in: ${candidates.join(', ')})` +
      (failures.length ? `; ${failures.join('; ')}` : '') +
      `. The package's prebuilt addon is for linux-x64 with glibc 2.31 or later; elsewhere build it from source: ` +
      `npm install cmake-js node-addon-api node-api-headers, then npm rebuild casper-snapshot (g++, cmake and the ` +
      `compression -dev packages needed; README, "Install")`,
    'EADDON',
    { syscall: 'dlopen' },
  );
}
