// A piscina worker: runs its share of the data phase (native/image/data_engine.h) by calling the addon
// synchronously (an AsyncWorker here would serialise on libuv's shared pool). The worker keeps its
// compressor between jobs. Errors come back as plain data, because structured cloning drops an Error's
// code/path/syscall.
import { workerData } from 'node:worker_threads';
import { loadAddon, type CompressorSpec } from '../native/addon.js';

export interface WorkerTask {
  kind: 'data';
  /** The data engine's id (builder.startData()). */
  engine: number;
  spec: CompressorSpec;
}

export interface WorkerFailure {
  error: { message: string; code: string; path?: string; syscall?: string };
}

const addon = loadAddon((workerData as { nativeBinding?: string } | undefined)?.nativeBinding);

export default function run(t: WorkerTask): WorkerFailure | undefined {
  try {
    addon.runData(t.engine, t.spec);
    return undefined;
  } catch (err) {
    const e = err as { message?: string; code?: string; path?: string; syscall?: string };
    return {
      error: { message: e.message ?? String(err), code: e.code ?? 'EINTERNAL', path: e.path, syscall: e.syscall },
    };
  }
}
