// Command line over config file over defaults, setting by setting, remembering where each came from.

export type SettingSource = 'cli' | 'config' | 'default' | 'config+cli';

/**
 * Merges three layers; `undefined` means "not given". Keys in `concat` (lists such as excludes) join
 * the config's entries and the command line's instead of replacing them.
 */
export function mergeSettings<T extends object>(
  defaults: T,
  config: Partial<T>,
  cli: Partial<T>,
  opts: { concat?: readonly (keyof T)[] } = {},
): { values: T; from: Record<keyof T, SettingSource> } {
  const values = { ...defaults };
  const from = {} as Record<keyof T, SettingSource>;
  const keys = new Set<keyof T>([...(Object.keys(defaults) as (keyof T)[]), ...(Object.keys(config) as (keyof T)[]), ...(Object.keys(cli) as (keyof T)[])]);
  for (const k of keys) {
    const c = config[k];
    const l = cli[k];
    if (opts.concat?.includes(k) && Array.isArray(c) && Array.isArray(l)) {
      values[k] = [...c, ...l] as T[keyof T];
      from[k] = 'config+cli';
    } else if (l !== undefined) {
      values[k] = l as T[keyof T];
      from[k] = 'cli';
    } else if (c !== undefined) {
      values[k] = c as T[keyof T];
      from[k] = 'config';
    } else from[k] = 'default';
  }
  return { values, from };
}
