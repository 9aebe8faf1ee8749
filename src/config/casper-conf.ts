// Settings from /etc/casper.conf (or --config FILE), read as KEY=VALUE lines and never executed.
// casper's own variables in that file (USERNAME, HOST, FLAVOUR …) are ignored quietly; other unknown
// keys come back as warnings; a bad value of one of ours is a ConfigError naming the key and line.
// An empty value (KEY=) leaves the setting unset; a later line for the same key wins, as in sh.
//
//   CASPER_SNAPSHOT_MODE=auto|upper|diff|full        capture mode (auto: what the layout allows)
//   CASPER_SNAPSHOT_EXCLUDES="/srv/cache home/*/.cache"  exclude entries, blank-separated (a backslash keeps a blank)
//   CASPER_SNAPSHOT_EXCLUDE_SYNTAX=exact|wildcards|regex   how EXCLUDES are read (as -wildcards / -regex)
//   CASPER_SNAPSHOT_DEFAULT_EXCLUDES=yes|no          no = --no-default-excludes
//   CASPER_SNAPSHOT_SCRUB=yes|no                     leave out machine identity, secrets and logs
//   CASPER_SNAPSHOT_COMPRESSOR=gzip                  as -comp
//   CASPER_SNAPSHOT_BLOCK_SIZE=128K                  as -b: power of two, 4K to 1M
//   CASPER_SNAPSHOT_COMPRESSION_LEVEL=19             as --compression-level (unless the command line names a compressor)
//   CASPER_SNAPSHOT_JOBS=4                           worker threads, 1 to 1024
//   CASPER_SNAPSHOT_VERIFY=yes|no                    yes = --verify
//   CASPER_SNAPSHOT_OUTPUT=/media/usb/snap.squashfs  image to write (an absolute path)
//   CASPER_SNAPSHOT_PERSISTENCE_NAME=session         as --persistence-name: write onto the live medium where the next boot stacks it
// CONFIG_KEYS below documents each key for --help (and test/docs-agree.test.ts holds the man page and the
// README to the same list).
import { readFileSync } from 'node:fs';
import { parseSize } from '../api/options.js';
import { UsageError } from '../errors.js';
import type { ExcludeSyntax } from '../policy/patterns.js';
import { parseAssignment } from './shell-assign.js';

export const DEFAULT_CONFIG_FILE = '/etc/casper.conf';

export interface SnapshotConfig {
  mode?: 'auto' | 'upper' | 'diff' | 'full';
  excludes?: string[];
  excludeSyntax?: ExcludeSyntax;
  defaultExcludes?: boolean;
  scrub?: boolean;
  compressor?: string;
  compressionLevel?: number;
  blockSize?: number;
  jobs?: number;
  verify?: boolean;
  output?: string;
  persistenceName?: string;
}

export interface ConfigResult {
  file: string;
  /** false when the default file does not exist (an empty config). */
  found: boolean;
  config: SnapshotConfig;
  /** Line of each setting, for messages. */
  lines: { [K in keyof SnapshotConfig]?: number };
  /** Unknown keys and ignored lines; returned, never printed here. */
  warnings: string[];
}

/** A bad setting: the file, line and key are in the message and as fields. */
export class ConfigError extends UsageError {
  file: string;
  line: number;
  key: string | null;
  constructor(file: string, line: number, key: string | null, why: string) {
    super(`${file}:${line}: ${key ? `${key}: ` : ''}${why}`);
    this.name = 'ConfigError';
    this.file = file;
    this.line = line;
    this.key = key;
  }
}

type Setter = (value: string, c: SnapshotConfig) => string | null; // null = fine, else the reason

const oneOf =
  <T extends string>(values: readonly T[], set: (v: T, c: SnapshotConfig) => void): Setter =>
  (v, c) => {
    if (!(values as readonly string[]).includes(v)) return `must be one of ${values.join(', ')}, got '${v}'`;
    set(v as T, c);
    return null;
  };

const BOOL: Record<string, boolean> = {
  yes: true,
  true: true,
  on: true,
  '1': true,
  no: false,
  false: false,
  off: false,
  '0': false,
};
const bool =
  (set: (v: boolean, c: SnapshotConfig) => void): Setter =>
  (v, c) => {
    const b = BOOL[v.toLowerCase()];
    if (b === undefined) return `must be yes or no, got '${v}'`;
    set(b, c);
    return null;
  };

