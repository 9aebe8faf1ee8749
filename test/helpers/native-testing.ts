// The addon's test-only namespace (native/bindings/testing.cc): the TaskPlanner and the OrderedWriter in memory,
// with no files, root or mounts. Typed here, not in src/native/addon.ts: it is no part of the library's API.
import { loadAddon } from '../../src/native/addon.js';

export interface TestImageOptions {
  blockSize: number;
  fragments?: 'default' | 'none' | 'always';
  dedup?: boolean;
}

/** One tree entry under the root (JS index i is the file the native side calls entry i + 1). */
export interface TestFile {
  size?: number;
  /** Allocated bytes (default: size rounded up to 4K); fewer than size marks a possibly sparse file. */
  diskBytes?: number;
  /** Data copied from a --base image: never planned. */
  fromBase?: boolean;
  /** A hard link to files[hardlinkOf]: no data of its own. */
  hardlinkOf?: number;
  dir?: boolean;
}

export interface PlannedSegment {
  file: number;
  offset: number;
  length: number;
  last: boolean;
  tailFragment: boolean;
  maybeSparse: boolean;
  rel: string;
}

export interface PlannedTask {
  seq: number;
  startsFile: boolean;
  bytes: number;
  segments: PlannedSegment[];
}

/** A segment's result as the block reader returns it; every block is stored raw. */
export interface TestSegmentResult {
  file: number;
  offset: number;
  length: number;
  last: boolean;
  /** The segment's bytes (length of them); absent with a status. */
  data?: Uint8Array;
  status?: 'failed' | 'replaced';
  error?: number;
}

export interface TestResult {
  seq: number;
  startsFile: boolean;
  segments: TestSegmentResult[];
}

export interface ClosedFragment {
  index: number;
  raw: Buffer;
}

export interface DataSection {
  bytes: Buffer;
  words: number[];
  fragments: { start: number; word: number }[];
  files: {
    blocksStart: number;
    firstWord: number;
    nblocks: number;
    fragment: number;
    fragmentOffset: number;
    sparse: number;
    skipped: boolean;
  }[];
  skipped: string[];
}

export interface OrderedWriterHarness {
  addResult(r: TestResult): ClosedFragment[];
  addFragment(index: number, word: number, bytes: Uint8Array): ClosedFragment[];
  end(planned: number): ClosedFragment[];
  addAllThreaded(results: TestResult[], threads: number): void;
  state(): { tasksWritten: number; done: boolean };
  section(): DataSection;
}

export interface NativeTesting {
  /** feedChunks: the files through a feed, so many entries at a time, as an overlapped walk publishes them. */
  planTasks(options: TestImageOptions, files: TestFile[], taskBytes: number, feedChunks?: number[]): PlannedTask[];
  kFragmentLag: number;
  OrderedWriterHarness: new (options: TestImageOptions, files: TestFile[]) => OrderedWriterHarness;
}

export function nativeTesting(): NativeTesting {
  return (loadAddon() as unknown as { testing: NativeTesting }).testing;
}

/** Size word bit 24: the block is stored uncompressed. */
export const STORED_RAW = 1 << 24;
