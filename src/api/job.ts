// The lower-level handle: a running snapshot as an EventEmitter ('progress', 'done', 'error') with abort().
import { EventEmitter } from 'node:events';
import { snapshot, type Progress, type RunOptions, type SnapshotReport } from './snapshot.js';

export interface SnapshotJobEvents {
  progress: [Progress];
  done: [SnapshotReport];
  error: [Error];
}

export class SnapshotJob extends EventEmitter<SnapshotJobEvents> {
  /** Settles like snapshot(): the report, or the error. */
  readonly done: Promise<SnapshotReport>;
  private readonly controller = new AbortController();

  constructor(options: RunOptions) {
    super();
    const signal = options.signal ? AbortSignal.any([options.signal, this.controller.signal]) : this.controller.signal;
    this.done = snapshot({
      ...options,
      signal,
      onProgress: (p) => {
        options.onProgress?.(p);
        this.emit('progress', p);
      },
    });
    this.done.then(
      (r) => this.emit('done', r),
      (e: Error) => {
        if (this.listenerCount('error') > 0) this.emit('error', e);
      },
    );
  }

  /** Stops the job cooperatively: the temporary file is removed and `done` rejects with an AbortError. */
  abort(): void {
    this.controller.abort();
  }
}

/** Starts a snapshot and returns its handle at once. */
export function startSnapshot(options: RunOptions): SnapshotJob {
  return new SnapshotJob(options);
}