/** Splits EXCLUDES on blanks; a backslash keeps the next character (a blank too). */
function splitWords(v: string): string[] {
  const out: string[] = [];
  let cur = '';
  let has = false;
  for (let i = 0; i < v.length; i++) {
    if (v[i] === '\\' && i + 1 < v.length) {
      cur += v[++i];
      has = true;
    } else if (/\s/.test(v[i])) {
      if (has) out.push(cur);
      cur = '';
      has = false;
    } else {
      cur += v[i];
      has = true;
    }
  }
  if (has) out.push(cur);
  return out;
}

/** Each key: the setting it fills, its parser, and one line for --help (`example` and what it means). */
export const CONFIG_KEYS: Record<string, { field: keyof SnapshotConfig; set: Setter; example: string; doc: string }> = {
  CASPER_SNAPSHOT_OUTPUT: {
    field: 'output',
    example: '/media/usb/snap.squashfs',
    doc: 'the image to write when none is given (an absolute path)',
    set: (v, c) => {
      if (!(v.startsWith('/') && v.length > 1)) return `must be an absolute path, got '${v}'`;
      c.output = v;
      return null;
    },
  },
  CASPER_SNAPSHOT_MODE: {
    field: 'mode',
    example: 'auto',
    doc: 'auto (default), upper, diff or full',
    set: oneOf(['auto', 'upper', 'diff', 'full'] as const, (v, c) => (c.mode = v)),
  },
  CASPER_SNAPSHOT_EXCLUDES: {
    field: 'excludes',
    example: '"home/*/.cache /srv/tmp"',
    doc: 'exclude entries, blank-separated (added to -e)',
    set: (v, c) => {
      c.excludes = splitWords(v);
      return null;
    },
  },
  CASPER_SNAPSHOT_EXCLUDE_SYNTAX: {
    field: 'excludeSyntax',
    example: 'wildcards',
    doc: 'exact, wildcards or regex: how EXCLUDES are read',
    set: oneOf(['exact', 'wildcards', 'regex'] as const, (v, c) => (c.excludeSyntax = v)),
  },
  CASPER_SNAPSHOT_DEFAULT_EXCLUDES: {
    field: 'defaultExcludes',
    example: 'yes',
    doc: 'no = --no-default-excludes',
    set: bool((v, c) => (c.defaultExcludes = v)),
  },
  CASPER_SNAPSHOT_SCRUB: { field: 'scrub', example: 'no', doc: 'yes = --scrub', set: bool((v, c) => (c.scrub = v)) },
  CASPER_SNAPSHOT_COMPRESSOR: {
    field: 'compressor',
    example: 'zstd',
    doc: 'as --compressor (-comp)',
    set: (v, c) => {
      if (!/^[a-z0-9]+$/.test(v)) return `must be a compressor name like gzip or xz, got '${v}'`;
      c.compressor = v;
      return null;
    },
  },
  CASPER_SNAPSHOT_COMPRESSION_LEVEL: {
    field: 'compressionLevel',
    example: '19',
    doc: 'as --compression-level; ignored when the command line names a compressor or a level',
    set: (v, c) => {
      if (!/^\d{1,2}$/.test(v)) return `must be a compression level (an integer such as 6 or 19), got '${v}'`;
      c.compressionLevel = +v;
      return null;
    },
  },
  CASPER_SNAPSHOT_BLOCK_SIZE: {
    field: 'blockSize',
    example: '128K',
    doc: 'as -b: a power of two from 4K to 1M',
    set: (v, c) => {
      let n: number;
      try {
        n = parseSize(v, 'block size');
      } catch (err) {
        return (err as Error).message;
      }
      if (n < 4096 || n > 1048576 || (n & (n - 1)) !== 0) return `must be a power of two from 4K to 1M, got '${v}'`;
      c.blockSize = n;
      return null;
    },
  },
  CASPER_SNAPSHOT_JOBS: {
    field: 'jobs',
    example: '4',
    doc: 'worker threads, 1 to 1024 (as --jobs)',
    set: (v, c) => {
      if (!(/^\d{1,4}$/.test(v) && +v >= 1 && +v <= 1024)) return `must be an integer from 1 to 1024, got '${v}'`;
      c.jobs = +v;
      return null;
    },
  },
  CASPER_SNAPSHOT_VERIFY: {
    field: 'verify',
    example: 'yes',
    doc: 'yes = --verify (read the new image back before it replaces the old one)',
    set: bool((v, c) => (c.verify = v)),
  },
  CASPER_SNAPSHOT_PERSISTENCE_NAME: {
    field: 'persistenceName',
    example: 'session',
    doc: 'as --persistence-name when no output is given on the command line (wins over CASPER_SNAPSHOT_OUTPUT)',
    set: (v, c) => {
      if (!/^[A-Za-z0-9_-]+$/.test(v)) return `must be a tag of letters, digits, '-' or '_', got '${v}'`;
      c.persistenceName = v;
      return null;
    },
  },
};

