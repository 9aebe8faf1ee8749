// The data phase: read tasks go to the pool in plan order, results come back in any order and are fed to
// the native writer strictly by sequence number, so the image is byte-identical for any number of jobs.
// Fragment blocks are compressed in the pool too; fragment k, closed while task s was written, is written
// just before the first file-starting task at or after s + FRAGMENT_LAG: a position that depends only on
// the plan, never on timing.
import type { Piscina } from 'piscina';
import type { Addon, CompressorSpec, ImageBuilder } from '../native/addon.js';
import { toCasperError, AbortError, CasperError } from '../errors.js';
import type { WorkerFailure, WorkerTask } from './worker.js';

/** Tasks between a fragment block's closing and its place in the image. A constant: part of the format. */
export const FRAGMENT_LAG = 32;

export interface DataProgress {
  bytesIn: number;
  bytesOut: number;
}

/** Runs read and fragment tasks: the piscina pool, or (small jobs) the addon on libuv's pool. */
export interface TaskRunner {
  run(task: WorkerTask, transfer: ArrayBuffer): Promise<unknown>;
  /** Starting a runner's thread blocks the event loop for a while: how many it has started so far. */
  threads(): number;
}

export function poolRunner(pool: Piscina): TaskRunner {
  return { run: (t, transfer) => pool.run(t, { transferList: [transfer] }), threads: () => pool.threads.length };
}

export function inlineRunner(addon: Addon): TaskRunner {
  return {
    run: (t) => (t.kind === 'read' ? addon.readAndCompressAsync(t.task, t.spec, t.cancel) : addon.compressFragmentAsync(t.raw, t.spec)),
    threads: () => 0,
  };
}

export interface DataPipelineOptions {
  builder: ImageBuilder;
  runner: TaskRunner;
  spec: CompressorSpec;
  jobs: number;
  mem: number;
  cancel: Int32Array;
  signal?: AbortSignal;
  onProgress?: (p: DataProgress) => void;
}

interface PendingFragment {
  index: number;
  due: number;
  result?: ArrayBuffer;
}

function isFailure(r: unknown): r is WorkerFailure {
  return typeof r === 'object' && r !== null && 'error' in r && !(r instanceof ArrayBuffer);
}

/** Where the main thread spent the data phase, for --debug and the JSON report. */
export interface PipelineStats {
  tasks: number;
  fragments: number;
  /** Milliseconds the main thread waited for workers. */
  waitMs: number;
  /** Milliseconds spent writing results (native, off the event loop). */
  writeMs: number;
}

export async function runDataPipeline(o: DataPipelineOptions): Promise<PipelineStats> {
  const { builder, runner, spec } = o;
  // About 2 MiB per task; two tasks in flight per worker keep it busy. A short queue also lets a fragment
  // block's compression start soon after it is closed, well before its place comes FRAGMENT_LAG tasks later,
  // so the raw and compressed fragment blocks held meanwhile stay few (they were most of the memory).
  const taskBytes = Math.max(spec.blockSize, 2 * 1024 * 1024);
  const window = Math.max(2, Math.min(2 * o.jobs, FRAGMENT_LAG, Math.floor(o.mem / (2 * taskBytes))));

  const results = new Map<number, ArrayBuffer>();
  const startsFile: boolean[] = [];
  const taskInput: number[] = [];
  const fragments: PendingFragment[] = [];
  let submitted = 0;
  let written = 0;
  let planned = false;
  let failure: CasperError | undefined;
  const stats: PipelineStats = { tasks: 0, fragments: 0, waitMs: 0, writeMs: 0 };
  let bytesIn = 0;
  let bytesOut = 0;
  let wake: (() => void) | undefined;
  let woken = false;
  const notify = () => {
    woken = true;
    wake?.();
  };
  const fail = (err: unknown) => {
    failure ??= toCasperError(err);
    notify();
  };
  const onAbort = () => {
    Atomics.store(o.cancel, 0, 1);
    fail(new AbortError());
  };
  if (o.signal?.aborted) throw new AbortError();
  o.signal?.addEventListener('abort', onAbort, { once: true });

  const submitFragment = (index: number, raw: ArrayBuffer, due: number) => {
    const f: PendingFragment = { index, due };
    stats.fragments++;
    fragments.push(f);
    const t: WorkerTask = { kind: 'fragment', raw, spec };
    runner.run(t, raw).then((r: unknown) => {
      if (isFailure(r)) return fail(r.error);
      f.result = r as ArrayBuffer;
      notify();
    }, fail);
  };
  const writeFragment = async (f: PendingFragment) => {
    const buf = f.result!;
    const word = new DataView(buf).getUint32(0, true);
    await builder.writeFragment(f.index, word, new Uint8Array(buf, 4));
    bytesOut += buf.byteLength - 4;
  };

  try {
    for (;;) {
      if (failure) throw failure;
      while (!planned && submitted - written < window) {
        const next = builder.nextTask(taskBytes);
        if (!next) {
          planned = true;
          break;
        }
        const seq = submitted++;
        startsFile[seq] = next.startsFile;
        taskInput[seq] = next.bytes;
        const t: WorkerTask = { kind: 'read', task: next.task, spec, cancel: o.cancel };
        const before = runner.threads();
        runner.run(t, next.task).then((r: unknown) => {
          if (isFailure(r)) return fail(r.error);
          results.set(seq, r as ArrayBuffer);
          notify();
        }, fail);
        // That run started a worker thread (a blocking step): let the event loop breathe before the next.
        if (runner.threads() > before) await new Promise((r) => setImmediate(r));
      }
      // Write everything that is next in order.
      let blocked = false;
      while (!blocked && results.has(written)) {
        if (startsFile[written]) {
          while (fragments.length > 0 && fragments[0].due <= written) {
            if (!fragments[0].result) {
              blocked = true;
              break;
            }
            await writeFragment(fragments.shift()!);
          }
          if (blocked) break;
        }
        const r = results.get(written)!;
        results.delete(written);
        const ta = performance.now();
        const closed = await builder.addResult(r);
        stats.writeMs += performance.now() - ta;
        bytesIn += taskInput[written];
        bytesOut += r.byteLength;
        for (const c of closed) submitFragment(c.index, c.raw, written + FRAGMENT_LAG);
        written++;
        o.onProgress?.({ bytesIn, bytesOut });
      }
      if (planned && written === submitted) break;
      if (!planned && submitted - written < window) continue;  // room for more tasks: plan before waiting
      const tw = performance.now();
      if (!woken) await new Promise<void>((r) => (wake = r));
      stats.waitMs += performance.now() - tw;
      woken = false;
      wake = undefined;
    }
    // The last, partly filled fragment block, then every fragment still waiting, in order.
    builder.closeOpenFragment();
    for (const c of builder.takeClosedFragments()) submitFragment(c.index, c.raw, written);
    while (fragments.length > 0) {
      if (failure) throw failure;
      if (fragments[0].result) {
        await writeFragment(fragments.shift()!);
        continue;
      }
      if (!woken) await new Promise<void>((r) => (wake = r));
      woken = false;
      wake = undefined;
    }
    if (failure) throw failure;
    stats.tasks = submitted;
    return stats;
  } catch (err) {
    Atomics.store(o.cancel, 0, 1);  // stop workers still reading for this job
    throw toCasperError(err);
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
  }
}
