// Settings from /etc/casper.conf and their precedence against the command line.
export { parseCasperConf, loadCasperConf, ConfigError, CONFIG_KEYS, DEFAULT_CONFIG_FILE, type SnapshotConfig, type ConfigResult } from './casper-conf.js';
export { mergeSettings, type SettingSource } from './precedence.js';
export { parseAssignment, type AssignResult } from './shell-assign.js';