/** casper's own settings in the same file (casper(7), casper-snapshot's ROOTSNAP/HOMESNAP). */
const CASPER_KEYS = new Set(['USERNAME', 'USERFULLNAME', 'HOST', 'BUILD_SYSTEM', 'FLAVOUR', 'ROOTSNAP', 'HOMESNAP']);

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The file's lines as text. Read as bytes: a line that is not UTF-8 keeps its bytes (latin1, one character per byte)
 * and is marked, so a setting of ours there is refused rather than read with a byte turned into U+FFFD (an image
 * written under another name).
 */
function linesOf(data: Buffer | string): { text: string; notUtf8: number | null }[] {
  if (typeof data === 'string')
    return data
      .replace(/^\uFEFF/, '')
      .split('\n')
      .map((text) => ({ text, notUtf8: null }));
  const out: { text: string; notUtf8: number | null }[] = [];
  let start = data.length >= 3 && data[0] === 0xef && data[1] === 0xbb && data[2] === 0xbf ? 3 : 0;
  for (;;) {
    const end = data.indexOf(0x0a, start);
    const bytes = data.subarray(start, end < 0 ? data.length : end);
    try {
      out.push({ text: utf8.decode(bytes), notUtf8: null });
    } catch {
      out.push({ text: bytes.toString('latin1'), notUtf8: bytes.findIndex((b) => b >= 0x80) });
    }
    if (end < 0) return out;
    start = end + 1;
  }
}

export function parseCasperConf(data: string | Buffer, file = DEFAULT_CONFIG_FILE): ConfigResult {
  const result: ConfigResult = { file, found: true, config: {}, lines: {}, warnings: [] };
  linesOf(data).forEach(({ text: raw, notUtf8 }, i) => {
    const n = i + 1;
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const r = parseAssignment(line);
    if (notUtf8 !== null && r.kind !== 'blank' && r.key?.startsWith('CASPER_SNAPSHOT_'))
      throw new ConfigError(
        file,
        n,
        r.key,
        `the value holds bytes that are not UTF-8 (0x${raw.charCodeAt(notUtf8).toString(16)}): casper-snapshot takes paths and names as UTF-8 (write the path in UTF-8, or rename it)`,
      );
    if (r.kind === 'blank') return;
    const ours = r.key?.startsWith('CASPER_SNAPSHOT_');
    if (r.kind === 'error') {
      if (ours) throw new ConfigError(file, n, r.key, r.why);
      if (r.key === null || !CASPER_KEYS.has(r.key)) result.warnings.push(`${file}:${n}: ignored (${r.why})`);
      return;
    }
    const known = CONFIG_KEYS[r.key];
    if (!known) {
      if (!CASPER_KEYS.has(r.key)) result.warnings.push(`${file}:${n}: unknown key ${r.key} ignored`);
      return;
    }
    if (r.value === '') {
      delete result.config[known.field]; // KEY= unsets, as a template leaves it
      delete result.lines[known.field];
      return;
    }
    const why = known.set(r.value, result.config);
    if (why !== null) throw new ConfigError(file, n, r.key, why);
    result.lines[known.field] = n;
  });
  return result;
}

/**
 * Reads the config file: without `path` the default /etc/casper.conf, whose absence means no
 * settings; an explicit --config file that cannot be read is a UsageError.
 */
export function loadCasperConf(path?: string): ConfigResult {
  const file = path ?? DEFAULT_CONFIG_FILE;
  let text: Buffer;
  try {
    text = readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (path === undefined && code === 'ENOENT') return { file, found: false, config: {}, lines: {}, warnings: [] };
    throw new UsageError(`config file '${file}' cannot be read: ${(err as Error).message}`);
  }
  return parseCasperConf(text, file);
}
