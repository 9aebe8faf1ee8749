// The worker pool: piscina threads kept alive for the whole job, one per job slot.
import type { Piscina } from 'piscina';
import { join } from 'node:path';
import { addonPath, packageRoot, runtime } from '../native/addon.js';

export interface PoolOptions {
  jobs: number;
  /** An embedding app's own pool (its worker must be casper-snapshot's worker file). */
  pool?: Piscina;
  /** Path of the worker script, for apps that bundle or unpack it elsewhere. */
  workerFilename?: string;
  /** Addon path handed to the workers (they cannot share a loaded module object). */
  nativeBinding?: string;
}

/** The worker script of the ESM build (the CommonJS bundle's pool uses it too: piscina imports it). */
export const defaultWorkerFilename = join(packageRoot, 'dist', 'src', 'pipeline', 'worker.js');

/** piscina is loaded only here, when a job needs workers: a small job never pays for loading it. */
export async function createPool(o: PoolOptions): Promise<{ pool: Piscina; owned: boolean }> {
  if (o.pool) return { pool: o.pool, owned: false };
  const { Piscina } = await import('piscina');
  // minThreads 0: no worker starts here; piscina starts one per share of the data phase when the pipeline
  // hands them over (up to maxThreads), so a run that fails or stops before its data phase starts none.
  const pool = new Piscina({
    filename: o.workerFilename ?? runtime.workerFilename ?? defaultWorkerFilename,
    minThreads: 0,
    maxThreads: o.jobs,
    idleTimeout: 5000,
    workerData: { nativeBinding: o.nativeBinding ?? addonPath() },
  });
  return { pool, owned: true };
}
