// Atomic output: the image is written to a temporary file beside the target, fsynced, renamed over it and
// the directory fsynced; on any failure the temporary file is removed and an existing image stays intact.
import { closeSync, fstatSync, fsyncSync, openSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { CasperError, toCasperError } from '../errors.js';

export class OutputFile {
  readonly target: string;
  readonly tempPath: string;
  fd: number;
  private done = false;

  constructor(target: string) {
    this.target = target;
    let st;
    try {
      st = statSync(target);
    } catch {
      st = undefined;
    }
    if (st?.isDirectory()) throw new CasperError(`output '${target}' is a directory`, 'EISDIR', { path: target });
    this.tempPath = join(dirname(target), `.${basename(target)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
    try {
      this.fd = openSync(this.tempPath, 'wx+', 0o644);  // read-write: duplicate checks read back written blocks
    } catch (err) {
      throw toCasperError(err);
    }
  }

  /** (dev, ino) of the temporary file and of an existing target, so a walk never captures them. */
  inodes(): { dev: number; ino: number }[] {
    const out = [fstatSync(this.fd)].map((s) => ({ dev: s.dev, ino: s.ino }));
    try {
      const s = statSync(this.target);
      out.push({ dev: s.dev, ino: s.ino });
    } catch {
      /* no existing target */
    }
    return out;
  }

  commit(): void {
    try {
      fsyncSync(this.fd);
      closeSync(this.fd);
      this.fd = -1;
      renameSync(this.tempPath, this.target);
      this.done = true;
      const dirFd = openSync(dirname(this.target), 'r');
      try {
        fsyncSync(dirFd);
      } finally {
        closeSync(dirFd);
      }
    } catch (err) {
      this.discard();
      throw toCasperError(err);
    }
  }

  /** Removes the temporary file (idempotent; safe from signal handlers). */
  discard(): void {
    if (this.fd >= 0) {
      try {
        closeSync(this.fd);
      } catch {
        /* already closed */
      }
      this.fd = -1;
    }
    if (!this.done) {
      try {
        unlinkSync(this.tempPath);
      } catch {
        /* already gone */
      }
      this.done = true;
    }
  }
}
