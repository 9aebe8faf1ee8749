// The walk overlapped with the data phase: the native walker publishes each directory's files as it finishes
// them (native/traverse/plan_feed.h) and the data engine plans and compresses them meanwhile. The plan is the
// one the finished tree would give (the planner waits for files rather than cut a task short), so the image
// is byte-identical to a walk-first run for any number of jobs.
//
// This file owns the concurrency: both sides are always awaited (a thread still writing could otherwise write
// to a descriptor the caller has closed), a failure on one side stops the other, and the error reported is
// the cause, never the cancellation it led to.
import { AbortError, CasperError, toCasperError } from '../errors.js';
import type { ImageBuilder } from '../native/addon.js';
import type { PipelineStats, TaskRunner } from './data-pipeline.js';

/** How the data phase runs: on which runner, with how many shares. */
export interface DataShares {
  runner: TaskRunner;
  jobs: number;
}

export interface WalkBesideDataOptions<W> {
  builder: ImageBuilder;
  /** The overlapped walk, already started (builder.walk(…, true)). */
  walking: Promise<{ cpuMs: number }>;
  /** Regular file bytes the walk has found so far (its progress array). */
  bytesFound: () => number;
  /** The output's descriptor, for builder.begin(). */
  outputFd: number;
  /** Chooses the runner once the walk has ended or found more than `smallJob` bytes (walked: whether it has ended). */
  chooseShares: (walked: boolean) => Promise<DataShares>;
  /** Whether the runner can be chosen at once (without waiting to see how big the job is). */
  sharesKnown: boolean;
  smallJob: number;
  /** Runs the data phase on those shares. */
  runData: (shares: DataShares) => Promise<PipelineStats>;
  /** What must follow the walk (its report, the space check): runs while the data phase goes on; a throw stops it. */
  afterWalk: () => Promise<W>;
  cancel: Int32Array;
}

export interface WalkBesideDataResult<W> {
  afterWalk: W;
  pipeline: PipelineStats;
  /** The walk's own wall and thread CPU time, from its start (both inside the data phase's). */
  walk: { wallMs: number; cpuMs: number };
}

/** How often the runner choice looks at the bytes found, while it waits. */
const CHOICE_POLL_MS = 5;

const cancelled = (err: unknown) =>
  err instanceof AbortError || (err instanceof CasperError && err.code === 'ECANCELED');

export async function walkBesideData<W>(o: WalkBesideDataOptions<W>): Promise<WalkBesideDataResult<W>> {
  const t0 = performance.now();
  let walkEnded = false;
  let walkMs = 0;
  const walked = o.walking.then(
    (w) => {
      walkEnded = true;
      walkMs = performance.now() - t0;
      return w;
    },
    (err: unknown) => {
      walkEnded = true;
      throw err;
    },
  );
  walked.catch(() => {}); // awaited below, whatever happens first
  const stop = () => {
    Atomics.store(o.cancel, 0, 1); // the walker and the engine's threads stop at their next step
    o.builder.wakeData();
  };

  let dataRun: Promise<PipelineStats>;
  try {
    o.builder.begin(o.outputFd);
    if (!o.sharesKnown) await untilBigOrWalked(walked, o.bytesFound, o.smallJob);
    const shares = await o.chooseShares(walkEnded);
    dataRun = o.runData(shares);
  } catch (err) {
    stop();
    await walked.catch(() => {});
    throw toCasperError(err);
  }
  dataRun.catch(() => {});

  let walkErr: unknown;
  let afterWalk: W | undefined;
  let cpuMs = 0;
  try {
    cpuMs = (await walked).cpuMs;
    afterWalk = await o.afterWalk();
  } catch (err) {
    walkErr = err;
    stop();
  }
  let dataErr: unknown;
  let pipeline: PipelineStats | undefined;
  try {
    pipeline = await dataRun;
  } catch (err) {
    dataErr = err;
  }
  // The cause, not the cancellation it led to: a read error stops the walk (ECANCELED there), a walk error or a
  // failed space check stops the data phase. An abort stops both: the data phase's AbortError is reported, as
  // when the walk comes first.
  if (walkErr !== undefined && !(cancelled(walkErr) && dataErr !== undefined)) throw toCasperError(walkErr);
  if (dataErr !== undefined) throw toCasperError(dataErr);
  return { afterWalk: afterWalk as W, pipeline: pipeline as PipelineStats, walk: { wallMs: walkMs, cpuMs } };
}

/** Resolves once the walk has ended (either way) or found more than `bytes` of file data. */
function untilBigOrWalked(walked: Promise<unknown>, found: () => number, bytes: number): Promise<void> {
  return new Promise((resolveWait) => {
    const timer = setInterval(() => {
      if (found() > bytes) done();
    }, CHOICE_POLL_MS);
    const done = () => {
      clearInterval(timer);
      resolveWait();
    };
    walked.then(done, done);
  });
}
