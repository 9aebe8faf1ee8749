// A piscina worker: calls the addon synchronously (an AsyncWorker here would serialise on libuv's shared
// pool) and moves result buffers back instead of copying them. Errors come back as plain data, because
// structured cloning drops an Error's code/path/syscall.
import { Piscina } from 'piscina';
import { workerData } from 'node:worker_threads';
import { loadAddon, type CompressorSpec } from '../native/addon.js';

export type WorkerTask =
  | { kind: 'read'; task: ArrayBuffer; spec: CompressorSpec; cancel?: Int32Array }
  | { kind: 'fragment'; raw: ArrayBuffer; spec: CompressorSpec };

export interface WorkerFailure {
  error: { message: string; code: string; path?: string; syscall?: string };
}

const addon = loadAddon((workerData as { nativeBinding?: string } | undefined)?.nativeBinding);

export default function run(t: WorkerTask): unknown {
  try {
    if (t.kind === 'read') return Piscina.move(addon.readAndCompress(t.task, t.spec, t.cancel));
    return Piscina.move(addon.compressFragment(t.raw, t.spec));
  } catch (err) {
    const e = err as { message?: string; code?: string; path?: string; syscall?: string };
    const failure: WorkerFailure = {
      error: { message: e.message ?? String(err), code: e.code ?? 'EINTERNAL', path: e.path, syscall: e.syscall },
    };
    return failure;
  }
}
