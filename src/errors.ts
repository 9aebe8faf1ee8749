// Errors the library throws: each has a code; those tied to a file carry path and syscall.

export class CasperError extends Error {
  code: string;
  path?: string;
  syscall?: string;
  constructor(message: string, code: string, extra: { path?: string; syscall?: string; cause?: unknown } = {}) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.name = 'CasperError';
    this.code = code;
    if (extra.path !== undefined) this.path = extra.path;
    if (extra.syscall !== undefined) this.syscall = extra.syscall;
  }
}

/** Bad options or arguments: nothing was written. */
export class UsageError extends CasperError {
  constructor(message: string) {
    super(message, 'EUSAGE');
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
