// casper-snapshot's library API.
export { snapshot } from './snapshot.js';
export { startSnapshot, SnapshotJob, type SnapshotJobEvents } from './job.js';
export { detectLiveSystem, type LiveLayout, type CaptureMode } from '../mount/index.js';
export { buildExclusionPolicy, type ExclusionPolicy, type PolicyInput } from '../policy/index.js';
export type { RunOptions, SnapshotReport, SnapshotPlan, Progress, Phase } from './snapshot.js';
export type { LowerStack } from './capture.js';
export type { RestoreCheck, RestoreDifference, RestoreDifferenceKind } from './restore-check.js';
export type { SnapshotOptions, ResolvedOptions, CompressorName } from './options.js';
export { parseSize } from './options.js';
export { CasperError, UsageError, AbortError, type CasperErrorCode, type Remedy } from '../errors.js';
export { loadAddon } from '../native/addon.js';
export { defaultWorkerFilename } from '../pipeline/pool.js';
export { verify, VERIFY_IGNORE_FIELDS } from './verify.js';
export type {
  VerifyOptions,
  VerifyReport,
  VerifyProblem,
  VerifyDifference,
  VerifyProgress,
  VerifyIgnoreField,
} from './verify.js';
export { remaster } from './remaster.js';
export type {
  RemasterOptions,
  RemasterRunOptions,
  RemasterReport,
  RemasterProgress,
  RemasterPhase,
  RemasterCaptureOptions,
  MediumChange,
} from './remaster.js';
export type { KernelCheck, MediumKernel, RootKernel } from '../remaster/kernel.js';
export type { MediumSource } from '../remaster/medium-source.js';
