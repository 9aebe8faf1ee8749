// snapshot(): the whole job — validate, walk, compress across the pool, write tables, commit atomically.
import type { Piscina } from 'piscina';
import { type Stats, statSync, statfsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { planCapture, type CapturePlan, type Cumulative, type LowerStack } from './capture.js';
import { proveRestore, type RestoreCheck } from './restore-check.js';
import { toImagePath } from '../mount/paths.js';
import type { CaptureMode, LiveLayout } from '../mount/index.js';
import {
  loadAddon,
  type Addon,
  type BaseUse,
  type ImageBuilder,
  type NativeSummary,
  type TreeInfo,
} from '../native/addon.js';
import { resolveOptions, type ResolvedOptions, type SnapshotOptions } from './options.js';
import { createPool } from '../pipeline/pool.js';
import { inlineRunner, poolRunner, runDataPipeline, type PipelineStats } from '../pipeline/data-pipeline.js';
import { walkBesideData, type DataShares } from '../pipeline/walk-beside-data.js';
import { OutputFile, checkOutputTarget, checkOutputWritable, type ExistingOutput } from '../pipeline/output-file.js';
import { trackCancel } from '../pipeline/stop.js';
import { CasperError, UsageError, toCasperError } from '../errors.js';
import { EXPECTED_SYSTEM_XATTRS } from '../policy/index.js';
import { MediumWrite } from '../live/medium-write.js';
import { keepModuleListing } from '../live/live-boot-module.js';
import { compilePattern, pathComponents } from '../policy/patterns.js';
import { printable } from '../printable.js';

export type Phase = 'walk' | 'data' | 'tables' | 'verify' | 'commit' | 'done';

export interface Progress {
  phase: Phase;
  /**
   * Walk: entries found so far. Data: entries whose data is in the image (the plan follows the walk's order).
   * Then entriesTotal.
   */
  entriesDone: number;
  /**
   * Entries to capture, from the walk (0 until the walk is done). When the walk runs beside the data phase
   * (walking: true), the entries found so far: it grows until the walk is done.
   */
  entriesTotal: number;
  /**
   * File bytes to read, from the walk: bytesIn reaches it at the end of the data phase. During the walk (and
   * during the data phase while walking is true), the file bytes found so far.
   */
  bytesTotal: number;
  /** Phase 'data': the walk still goes on beside it (the totals are not final yet). */
  walking?: boolean;
  bytesIn: number;
  /** Bytes of the image written so far: the data section during the data phase (a fragment tail counted once, in its block), the whole image at 'done'. */
  bytesOut: number;
  /** Input bytes per second since the data phase began. */
  rate: number;
  /** Phase 'verify' (verify: true): image bytes read back so far, and in all. */
  verifyBytes?: number;
  verifyBytesTotal?: number;
  /** Phase 'verify', upper and diff modes: entries compared so far by the restore proof. */
  restoreEntries?: number;
}

/** What a job is about to capture, known before the walk (onPlan). */
export interface SnapshotPlan {
  mode: CaptureMode | 'directory';
  layout: LiveLayout | null;
  lowerStack: LowerStack | null;
  /** A cumulative save (the image replaces a lower layer), or null. */
  cumulative: Cumulative | null;
  /** The read-only live medium remounted read-write for the save, or null. */
  remountedMedium: string | null;
  /** How the capture was decided (the report's notes may add some after the walk). */
  notes: string[];
  /** The effective exclusion policy, as text. */
  policy: string;
}

export interface RunOptions extends SnapshotOptions {
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
  /** Called once the capture is planned (live layout found, lower stack mounted, policy made), before the walk. */
  onPlan?: (plan: SnapshotPlan) => void;
  /** A caller's piscina pool whose filename is casper-snapshot's worker (see README, Embedding). */
  pool?: Piscina;
  workerFilename?: string;
  /** Path to the .node file, or the loaded addon (the workers then load the default path). */
  nativeBinding?: string | Addon;
  /**
   * How much lower than the caller's thread the data phase's pool threads run (nice, per thread; default 5): the
   * caller's event loop is scheduled first when every core is busy. 0 leaves their priority as it is (the CLI).
   */
  threadNice?: number;
}

/** The library's default: an app's event loop goes first (see RunOptions.threadNice). */
const DEFAULT_THREAD_NICE = 5;

export interface SnapshotReport {
  output: string;
  /** The tree that was walked (the source, the upper layer, or the live root). */
  source: string;
  mode: CaptureMode | 'directory';
  layout: LiveLayout | null;
  /** Diff mode: the lower layers the delta was computed against and how they were stacked; else null. */
  lowerStack: LowerStack | null;
  /**
   * A cumulative save: the image replaces one of the live system's lower layers (an earlier snapshot the boot
   * stacked), so it holds the delta against the layers beneath that one (which were folded in, which compared
   * against); null otherwise.
   */
  cumulative: Cumulative | null;
  /** The read-only live medium remounted read-write for the save (and read-only again after it), or null. */
  remountedMedium: string | null;
  /** The effective exclusion policy, as text. */
  policy: string;
  /** How the capture was decided and what was done beside it (the layout's notes, a cumulative save, known noise): for -d. */
  notes: string[];
  options: ResolvedOptions;
  image: NativeSummary;
  sourceEntries: number;
  /** File data in the image: what was read, and what the base gave. */
  sourceBytes: number;
  warnings: string[];
  /** What was at the output path before: nothing, or what this image replaced. */
  replaced: ExistingOutput;
  /** Milliseconds per phase; with walk.besideData, times.walk is what came before the data phase, the walk itself is in walk. */
  times: { walk: number; data: number; tables: number; verify: number; commit: number; total: number };
  pipeline: PipelineStats;
  /** The walk's own time, and whether it ran beside the data phase (overlapped with compression). */
  walk: WalkStats;
  /**
   * verify: true: the regular files whose data, read back from the new image, gave the digest of the bytes read
   * from the source (all of them, or the snapshot fails), their bytes, and the milliseconds the check took. null
   * without verify.
   */
  verified: { files: number; bytes: number; ms: number } | null;
  /**
   * The base image tried (--base, or the output it replaces by default) and what it gave: used false with the
   * reason when it could not be used (the snapshot is then a full one, with a warning); ms: the time reading it and
   * matching it with the walked tree took (part of times.walk). null: no base.
   */
  base: ({ path: string; byDefault: boolean; ms: number } & BaseUse) | null;
  /**
   * verify: true: the restore proof — the image stacked over the live system's lower layers (upper and diff
   * modes, as root) compared with the live merged view; `skipped` says why it was not made. Each difference is
   * also a warning (the CLI exits 3). null without verify.
   */
  restoreCheck: RestoreCheck | null;
}

/** The estimated image size must fit in the output filesystem's free space (a system compresses to ~40 %). */
function checkSpace(output: string, sourceBytes: number, warnings: string[]): void {
  const st = statfsSync(dirname(resolve(output)));
  const free = st.bavail * st.bsize;
  const estimate = Math.ceil(sourceBytes * 0.4) + (1 << 20);
  if (free < estimate)
    throw new CasperError(
      `not enough free space for '${output}': about ${(estimate / 2 ** 20).toFixed(0)} MiB needed, ${(free / 2 ** 20).toFixed(0)} MiB free`,
      'ENOSPC',
      { path: output, remedy: { option: 'noSpaceCheck' } },
    );
  if (st.type === TMPFS_MAGIC) warnings.push(`'${output}' is on a tmpfs (memory): it will not survive a reboot`);
}

const TMPFS_MAGIC = 0x01021994;

/** Why an entry found by the walk is not in the image. */
function skippedWarning(code: string, path: string): string {
  if (code === 'ENOENT') return `vanished while being captured, left out: ${path}`;
  if (code === 'EREPLACED')
    return `replaced while being captured (now another file, a symlink, a FIFO or a directory; never followed or read), left out: ${path}`;
  return `unreadable (${code}), left out: ${path}`;
}
/** File data up to which a job runs on libuv's threads rather than starting the worker pool. */
const SMALL_JOB = 8 * 1024 * 1024;
/** libuv's thread pool (each of the data phase's shares holds one of its threads for the whole phase). */
const UV_POOL_THREADS = Number(process.env.UV_THREADPOOL_SIZE) || 4;

/**
 * Whether the data phase runs on libuv's threads (no worker pool): a small job, or fewer jobs than libuv has
 * threads (one left for the rest of the process). A worker isolate takes tens of ms to start, more on a busy
 * machine (28-147 ms each on a loaded 2-core one), and ~60 MiB; each share of the data phase builds its compressor once, so zstd's and xz's contexts cost nothing
 * per task there either.
 */
function runsInline(bytes: number, jobs: number, uvThreads: number): boolean {
  return bytes <= SMALL_JOB || jobs < uvThreads;
}

/**
 * Whether the walk runs beside the data phase (src/pipeline/walk-beside-data.ts): when nothing needs the whole
 * tree before the plan — no base to match, no wildcard or regex exclude to apply, no diff-mode walk (it may be
 * taken again) — and CASPER_SNAPSHOT_WALK_FIRST is not 1 (for measuring the difference).
 */
function walksBesideData(plan: CapturePlan, base: OpenedBase | null, internals: Internals): boolean {
  return (
    process.env.CASPER_SNAPSHOT_WALK_FIRST !== '1' &&
    !internals.walkFirst &&
    (!base || base.refused !== '') &&
    plan.policy.patterns.length === 0 &&
    !internals.dropAfterWalk?.length &&
    !plan.walk.lowerRoot
  );
}

/** The walk's own time: beside the data phase (overlapped) or before it. */
export interface WalkStats {
  besideData: boolean;
  wallMs: number;
  /** CPU time of the walking thread. */
  cpuMs: number;
}

type Emit = (p: Omit<Progress, 'rate' | 'bytesTotal'> & { rate?: number; bytesTotal?: number }) => void;

function threadNice(v: number | undefined): number {
  if (v === undefined) return DEFAULT_THREAD_NICE;
  if (!Number.isInteger(v) || v < 0 || v > 19)
    throw new UsageError(`threadNice must be an integer from 0 to 19, got ${v}`);
  return v;
}

/** The source must be a readable directory (a usage error otherwise, before anything is written). */
function checkSource(given: string | undefined): string | undefined {
  if (given === undefined) return undefined;
  const source = resolve(given);
  let st: Stats;
  try {
    st = statSync(source);
  } catch (err) {
    throw new UsageError(`source '${given}' cannot be read: ${(err as Error).message}`);
  }
  if (!st.isDirectory()) throw new UsageError(`source '${given}' is not a directory`);
  return source;
}

/** Not part of the library's surface: what tests substitute for the machine's own state. */
export interface Internals {
  /** mountinfo text instead of /proc/self/mountinfo (aufs cannot be mounted on current kernels). */
  mountinfo?: string;
  /** Called with the temporary image's path once its tables are written, before verify and commit (tests break images here). */
  afterTables?: (tempPath: string) => void;
  /** Image paths dropped after the walk, as if it had missed them: a valid image lacking entries (tests of the restore proof). */
  dropAfterWalk?: string[];
  /** The whole walk before the data phase, never beside it (tests compare the two). */
  walkFirst?: boolean;
}

/** How often the verify phase reports progress. */
const VERIFY_PROGRESS_MS = 200;

/**
 * verify: true — the new image read back natively (off the JS thread), every table and block checked and each
 * file's digest compared with the data phase's. Any problem fails the snapshot, naming the paths.
 */
async function verifyWritten(
  builder: ImageBuilder,
  tempPath: string,
  jobs: number,
  onProgress: (done: number, total: number) => void,
): Promise<{ files: number; bytes: number }> {
  const progress = new BigUint64Array(4);
  const timer = setInterval(() => onProgress(Number(progress[2]), Number(progress[3])), VERIFY_PROGRESS_MS);
  let r: Awaited<ReturnType<typeof builder.verifyWritten>>;
  try {
    r = await builder.verifyWritten(tempPath, jobs, progress);
  } finally {
    clearInterval(timer);
  }
  onProgress(Number(progress[2]), Number(progress[3]));
  if (!r.ok) {
    const shown = r.problems
      .slice(0, 5)
      .map((p) => p.message + (p.path && !p.message.includes(p.path) ? ` (${p.path})` : ''));
    const more = r.problems.length - shown.length;
    const rest = more > 0 || r.problemsTruncated ? `; and ${r.problemsTruncated ? 'more than ' : ''}${more} more` : '';
    const digest = r.problems.some((p) => p.code === 'EDIGEST');
    throw new CasperError(
      `--verify: the image read back does not hold what was read: ${shown.join('; ')}${rest}; no image written`,
      digest ? 'EDIGEST' : 'ESQUASH_CORRUPT',
      {
        path: r.problems.find((p) => p.path)?.path,
      },
    );
  }
  return r.digests;
}

function capturePlan(
  options: RunOptions,
  opts: ResolvedOptions,
  source: string | undefined,
  output: OutputFile,
  internals: Internals,
): Promise<CapturePlan> {
  return planCapture({
    source,
    root: options.root,
    mode: options.mode,
    filesystem: options.filesystem,
    exclude: opts.exclude,
    excludeFiles: options.excludeFiles,
    excludeSyntax: options.excludeSyntax,
    defaultExcludes: options.defaultExcludes,
    scrub: options.scrub,
    compareContents: options.compareContents,
    oneFileSystem: opts.oneFileSystem,
    xattrs: opts.xattrs,
    ignoreErrors: opts.image.ignoreErrors,
    output: resolve(opts.output),
    tempOutput: output.tempPath,
    base: typeof opts.base === 'string' ? resolve(opts.base) : undefined,
    mountinfo: internals.mountinfo,
  });
}

/** The base image to try: the one given, or by default the output when it is a SquashFS image; null for none. */
function baseOf(opts: ResolvedOptions, existing: ExistingOutput): { path: string; byDefault: boolean } | null {
  if (opts.base === false) return null;
  if (opts.base === undefined)
    return existing === 'SquashFS image' ? { path: resolve(opts.output), byDefault: true } : null;
  let st: Stats;
  try {
    st = statSync(opts.base);
  } catch (err) {
    throw new UsageError(`base image '${opts.base}' cannot be read: ${(err as Error).message}`);
  }
  if (!st.isFile()) throw new UsageError(`base image '${opts.base}' is not a regular file`);
  return { path: resolve(opts.base), byDefault: false };
}

type BaseTarget = { path: string; byDefault: boolean };
type OpenedBase = BaseTarget & { refused: string; contentOnly: string };

/**
 * Opens the base once, before the walk, with the trust rules (native/image/base_trust.h): only that descriptor is
 * read later, never the path again, and a FIFO put in its place cannot block the run.
 */
function openBase(builder: ImageBuilder, base: BaseTarget | null): OpenedBase | null {
  return base ? { ...base, ...builder.openBase(base.path) } : null;
}

/** What a base that is not used at all reports. */
function unusedBase(reason: string): BaseUse {
  return {
    used: false,
    reason,
    check: 'quick',
    checkReason: '',
    files: 0,
    bytes: 0,
    racy: 0,
    clamped: 0,
    compared: 0,
    comparedBytes: 0,
    copiedFragments: 0,
    repackedTails: 0,
    rejected: 0,
    rejectedPaths: [],
  };
}

/** Reads the base and marks the unchanged files; a base that cannot be used gives a warning and a full snapshot. */
async function useBase(
  builder: ImageBuilder,
  base: OpenedBase | null,
  opts: ResolvedOptions,
  warnings: string[],
): Promise<SnapshotReport['base']> {
  if (!base) return null;
  const { path, byDefault } = base;
  const what = `${byDefault ? 'the existing image' : 'base image'} '${path}'`;
  const t0 = performance.now();
  const use = base.refused
    ? unusedBase(base.refused)
    : await builder.useBase({ content: opts.baseCheck === 'content', jobs: opts.jobs });
  const ms = Math.round(performance.now() - t0);
  if (!use.used) warnings.push(`${what} not used as the base (${use.reason}): a full snapshot`);
  else if (use.checkReason)
    warnings.push(`${what}: every file is compared with the source before its data is taken (${use.checkReason})`);
  return { path, byDefault, ...use, ms };
}

/** Files the base was to give that were read again: their data in it did not check out (tables, record, damaged blocks). */
function baseWarnings(base: SnapshotReport['base'], image: NativeSummary): string[] {
  if (!base?.used || base.rejected + image.baseDamaged.length === 0) return [];
  const paths = [...base.rejectedPaths, ...image.baseDamaged];
  const count = base.rejected + image.baseDamaged.length;
  const shown = paths.slice(0, 20).join(', ');
  return [
    `base image '${base.path}': the data of ${count} file(s) in it did not check out (a damaged block, or tables that disagree with its integrity record): read again from the source: ${shown}${count > 20 ? ', …' : ''}`,
  ];
}

/** How often the walk reports the entries found. */
const WALK_PROGRESS_MS = 100;

/** Entries matched in JS per slice: the event loop (and so a signal) is served between slices. */
const MATCH_SLICE = 20_000;

/**
 * The walk, then wildcard/regex excludes, left out natively: -regex patterns matched by glibc's regexec on a pool
 * thread, wildcards in JS in slices. Returns the paths the patterns left out and, per pattern, how many entries
 * it matched.
 */
async function walk(
  builder: ImageBuilder,
  plan: CapturePlan,
  output: OutputFile,
  drop: string[],
  onFound?: (entries: number, bytes: number) => void,
): Promise<{ matched: string[]; hits: number[]; cpuMs: number }> {
  const found = new BigUint64Array(2);
  const timer = onFound ? setInterval(() => onFound(Number(found[0]), Number(found[1])), WALK_PROGRESS_MS) : undefined;
  let cpuMs = 0;
  try {
    cpuMs = (await builder.walk(plan.walkRoot, { ...plan.walk, excludeInodes: output.inodes() }, found)).cpuMs;
  } finally {
    clearInterval(timer);
  }
  onFound?.(Number(found[0]), Number(found[1])); // what the walk found, however short it was
  const patterns = plan.policy.patterns;
  const hits = patterns.map(() => 0);
  const matched: string[] = [];
  const leftOut: number[] = [];
  const regex = patterns.map((p, k) => ({ p, k })).filter(({ p }) => p.syntax === 'regex');
  if (regex.length > 0) {
    let r: Awaited<ReturnType<typeof builder.matchRegex>>;
    try {
      r = await builder.matchRegex(
        regex.map(({ p }) => ({ anchored: p.anchored, floating: p.floating, nonDirOnly: p.nonDirOnly })),
      );
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EINVAL') throw new UsageError(`-regex: ${(err as Error).message}`);
      throw err;
    }
    r.hits.forEach((n, i) => {
      hits[regex[i].k] = n;
    });
    leftOut.push(...r.entries);
    matched.push(...r.paths);
  }
  const globs = patterns
    .map((p, k) => ({ k, test: compilePattern(p) }))
    .filter(({ k }) => patterns[k].syntax !== 'regex');
  if (globs.length > 0 || drop.length > 0) {
    const { paths, dirs } = builder.imagePaths();
    const dropped = new Set(drop);
    for (let from = 1; from < paths.length; from += MATCH_SLICE) {
      for (let i = from; i < Math.min(paths.length, from + MATCH_SLICE); i++) {
        const comps = pathComponents(paths[i]);
        let hit = false;
        for (const g of globs)
          if (g.test(comps, dirs[i] === 1)) {
            hits[g.k]++;
            hit = true;
          }
        if (hit) matched.push(paths[i]);
        if (hit || dropped.has(paths[i])) leftOut.push(i);
      }
      await new Promise((r) => setImmediate(r));
    }
  }
  if (leftOut.length) builder.leaveOut(Uint32Array.from(leftOut));
  return { matched, hits, cpuMs };
}

/** Unmatched excludes named one by one; the rest are counted. */
const UNMATCHED_SHOWN = 20;

/** The user's excludes that left nothing out: a typo, a path outside the tree, a pattern that matched no name. */
function unmatchedExcludes(policy: CapturePlan['policy'], excluded: string[], hits: number[]): string[] {
  const met = new Set(excluded);
  const rules = new Set([...policy.exclude, ...policy.emptyDirs]);
  const out: string[] = [];
  let more = 0;
  for (const u of policy.userExcludes) {
    const quiet =
      u.kind === 'pattern' ? hits[u.index] > 0 : u.kind === 'path' && (met.has(u.path) || !rules.has(u.path)); // inside another rule: covered by it
    if (quiet) continue;
    if (out.length === UNMATCHED_SHOWN) more++;
    else
      out.push(
        `exclude '${printable(u.text)}' (${printable(u.origin)}) matched nothing${u.kind === 'outside' ? ' (a path outside the tree captured)' : ''}`,
      );
  }
  if (more > 0) out.push(`and ${more} more exclude entries matched nothing`);
  return out;
}

/** What the restore proof leaves out: what the capture left out, and the output's own files. */
function restoreSkips(plan: CapturePlan, output: OutputFile, matched: string[]): string[] {
  const own = [output.tempPath, output.lockPath, resolve(output.target)].map(
    (p) => plan.layout && toImagePath(p, plan.layout.root),
  );
  return [
    ...plan.policy.exclude,
    ...plan.policy.emptyDirs,
    ...plan.policy.truncate,
    ...matched,
    ...own.filter((p): p is string => !!p),
  ];
}

/** Fields the options make differ on purpose between the image and the tree it was taken from. */
function restoreIgnores(opts: ResolvedOptions): string[] {
  const out: string[] = [];
  if (!opts.xattrs) out.push('xattrs');
  if (opts.image.allRoot || opts.image.forceUid !== undefined || opts.image.forceGid !== undefined) out.push('owner');
  if (opts.image.clampMtime !== undefined) out.push('mtime');
  return out;
}

/**
 * A difference the restore proof found in data copied from the base (the base held other bytes than the live
 * file, though it passed the quick check, its integrity record and the trust rules): the snapshot fails and
 * the old image is kept, rather than carrying those bytes on.
 */
function failOnBaseDifferences(builder: ImageBuilder, r: RestoreCheck, base: SnapshotReport['base']): void {
  if (!base?.used || r.differences.length === 0) return;
  const { paths, fromBase } = builder.imagePaths();
  const copied = new Set(paths.filter((_, i) => fromBase[i] === 1));
  const bad = r.differences.filter((d) => d.kind === 'content' && copied.has(d.path)).map((d) => d.path);
  if (bad.length === 0) return;
  throw new CasperError(
    `--verify: the data of ${bad.length} file(s) copied from the base image '${base.path}' differs from the live session ` +
      `(${bad.slice(0, 10).join(', ')}${bad.length > 10 ? ', …' : ''}): no image written, the existing one is kept; ` +
      'save again with --no-base (or --base-check content)',
    'EDIGEST',
    { path: bad[0] },
  );
}

/** The restore proof's warnings: why it was skipped, or each difference (the first 50, then a count). */
function restoreWarnings(r: RestoreCheck): string[] {
  if (r.skipped) return [`--verify: the proof that the snapshot restores the session was skipped: ${r.skipped}`];
  if (r.differences.length === 0) return [];
  const shown = r.differences.slice(0, 50).map((d) => `--verify: restore: ${d.line}`);
  const more = r.differences.length - shown.length;
  return [
    `--verify: the image stacked over the lower layers differs from the live session in ${r.differences.length} place(s)`,
    ...shown,
    ...(more > 0 ? [`--verify: restore: and ${more} more difference(s) (all in the report)`] : []),
  ];
}

/** What -d says about the tree beside the warnings: xattrs skipped where the policy expects them. */
function noteOf(info: TreeInfo): string[] {
  return info.expectedSystemXattrs > 0
    ? [
        `${info.expectedSystemXattrs} xattr(s) SquashFS cannot store (system.*, POSIX ACLs) skipped where they are expected (${EXPECTED_SYSTEM_XATTRS.join(', ')}: journald's ACLs)`,
      ]
    : [];
}

/** What the user must hear about the tree and the data phase. */
function warningsOf(info: TreeInfo, image: NativeSummary): string[] {
  const warnings = [...info.warnings];
  const unexpected = info.skippedSystemXattrs - info.expectedSystemXattrs;
  if (unexpected > 0) {
    const on = info.systemXattrPaths.map((p) => `'${p}'`).join(', ');
    warnings.push(
      `${unexpected} xattr(s) outside the user, trusted and security namespaces (system.*, POSIX ACLs) cannot be stored in SquashFS and were skipped (on ${on}${unexpected > info.systemXattrPaths.length ? ', …' : ''})`,
    );
  }
  for (const f of image.changedFiles) warnings.push(`file changed as we read it: ${f}`);
  for (const s of image.skipped) warnings.push(skippedWarning(s.code, s.path));
  return warnings;
}

export function snapshot(options: RunOptions): Promise<SnapshotReport> {
  return snapshotWith(options, {});
}

/**
 * The temporary output and the capture plan, announced through onPlan; a failure on the way releases what was
 * made (the temporary file, the plan's mounts, the medium made writable).
 */
async function openOutputAndPlan(
  options: RunOptions,
  opts: ResolvedOptions,
  addon: Addon,
  source: string | undefined,
  medium: MediumWrite | null | undefined,
  internals: Internals,
): Promise<{ output: OutputFile; plan: CapturePlan }> {
  let output: OutputFile;
  let plan: CapturePlan;
  try {
    checkOutputWritable(opts.output);
    output = new OutputFile(opts.output, addon);
  } catch (err) {
    medium?.close();
    throw err;
  }
  try {
    plan = await capturePlan(options, opts, source, output, internals);
  } catch (err) {
    output.discard();
    medium?.close();
    throw err;
  }
  try {
    options.onPlan?.({
      mode: plan.mode,
      layout: plan.layout,
      lowerStack: plan.lowerStack,
      cumulative: plan.cumulative,
      remountedMedium: medium?.mountPoint ?? null,
      notes: [...plan.notes],
      policy: plan.policy.describe(),
    });
  } catch (err) {
    plan.cleanup();
    output.discard();
    medium?.close();
    throw err;
  }
  return { output, plan };
}

/** What the verify phase hands the report: the written image's digests check, and the restore proof. */
interface Verification {
  verified: SnapshotReport['verified'];
  restoreCheck: RestoreCheck | null;
}

/**
 * --verify: the written image read back against the data phase's digests, then (upper and diff modes) the restore
 * proof, the image over the lower layers against the live view; a file taken from the base that differs fails
 * the run. Progress: the bytes read back, then the entries compared.
 */
async function verifyOutput(a: {
  addon: Addon;
  builder: ImageBuilder;
  plan: CapturePlan;
  output: OutputFile;
  opts: ResolvedOptions;
  matched: string[];
  base: SnapshotReport['base'];
  cancel: Int32Array;
  signal?: AbortSignal;
  clock: PhaseClock;
  onProgress: (p: { verifyBytes: number; verifyBytesTotal: number; restoreEntries?: number }) => void;
}): Promise<Verification> {
  const last = { done: 0, total: 0 };
  const progressOf = (done: number, total: number) => {
    Object.assign(last, { done, total });
    a.onProgress({ verifyBytes: done, verifyBytesTotal: total });
  };
  progressOf(0, 0);
  const digests = await verifyWritten(a.builder, a.output.tempPath, a.opts.jobs, progressOf);
  if (a.signal?.aborted) throw toCasperError({ code: 'ECANCELED' });
  const verified = { ...digests, ms: Math.round(a.clock.sinceLast()) };
  const restoreCheck = await proveRestore({
    addon: a.addon,
    plan: a.plan,
    image: a.output.tempPath,
    skip: restoreSkips(a.plan, a.output, a.matched),
    ignore: restoreIgnores(a.opts),
    cancel: a.cancel,
    onProgress: (n) => a.onProgress({ verifyBytes: last.done, verifyBytesTotal: last.total, restoreEntries: n }),
  });
  if (a.signal?.aborted) throw toCasperError({ code: 'ECANCELED' });
  failOnBaseDifferences(a.builder, restoreCheck, a.base);
  a.clock.end('verify');
  return { verified, restoreCheck };
}

/** The report of a committed snapshot: what was captured, how, the image's figures and every warning. */
function reportOf(
  r: {
    opts: ResolvedOptions;
    plan: CapturePlan;
    medium: MediumWrite | null | undefined;
    mediumWarnings: string[];
    info: TreeInfo;
    image: NativeSummary;
    base: SnapshotReport['base'];
    spaceWarnings: string[];
    existing: ExistingOutput;
    clock: PhaseClock;
    pipeline: PipelineStats;
    walkStats: WalkStats;
  } & Verification,
): SnapshotReport {
  const { opts, plan, medium, info, image, base, restoreCheck } = r;
  return {
    output: opts.output,
    source: plan.walkRoot,
    mode: plan.mode,
    layout: plan.layout,
    lowerStack: plan.lowerStack,
    cumulative: plan.cumulative,
    remountedMedium: medium?.mountPoint ?? null,
    policy: plan.policy.describe(),
    notes: [...plan.notes, ...noteOf(info)],
    options: opts,
    image,
    sourceEntries: info.entries,
    sourceBytes: info.bytes + (base?.used ? base.bytes : 0),
    warnings: [
      ...r.spaceWarnings,
      ...warningsOf(info, image),
      ...baseWarnings(base, image),
      ...(restoreCheck ? restoreWarnings(restoreCheck) : []),
      ...r.mediumWarnings,
    ],
    replaced: r.existing,
    times: r.clock.times,
    pipeline: r.pipeline,
    walk: r.walkStats,
    verified: r.verified,
    base: base && {
      ...base,
      rejected: base.rejected + image.baseDamaged.length,
      rejectedPaths: [...base.rejectedPaths, ...image.baseDamaged].slice(0, 20),
    },
    restoreCheck,
  };
}

/** snapshot() with internals substituted (tests import this from this module; the package does not export it). */
export async function snapshotWith(options: RunOptions, internals: Internals): Promise<SnapshotReport> {
  const addon = loadAddon(options.nativeBinding);
  const opts = resolveOptions(options, addon);
  const nice = threadNice(options.threadNice);
  const source = checkSource(opts.source);
  const existing = checkOutputTarget(opts.output, options.force === true);
  const baseImage = baseOf(opts, existing);
  if (options.signal?.aborted) throw toCasperError({ code: 'ECANCELED' });

  const clock = new PhaseClock();
  const cancel = new Int32Array(new SharedArrayBuffer(4));
  const mediumWarnings: string[] = [];
  // The output on the live medium, mounted read-only: that mount is made writable for the save, and only it.
  const medium = MediumWrite.open(dirname(resolve(opts.output)), mediumWarnings);
  const { output, plan } = await openOutputAndPlan(options, opts, addon, source, medium, internals);
  // The pool is made only when the data phase needs it (small jobs run on libuv's pool instead).
  let made: { pool: Piscina; owned: boolean } | undefined;
  const pool = async () =>
    (made ??= await createPool({
      jobs: opts.jobs,
      pool: options.pool,
      workerFilename: options.workerFilename,
      nativeBinding: typeof options.nativeBinding === 'string' ? options.nativeBinding : undefined,
    })).pool;
  const emit: Emit = (p) => options.onProgress?.({ rate: 0, bytesTotal: 0, ...p });
  const onAbort = () => Atomics.store(cancel, 0, 1);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const untrack = trackCancel(cancel);
  let built: ImageBuilder | undefined;
  try {
    const builder = (built = new addon.ImageBuilder(opts.image, cancel));
    const openedBase = openBase(builder, baseImage);
    emit({ phase: 'walk', entriesDone: 0, entriesTotal: 0, bytesIn: 0, bytesOut: 0 });
    const onFound =
      options.onProgress &&
      ((entries: number, bytes: number) =>
        emit({ phase: 'walk', entriesDone: entries, entriesTotal: 0, bytesTotal: bytes, bytesIn: 0, bytesOut: 0 }));
    const spaceWarnings: string[] = [];
    /** After the walk: the tree's figures, the base, the excludes that met nothing, the space check. */
    const afterWalk = async (hits: number[]) => {
      const base = await useBase(builder, openedBase, opts, spaceWarnings);
      const info = builder.treeInfo();
      spaceWarnings.push(...unmatchedExcludes(plan.policy, info.excluded, hits));
      if (!options.noSpaceCheck) checkSpace(opts.output, info.allocatedBytes, spaceWarnings);
      return { base, info };
    };
    let dataBytes = 0;
    let totals = { entriesTotal: 0, bytesTotal: 0 };
    let lastData: Parameters<Emit>[0] | undefined;
    const runData = (shares: DataShares, totalsNow: () => typeof totals & { walking?: boolean }) =>
      runDataPipeline({
        builder,
        ...shares,
        spec: opts.image,
        mem: opts.mem,
        nice,
        cancel,
        signal: options.signal,
        threadCpuMs: () => addon.threadCpuMs(),
        onProgress: (p) => {
          dataBytes = p.bytesOut;
          lastData = {
            phase: 'data',
            ...totalsNow(),
            ...p,
            rate: p.bytesIn / Math.max(clock.sinceLast() / 1000, 1e-3),
          };
          emit(lastData);
        },
      });
    // Starting worker threads (tens of ms each, see runsInline) can cost more than the work itself.
    const shares = async (bytes: number, uvThreads: number): Promise<DataShares> =>
      !options.pool && runsInline(bytes, opts.jobs, uvThreads)
        ? // On libuv's pool, one of its threads stays free for the rest of the process.
          { runner: inlineRunner(addon), jobs: Math.max(1, Math.min(opts.jobs, uvThreads - 1)) }
        : { runner: poolRunner(await pool()), jobs: opts.jobs };
    let matched: string[] = [];
    let after: Awaited<ReturnType<typeof afterWalk>>;
    let pipeline: PipelineStats;
    let walkStats: WalkStats;
    if (walksBesideData(plan, openedBase, internals)) {
      // Progress is the data phase's from the start, its totals what the walk has found so far.
      const found = new BigUint64Array(2);
      const walking = builder.walk(plan.walkRoot, { ...plan.walk, excludeInodes: output.inodes() }, found, true);
      let walked = false;
      clock.end('walk'); // what comes before the data phase; the walk itself goes on beside it
      {
        const r = await walkBesideData({
          builder,
          walking,
          bytesFound: () => Number(found[1]),
          outputFd: output.fd,
          // The walk holds one of libuv's threads while it lasts.
          sharesKnown: options.pool !== undefined || opts.jobs < UV_POOL_THREADS - 1,
          smallJob: SMALL_JOB,
          chooseShares: (ended) =>
            shares(ended ? Number(found[1]) : Number.POSITIVE_INFINITY, UV_POOL_THREADS - (ended ? 0 : 1)),
          runData: (sh) =>
            runData(sh, () =>
              walked
                ? { ...totals, walking: false }
                : { entriesTotal: Number(found[0]), bytesTotal: Number(found[1]), walking: true },
            ),
          afterWalk: async () => {
            const a = await afterWalk(plan.policy.patterns.map(() => 0));
            totals = { entriesTotal: a.info.entries, bytesTotal: a.info.bytes };
            walked = true;
            return a;
          },
          cancel,
        });
        after = r.afterWalk;
        pipeline = r.pipeline;
        walkStats = { besideData: true, ...r.walk };
        // The data phase may end before the walk's own end is seen here: its last line then gets the final totals.
        if (lastData?.walking) emit({ ...lastData, ...totals, walking: false });
      }
    } else {
      const t0 = performance.now();
      const w = await walk(builder, plan, output, internals.dropAfterWalk ?? [], onFound);
      walkStats = { besideData: false, wallMs: performance.now() - t0, cpuMs: w.cpuMs };
      matched = w.matched;
      after = await afterWalk(w.hits);
      clock.end('walk');
      builder.begin(output.fd);
      totals = { entriesTotal: after.info.entries, bytesTotal: after.info.bytes };
      pipeline = await runData(await shares(after.info.bytes, UV_POOL_THREADS), () => totals);
    }
    const { base, info } = after;
    clock.end('data');
    emit({ phase: 'tables', ...totals, entriesDone: info.entries, bytesIn: info.bytes, bytesOut: dataBytes });
    const image = await builder.finish(opts.jobs);
    builder.closeBase(); // a base on a stick must not stay open until the builder is collected
    if (options.signal?.aborted) throw toCasperError({ code: 'ECANCELED' });
    clock.end('tables');
    internals.afterTables?.(output.tempPath);
    const { verified, restoreCheck } = opts.verify
      ? await verifyOutput({
          addon,
          builder,
          plan,
          output,
          opts,
          matched,
          base,
          cancel,
          signal: options.signal,
          clock,
          onProgress: (v) =>
            emit({
              phase: 'verify',
              ...totals,
              entriesDone: info.entries,
              bytesIn: info.bytes,
              bytesOut: image.bytesUsed,
              ...v,
            }),
        })
      : { verified: null, restoreCheck: null };
    emit({ phase: 'commit', ...totals, entriesDone: info.entries, bytesIn: info.bytes, bytesOut: image.bytesUsed });
    await output.commit(() => medium?.keepReplaced(resolve(opts.output)));
    const listed = plan.layout ? keepModuleListing(plan.layout, resolve(opts.output)) : null;
    if (listed) plan.notes.push(listed);
    medium?.close();
    clock.end('commit');
    emit({ phase: 'done', ...totals, entriesDone: info.entries, bytesIn: info.bytes, bytesOut: image.imageSize });
    return reportOf({
      opts,
      plan,
      medium,
      mediumWarnings,
      info,
      image,
      base,
      spaceWarnings,
      existing,
      clock,
      pipeline,
      walkStats,
      verified,
      restoreCheck,
    });
  } catch (err) {
    output.discard();
    throw err instanceof CasperError ? err : toCasperError(err);
  } finally {
    built?.closeBase();
    untrack();
    await plan.cleanup();
    // After the commit or the discard: the medium goes read-only again (its failure is a warning in the report).
    medium?.close();
    options.signal?.removeEventListener('abort', onAbort);
    if (made?.owned) await made.pool.destroy();
  }
}

/** Milliseconds per phase, each from the end of the one before. */
class PhaseClock {
  readonly times = { walk: 0, data: 0, tables: 0, verify: 0, commit: 0, total: 0 };
  private readonly start = performance.now();
  private last = this.start;
  sinceLast(): number {
    return performance.now() - this.last;
  }
  end(phase: 'walk' | 'data' | 'tables' | 'verify' | 'commit'): void {
    const now = performance.now();
    this.times[phase] = now - this.last;
    this.times.total = now - this.start;
    this.last = now;
  }
}
