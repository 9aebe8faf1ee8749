// The data phase, from JavaScript's side: a dispatcher. It takes read tasks from the native plan, runs them in
// the pool, and hands every result and compressed fragment block to the native writer as it comes back, in
// whatever order. The writer (native/image/ordered_writer.h) owns ordering and fragment placement, so the
// image is byte-identical for any number of jobs; this file only keeps the pool busy and memory bounded.
import type { Piscina } from 'piscina';
import type { Addon, CompressorSpec, DataStep, ImageBuilder } from '../native/addon.js';
import { toCasperError, AbortError, CasperError } from '../errors.js';
import type { WorkerFailure, WorkerTask } from './worker.js';

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

/** libuv's pool has more threads than `jobs` may use (and runs the writer's steps too): at most `jobs` tasks at once. */
export function inlineRunner(addon: Addon, jobs: number): TaskRunner {
  let running = 0;
  const waiting: (() => void)[] = [];
  const slot = () =>
    running < jobs ? (running++, Promise.resolve()) : new Promise<void>((r) => waiting.push(() => (running++, r())));
  const release = () => {
    running--;
    waiting.shift()?.();
  };
  return {
    run: async (t) => {
      await slot();
      try {
        return await (t.kind === 'read' ? addon.readAndCompressAsync(t.task, t.spec, t.cancel) : addon.compressFragmentAsync(t.raw, t.spec));
      } finally {
        release();
      }
    },
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
  /** The calling thread's CPU clock in ms (the addon's threadCpuMs), for the main thread's share. */
  threadCpuMs?: () => number;
}

/** Where the main thread spent the data phase, for --debug and the JSON report. */
export interface PipelineStats {
  tasks: number;
  fragments: number;
  /** Milliseconds the main thread waited for workers and the writer. */
  waitMs: number;
  /** CPU ms of the whole process (every thread) during the data phase (process.cpuUsage). */
  cpuMs: number;
  /** CPU ms of the main thread during the data phase (its own thread clock; null without one). */
  mainCpuMs: number | null;
  /** CPU ms of the threads holding the native writer's lock, and the wall ms it was held (the writer's serial part). */
  writerCpuMs: number;
  writerHeldMs: number;
}

function isFailure(r: unknown): r is WorkerFailure {
  return typeof r === 'object' && r !== null && 'error' in r && !(r instanceof ArrayBuffer);
}

// Long: the dispatch state (window, counters, wake-up) is shared by the callbacks defined inside; split,
// it would need a class for no gain in clarity.
export async function runDataPipeline(o: DataPipelineOptions): Promise<PipelineStats> {
  const { builder, runner, spec } = o;
  // About 2 MiB per task; two tasks in flight per worker keep it busy, and a short queue lets a fragment
  // block's compression finish well before the writer needs it, so few blocks are held meanwhile.
  const taskBytes = Math.max(spec.blockSize, 2 * 1024 * 1024);
  const window = Math.max(2, Math.min(2 * o.jobs, 32, Math.floor(o.mem / (2 * taskBytes))));

  const stats: PipelineStats = { tasks: 0, fragments: 0, waitMs: 0, cpuMs: 0, mainCpuMs: null, writerCpuMs: 0, writerHeldMs: 0 };
  const cpu0 = process.cpuUsage();
  const main0 = o.threadCpuMs?.();
  const taskInput: number[] = [];
  let written = 0; // tasks the writer has put in the image
  let bytesIn = 0;
  let bytesOut = 0;
  let done = false;
  let failure: CasperError | undefined;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
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

  // Every chain of work still running (a pool task, then its writer step). A failure waits for them all
  // before returning: a writer step still running could otherwise write to an output descriptor the caller
  // has closed (and the process may have reused), and once failed no further step is started.
  const pending = new Set<Promise<unknown>>();
  const track = (p: Promise<unknown>) => {
    pending.add(p);
    void p.finally(() => pending.delete(p));
  };
  const step = (call: () => Promise<DataStep>) => {
    if (failure) return Promise.resolve();
    return call().then(onStep, fail);
  };

  // Every writer step reports the fragment blocks to compress next and how far it got.
  const onStep = (s: DataStep) => {
    for (const f of s.fragments) compressFragment(f.index, f.raw);
    for (; written < s.tasksWritten; written++) bytesIn += taskInput[written];
    done ||= s.done;
    stats.writerCpuMs = Math.max(stats.writerCpuMs, s.writerCpuMs ?? 0); // steps settle in any order: totals only grow
    stats.writerHeldMs = Math.max(stats.writerHeldMs, s.writerHeldMs ?? 0);
    o.onProgress?.({ bytesIn, bytesOut });
    notify();
  };
  const compressFragment = (index: number, raw: ArrayBuffer) => {
    stats.fragments++;
    track(
      runner.run({ kind: 'fragment', raw, spec }, raw).then((r) => {
        if (isFailure(r)) return fail(r.error);
        bytesOut += (r as ArrayBuffer).byteLength - 4;
        return step(() => builder.addFragment(index, r as ArrayBuffer));
      }, fail),
    );
  };
  const readTask = (task: ArrayBuffer) =>
    track(
      runner.run({ kind: 'read', task, spec, cancel: o.cancel }, task).then((r) => {
        if (isFailure(r)) return fail(r.error);
        bytesOut += (r as ArrayBuffer).byteLength;
        return step(() => builder.addResult(r as ArrayBuffer));
      }, fail),
    );

  try {
    let planned = false;
    while (!done) {
      if (failure) throw failure;
      while (!planned && stats.tasks - written < window) {
        const next = builder.nextTask(taskBytes);
        if (!next) {
          planned = true;
          track(step(() => builder.endData()));
          break;
        }
        taskInput[stats.tasks++] = next.bytes;
        const before = runner.threads();
        readTask(next.task);
        // That run started a worker thread (a blocking step): let the event loop breathe before the next.
        if (runner.threads() > before) await new Promise((r) => setImmediate(r));
      }
      if (done || failure) continue;
      const tw = performance.now();
      await new Promise<void>((r) => (wake = r));
      stats.waitMs += performance.now() - tw;
    }
    const cpu = process.cpuUsage(cpu0);
    stats.cpuMs = (cpu.user + cpu.system) / 1000;
    if (main0 !== undefined && o.threadCpuMs) stats.mainCpuMs = o.threadCpuMs() - main0;
    return stats;
  } catch (err) {
    Atomics.store(o.cancel, 0, 1); // stop workers still reading for this job
    failure ??= toCasperError(err);
    while (pending.size > 0) await Promise.allSettled([...pending]);
    throw failure;
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
  }
}
