// Settings from /etc/casper.conf (their precedence against the command line is applied in src/cli/main.ts).
export {
  parseCasperConf,
  loadCasperConf,
  ConfigError,
  CONFIG_KEYS,
  DEFAULT_CONFIG_FILE,
  type SnapshotConfig,
  type ConfigResult,
} from './casper-conf.js';
export { parseAssignment, type AssignResult } from './shell-assign.js';
