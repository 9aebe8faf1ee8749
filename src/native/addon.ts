// Loads the Node-API addon: an explicit path or loaded module first (Electron apps that pack into asar),
// then the cmake-js build, then the node-gyp build.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

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
  excludeInodes: { dev: number; ino: number }[];
  ignoreErrors: boolean;
  /** Overlay upper mode: bookkeeping xattrs to drop, the opaque/redirect xattr names, the merged view. */
  dropXattrPrefixes?: string[];
  opaqueXattr?: string;
  redirectXattr?: string;
  mergedRoot?: string;
  /** Read file data from this tree (the merged view) instead of the walked one. */
  dataRoot?: string;
  aufs?: boolean;
  /** Diff mode: the lower view to compare the walked (merged) tree with. */
  lowerRoot?: string;
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
  types: { files: number; directories: number; symlinks: number; devices: number; fifos: number; sockets: number; hardlinks: number };
  duplicates: number;
  duplicateBytes: number;
  bytesRead: number;
  dataBlocks: number;
  sparseBlocks: number;
  dataBytes: number;
  changedFiles: string[];
  /** Entries left out: vanished while walking or reading (ENOENT), or unreadable with ignoreErrors. */
  skipped: { path: string; code: string }[];
}

export interface TreeInfo {
  entries: number;
  files: number;
  bytes: number;
  /** File bytes allocated on disk (holes of sparse files left out): what the space estimate uses. */
  allocatedBytes: number;
  skippedSystemXattrs: number;
  warnings: string[];
}

export interface ImageBuilder {
  walk(source: string, options: NativeWalkOptions): Promise<void>;
  treeInfo(): TreeInfo;
  begin(fd: number): void;
  nextTask(taskBytes: number): { task: ArrayBuffer; startsFile: boolean; bytes: number } | null;
  /** Writes a task's result (off the event loop); resolves with the fragment blocks that filled up. */
  addResult(result: ArrayBuffer): Promise<{ index: number; raw: ArrayBuffer }[]>;
  takeClosedFragments(): { index: number; raw: ArrayBuffer }[];
  writeFragment(index: number, word: number, data: ArrayBuffer | Uint8Array): Promise<void>;
  closeOpenFragment(): void;
  finish(): Promise<NativeSummary>;
  /** Image paths of every entry (and which are directories), for exclusion patterns matched in JS. */
  imagePaths(): { paths: string[]; dirs: Uint8Array };
  /** Leaves these entries (and everything below them) out; between walk() and begin(). */
  leaveOut(indices: Uint32Array): void;
}

export interface Addon {
  ImageBuilder: new (options: NativeImageOptions, cancel?: Int32Array) => ImageBuilder;
  readAndCompress(task: ArrayBuffer, spec: CompressorSpec, cancel?: Int32Array): ArrayBuffer;
  /** u32 size word (bit 24 = stored raw) followed by the stored bytes. */
  compressFragment(raw: ArrayBuffer, spec: CompressorSpec): ArrayBuffer;
  /** The same work on libuv's pool (small jobs: no worker thread to start); failures resolve as { error }. */
  readAndCompressAsync(task: ArrayBuffer, spec: CompressorSpec, cancel?: Int32Array): Promise<ArrayBuffer | { error: object }>;
  compressFragmentAsync(raw: ArrayBuffer, spec: CompressorSpec): Promise<ArrayBuffer | { error: object }>;
  compress(data: ArrayBuffer | Uint8Array, spec: CompressorSpec): ArrayBuffer | null;
  decompress(data: ArrayBuffer | Uint8Array, spec: CompressorSpec, capacity: number): ArrayBuffer;
  /** Builds the compressor to validate name and options (throws code EINVAL with a readable message); returns its description. */
  checkCompressor(spec: CompressorSpec): string;
  /** Exclusive non-blocking flock(2) on an open file: false when another process holds it. */
  lockFile(fd: number): boolean;
  versions(): { addon: string; napi: number; compressors: { name: string; id: number; library: string; defaultLevel?: number }[] };
}

const require = createRequire(import.meta.url);
export const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

let cached: Addon | undefined;

/** The addon: `binding` may be a loaded addon object or a path to a .node file. */
export function loadAddon(binding?: string | Addon): Addon {
  if (binding && typeof binding === 'object') return binding;
  if (typeof binding === 'string') return require(binding) as Addon;
  if (cached) return cached;
  const candidates = [
    process.env.CASPER_SNAPSHOT_ADDON,
    join(packageRoot, 'build', 'Release', 'casper_snapshot.node'),
    join(packageRoot, 'build-gyp', 'Release', 'casper_snapshot.node'),
  ].filter((p): p is string => !!p);
  for (const p of candidates) {
    if (existsSync(p)) {
      cached = require(p) as Addon;
      return cached;
    }
  }
  throw new Error(`casper-snapshot native addon not found (looked in: ${candidates.join(', ')}); run 'npm run build:native'`);
}
