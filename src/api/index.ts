// casper-snapshot's library API.
export { snapshot } from './snapshot.js';
export type { RunOptions, SnapshotReport, Progress, Phase } from './snapshot.js';
export type { SnapshotOptions, ResolvedOptions } from './options.js';
export { parseSize } from './options.js';
export { CasperError, UsageError, AbortError } from '../errors.js';
export { loadAddon } from '../native/addon.js';
export { defaultWorkerFilename } from '../pipeline/pool.js';
