// Errors the library throws: each has a code; those tied to a file carry path and syscall. Messages speak the
// library's option names; the CLI words a remedy in its own spelling (src/cli/remedies.ts).

/**
 * Every code a CasperError can have. Besides these: errno names from the system (ENOENT, EACCES, EROFS,
 * ENOSPC, EIO, …) for a failure tied to a path. The README lists what each means.
 */
export type CasperErrorCode =
  | 'EUSAGE'
  | 'ABORT_ERR'
  | 'ELOCKED'
  | 'EMOUNT'
  | 'EDIGEST'
  | 'ESQUASH_CORRUPT'
  | 'ESQUASH_LIMIT'
  | 'EREPLACED'
  | 'EMOUNTINFO'
  | 'EADDON'
  | 'EINTERNAL'
  | 'EINTERNAL_ORDER'
  | 'EINVAL'
  | 'ENOSPC'
  | 'EROFS'
  | 'EACCES'
  | 'ENOENT'
  | 'EIO'
  | 'ENOMEM'
  | (string & {});

/** What would let the job through: an option to set. The message says it in the library's terms. */
export type Remedy =
  | { option: 'force' }
  | { option: 'noSpaceCheck' }
  | { option: 'mode'; value: 'diff' | 'full' }
  | { option: 'source' }
  | { option: 'root' }
  /** Not a live system: a plain directory (source = root) or the whole system (mode 'full'). */
  | { option: 'sourceOrFullMode'; root: string };

/** The remedy in the library's terms. */
export function remedyText(r: Remedy): string {
  switch (r.option) {
    case 'force':
      return 'set force: true to replace it';
    case 'noSpaceCheck':
      return 'set noSpaceCheck: true to try anyway';
    case 'mode':
      return `set mode: '${r.value}'`;
    case 'source':
      return 'or give source: DIR for a plain directory';
    case 'root':
      return 'give root instead';
    case 'sourceOrFullMode':
      return `give source: '${r.root === '/' ? 'DIR' : r.root}' to capture a directory as it is, or mode: 'full' to capture this whole system (with the default excludes)`;
  }
}

export class CasperError extends Error {
  code: CasperErrorCode;
  path?: string;
  syscall?: string;
  /** The message without its remedy; the remedy, when an option would let the job through. */
  reason?: string;
  remedy?: Remedy;
  constructor(
    message: string,
    code: CasperErrorCode,
    extra: { path?: string; syscall?: string; cause?: unknown; remedy?: Remedy } = {},
  ) {
    super(
      extra.remedy ? `${message}; ${remedyText(extra.remedy)}` : message,
      extra.cause === undefined ? undefined : { cause: extra.cause },
    );
    this.name = 'CasperError';
    this.code = code;
    if (extra.path !== undefined) this.path = extra.path;
    if (extra.syscall !== undefined) this.syscall = extra.syscall;
    if (extra.remedy) {
      this.reason = message;
      this.remedy = extra.remedy;
    }
  }
}

/** Bad options or arguments: nothing was written. */
export class UsageError extends CasperError {
  constructor(message: string, remedy?: Remedy) {
    super(message, 'EUSAGE', { remedy });
    this.name = 'UsageError';
  }
}

/** The job was cancelled through its AbortSignal. */
export class AbortError extends CasperError {
  constructor(message = 'snapshot aborted') {
    super(message, 'ABORT_ERR');
    this.name = 'AbortError';
  }
}

interface ErrorLike {
  message?: string;
  code?: string;
  path?: string;
  syscall?: string;
}

/** Turns an error from the addon, a worker or node:fs into a CasperError (kept as is when it already is one). */
export function toCasperError(err: unknown): CasperError {
  if (err instanceof CasperError) return err;
  const e = (err ?? {}) as ErrorLike;
  const code = typeof e.code === 'string' ? e.code : 'EINTERNAL';
  if (code === 'ECANCELED') return new AbortError();
  return new CasperError(e.message ?? String(err), code, { path: e.path, syscall: e.syscall, cause: err });
}
