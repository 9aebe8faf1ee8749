// verify(image, options): reads a whole SquashFS image back (every table, every data and fragment block) and
// optionally compares it with a directory tree. The work runs in the addon on libuv's pool, off the JS thread.
import { loadAddon, type Addon } from '../native/addon.js';
import { AbortError, UsageError, toCasperError } from '../errors.js';
import type {
  ImageCounts,
  ImageSuperblock,
  IntegrityCheck,
  VerifyDifference,
  VerifyProblem,
} from '../native/verify-report.js';

export type { VerifyDifference, VerifyProblem } from '../native/verify-report.js';

export const VERIFY_IGNORE_FIELDS = ['mode', 'owner', 'mtime', 'xattrs', 'content', 'links'] as const;
export type VerifyIgnoreField = (typeof VERIFY_IGNORE_FIELDS)[number];

export interface VerifyOptions {
  /** Also compare the image with this directory tree (content, mode, owner, mtime, xattrs, links, devices). */
  dir?: string;
  /** Threads for the data blocks (default: the machine's cores). */
  jobs?: number;
  /** Read and decompress every data and fragment block (default true); false checks the tables only. */
  data?: boolean;
  /** Comparison fields to leave out. */
  ignore?: VerifyIgnoreField[];
  signal?: AbortSignal;
  /** Called about every 200 ms while the check runs. */
  onProgress?: (p: VerifyProgress) => void;
  /** Path to the .node file, or the loaded addon (as snapshot()'s nativeBinding: an app that unpacks it from asar). */
  nativeBinding?: string | Addon;
}

export interface VerifyProgress {
  phase: 'tables' | 'data';
  inodes: number;
  dataBytes: number;
  dataBytesTotal: number;
}

export interface VerifyReport {
  image: string;
  dir: string | null;
  /** No problem in the image. */
  ok: boolean;
  /** With dir: no difference from the tree (null without dir). */
  identical: boolean | null;
  problems: VerifyProblem[];
  /** More than 100 problems were found; the rest are left out. */
  problemsTruncated: boolean;
  differences: VerifyDifference[];
  superblock: ImageSuperblock;
  counts: ImageCounts;
  /** The integrity record casper-snapshot writes after bytes_used ('valid', 'absent', 'broken') and what was checked against it. */
  integrity: IntegrityCheck;
  seconds: number;
}

/**
 * Checks the image as a reader would; with `dir`, compares it with that tree. A corrupt image resolves
 * with ok: false and its problems; the promise rejects only when the image cannot be read at all
 * (CasperError with the errno code), on bad options (UsageError) or when aborted (AbortError).
 */
export async function verify(image: string, options: VerifyOptions = {}): Promise<VerifyReport> {
  if (typeof image !== 'string' || image === '') throw new UsageError('verify needs an image path');
  for (const f of options.ignore ?? [])
    if (!(VERIFY_IGNORE_FIELDS as readonly string[]).includes(f))
      throw new UsageError(`unknown field '${f}' to ignore (known: ${VERIFY_IGNORE_FIELDS.join(', ')})`);
  if (options.jobs !== undefined && (!Number.isInteger(options.jobs) || options.jobs < 1))
    throw new UsageError('jobs must be a positive integer');
  if (options.signal?.aborted) throw new AbortError('verify aborted');
  const addon = loadAddon(options.nativeBinding);
  const cancel = new Int32Array(new SharedArrayBuffer(4));
  const progress = new BigUint64Array(4);
  const onAbort = () => Atomics.store(cancel, 0, 1);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const report = () =>
    options.onProgress?.({
      phase: progress[0] === 2n ? 'data' : 'tables',
      inodes: Number(progress[1]),
      dataBytes: Number(progress[2]),
      dataBytesTotal: Number(progress[3]),
    });
  const timer = options.onProgress ? setInterval(report, 200) : null;
  const start = process.hrtime.bigint();
  let r: Awaited<ReturnType<typeof addon.verifyImage>>;
  try {
    r = await addon.verifyImage(
      image,
      { dir: options.dir, jobs: options.jobs, data: options.data ?? true, ignore: options.ignore ?? [] },
      cancel,
      progress,
    );
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ECANCELED') throw new AbortError('verify aborted');
    throw toCasperError(err);
  } finally {
    if (timer) clearInterval(timer);
    options.signal?.removeEventListener('abort', onAbort);
  }
  if (options.onProgress) report();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return {
    image,
    dir: options.dir ?? null,
    ok: r.ok,
    identical: options.dir === undefined ? null : r.ok && r.differences.length === 0,
    problems: r.problems,
    problemsTruncated: r.problemsTruncated,
    differences: r.differences,
    superblock: r.image,
    counts: r.counts,
    integrity: r.integrity,
    seconds,
  };
}
