// snapshot(): the whole job — validate, walk, compress across the pool, write tables, commit atomically.
import type { Piscina } from 'piscina';
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadAddon, type Addon, type NativeSummary } from '../native/addon.js';
import { resolveOptions, type ResolvedOptions, type SnapshotOptions } from './options.js';
import { createPool } from '../pipeline/pool.js';
import { runDataPipeline } from '../pipeline/data-pipeline.js';
import { OutputFile } from '../pipeline/output-file.js';
import { CasperError, UsageError, toCasperError } from '../errors.js';

export type Phase = 'walk' | 'data' | 'tables' | 'commit' | 'done';

export interface Progress {
  phase: Phase;
  entriesDone: number;
  entriesTotal: number;
  bytesIn: number;
  bytesOut: number;
  /** Input bytes per second since the data phase began. */
  rate: number;
}

export interface RunOptions extends SnapshotOptions {
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
  /** A caller's piscina pool whose filename is casper-snapshot's worker (see README, Embedding). */
  pool?: Piscina;
  workerFilename?: string;
  /** Path to the .node file, or the loaded addon (the workers then load the default path). */
  nativeBinding?: string | Addon;
}

export interface SnapshotReport {
  output: string;
  source: string;
  options: ResolvedOptions;
  image: NativeSummary;
  sourceEntries: number;
  sourceBytes: number;
  warnings: string[];
  times: { walk: number; data: number; tables: number; commit: number; total: number };
}

export async function snapshot(options: RunOptions): Promise<SnapshotReport> {
  const addon = loadAddon(options.nativeBinding);
  const opts = resolveOptions(options, addon);
  const source = resolve(opts.source);
  let st;
  try {
    st = statSync(source);
  } catch (err) {
    throw new UsageError(`source '${opts.source}' cannot be read: ${(err as Error).message}`);
  }
  if (!st.isDirectory()) throw new UsageError(`source '${opts.source}' is not a directory`);
  // A bad output argument is a usage error too, found before anything is written.
  let outSt;
  try {
    outSt = statSync(opts.output);
  } catch {
    outSt = undefined;
  }
  if (outSt?.isDirectory()) throw new UsageError(`output '${opts.output}' is a directory`);
  if (options.signal?.aborted) throw toCasperError({ code: 'ECANCELED' });

  const t0 = performance.now();
  const times = { walk: 0, data: 0, tables: 0, commit: 0, total: 0 };
  const cancel = new Int32Array(new SharedArrayBuffer(4));
  const out = new OutputFile(opts.output);
  const { pool, owned } = createPool({
    jobs: opts.jobs,
    pool: options.pool,
    workerFilename: options.workerFilename,
    nativeBinding: typeof options.nativeBinding === 'string' ? options.nativeBinding : undefined,
  });
  const emit = (p: Omit<Progress, 'rate'> & { rate?: number }) => options.onProgress?.({ rate: 0, ...p });
  const onAbort = () => Atomics.store(cancel, 0, 1);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const builder = new addon.ImageBuilder(opts.image, cancel);
    emit({ phase: 'walk', entriesDone: 0, entriesTotal: 0, bytesIn: 0, bytesOut: 0 });
    await builder.walk(source, {
      xattrs: opts.xattrs,
      oneFileSystem: opts.oneFileSystem,
      exclude: opts.exclude,
      emptyDirs: [],
      excludeInodes: out.inodes(),
    });
    const info = builder.treeInfo();
    const t1 = performance.now();
    times.walk = t1 - t0;
    builder.begin(out.fd);
    const dataStart = performance.now();
    await runDataPipeline({
      builder,
      pool,
      spec: opts.image,
      jobs: opts.jobs,
      mem: opts.mem,
      cancel,
      signal: options.signal,
      onProgress: (p) =>
        emit({
          phase: 'data',
          entriesDone: 0,
          entriesTotal: info.entries,
          bytesIn: p.bytesIn,
          bytesOut: p.bytesOut,
          rate: p.bytesIn / Math.max((performance.now() - dataStart) / 1000, 1e-3),
        }),
    });
    const t2 = performance.now();
    times.data = t2 - t1;
    emit({ phase: 'tables', entriesDone: 0, entriesTotal: info.entries, bytesIn: info.bytes, bytesOut: 0 });
    const image = await builder.finish();
    if (options.signal?.aborted) throw toCasperError({ code: 'ECANCELED' });
    const t3 = performance.now();
    times.tables = t3 - t2;
    emit({ phase: 'commit', entriesDone: info.entries, entriesTotal: info.entries, bytesIn: info.bytes, bytesOut: image.bytesUsed });
    out.commit();
    times.commit = performance.now() - t3;
    times.total = performance.now() - t0;
    const warnings = [...info.warnings];
    if (info.skippedSystemXattrs > 0)
      warnings.push(`${info.skippedSystemXattrs} xattr(s) outside the user, trusted and security namespaces (system.*, POSIX ACLs) cannot be stored in SquashFS and were skipped`);
    for (const f of image.changedFiles) warnings.push(`file changed as we read it: ${f}`);
    emit({ phase: 'done', entriesDone: info.entries, entriesTotal: info.entries, bytesIn: info.bytes, bytesOut: image.imageSize });
    return { output: opts.output, source, options: opts, image, sourceEntries: info.entries, sourceBytes: info.bytes, warnings, times };
  } catch (err) {
    out.discard();
    throw err instanceof CasperError ? err : toCasperError(err);
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    if (owned) await pool.destroy();
  }
}
