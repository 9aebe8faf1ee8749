// The data phase, from JavaScript's side: start the native data engine (native/image/data_engine.h) and
// have each of `jobs` pool threads run its share of it, then wait. The engine plans, reads, compresses and
// hands every result to the writer on those threads; the writer (native/image/ordered_writer.h) owns
// ordering and fragment placement, so the image is byte-identical for any number of jobs. No task or result
// passes through the event loop: the main thread only reports progress and cancels.
import type { Piscina } from 'piscina';
import type { Addon, CompressorSpec, ImageBuilder } from '../native/addon.js';
import { toCasperError, AbortError, type CasperError } from '../errors.js';
import type { WorkerFailure, WorkerTask } from './worker.js';

export interface DataProgress {
  bytesIn: number;
  /** Bytes of the data section written so far. */
  bytesOut: number;
  /** Entries whose data is written (the plan follows entry order). */
  entriesDone: number;
}

/**
 * Runs one thread's share of the data phase: in a piscina worker, or (jobs that start none) on libuv's pool.
 * Either way the promise rejects with the share's failure (a CasperError once here).
 */
export interface TaskRunner {
  run(task: WorkerTask): Promise<void>;
}

/** A piscina worker: its failure comes back as data (structured cloning drops an Error's fields) and is thrown here. */
export function poolRunner(pool: Piscina): TaskRunner {
  return {
    run: async (t) => {
      const r = (await pool.run(t)) as WorkerFailure | undefined;
      if (r) throw toCasperError(r.error);
    },
  };
}

/** libuv's pool: each share holds one of its threads for the whole phase (so jobs must stay below its size). */
export function inlineRunner(addon: Addon): TaskRunner {
  return { run: (t) => addon.runDataAsync(t.engine, t.spec) };
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
  /** How much lower than the caller's the pool threads' priority is during the data phase (0: unchanged). */
  nice: number;
  /** The calling thread's CPU clock in ms (the addon's threadCpuMs), for the main thread's share. */
  threadCpuMs?: () => number;
}

/** Where the data phase's time went, for --debug and the JSON report. */
export interface PipelineStats {
  tasks: number;
  fragments: number;
  /** Milliseconds the main thread waited for the pool's threads. */
  waitMs: number;
  /** CPU ms of the whole process (every thread) during the data phase (process.cpuUsage). */
  cpuMs: number;
  /** CPU ms of the main thread during the data phase (its own thread clock; null without one). */
  mainCpuMs: number | null;
  /** CPU ms of the threads holding the native writer's lock, and the wall ms it was held (the writer's serial part). */
  writerCpuMs: number;
  writerHeldMs: number;
}

/** How often the main thread reports progress meanwhile. */
const PROGRESS_MS = 100;

export async function runDataPipeline(o: DataPipelineOptions): Promise<PipelineStats> {
  const { builder, runner, spec } = o;
  // About 2 MiB per task; up to two tasks per thread planned and unwritten (a result that comes before its
  // turn is held by the writer), within --mem.
  const taskBytes = Math.max(spec.blockSize, 2 * 1024 * 1024);
  const window = Math.max(2, Math.min(2 * o.jobs, 32, Math.floor(o.mem / (2 * taskBytes))));
  if (o.signal?.aborted) throw new AbortError();

  const cpu0 = process.cpuUsage();
  const main0 = o.threadCpuMs?.();
  const t0 = performance.now();
  const engine = builder.startData(taskBytes, window, o.nice);
  let failure: CasperError | undefined;
  const stop = (err: CasperError) => {
    failure ??= err;
    Atomics.store(o.cancel, 0, 1); // the engine's threads stop at their next step
    builder.wakeData();
  };
  const onAbort = () => stop(new AbortError());
  o.signal?.addEventListener('abort', onAbort, { once: true });
  const report = () => {
    const p = builder.dataProgress();
    o.onProgress?.({ bytesIn: p.bytesIn, bytesOut: p.bytesOut, entriesDone: p.entriesDone });
    return p;
  };
  o.onProgress?.({ bytesIn: 0, bytesOut: 0, entriesDone: 0 }); // the data phase has begun (a small one may end before the first tick)
  const timer = o.onProgress ? setInterval(report, PROGRESS_MS) : undefined;
  try {
    const task: WorkerTask = { kind: 'data', engine, spec };
    // Every share is awaited, whatever happens to the others: a thread still writing could otherwise write
    // to an output descriptor the caller has closed (and the process may have reused).
    // A share's failure stops the others (the engine does so too, for one of its own).
    const shares = Array.from({ length: o.jobs }, () =>
      runner.run(task).catch((err: unknown) => stop(toCasperError(err))),
    );
    await Promise.all(shares);
  } finally {
    clearInterval(timer);
    o.signal?.removeEventListener('abort', onAbort);
    builder.endData();
  }
  if (failure) throw failure;
  const p = report();
  if (!p.done)
    throw toCasperError({
      code: 'EINTERNAL',
      message: 'internal: the data phase ended before every task and fragment block was written',
    });
  const cpu = process.cpuUsage(cpu0);
  return {
    tasks: p.tasks,
    fragments: p.fragments,
    waitMs: performance.now() - t0,
    cpuMs: (cpu.user + cpu.system) / 1000,
    mainCpuMs: main0 !== undefined && o.threadCpuMs ? o.threadCpuMs() - main0 : null,
    writerCpuMs: p.writerCpuMs,
    writerHeldMs: p.writerHeldMs,
  };
}
