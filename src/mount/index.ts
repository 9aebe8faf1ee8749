// Mount detection: mountinfo parsing, union options, and which live system built the root.
export {
  parseMountinfo,
  parseMountinfoLenient,
  parseMountinfoLine,
  unescapeOctal,
  MountinfoError,
  type MountInfo,
} from './mountinfo.js';
export {
  parseOverlayOptions,
  parseAufsOptions,
  splitLowerdir,
  unescapeOverlay,
  lowerdirOption,
  type OverlayOptions,
  type AufsOptions,
  type AufsBranch,
} from './overlay-options.js';
export {
  detectLiveSystem,
  findMount,
  type DetectOptions,
  type LiveLayout,
  type LiveKind,
  type LiveFamily,
  type CaptureMode,
  type UpperLayer,
  type LowerLayer,
} from './detect.js';
export { normalizePath, toImagePath } from './paths.js';
