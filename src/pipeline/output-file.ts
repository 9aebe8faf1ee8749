// Atomic output: the image is written to a temporary file beside the target, fsynced, renamed over it and
// the directory fsynced; on any failure the temporary file is removed and an existing image stays intact.
import { closeSync, fstatSync, fsync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { CasperError, toCasperError } from '../errors.js';

/** Outputs being written by this process, so a signal handler can remove their temporary files. */
const active = new Set<OutputFile>();

/** Removes the temporary file and lock of every output still being written (for signal handlers). */
export function discardAllOutputs(): void {
  for (const o of [...active]) o.discard();
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A lock file beside the output (.NAME.lock holding the writer's pid): a second writer of the same output
 * fails clearly instead of racing; a lock left by a dead process is taken over.
 */
function takeLock(lockPath: string, target: string): number {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lockPath, 'wx', 0o644);
      writeSync(fd, `${process.pid}\n`);
      return fd;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw toCasperError(err);
      let pid = NaN;
      try {
        pid = Number.parseInt(readFileSync(lockPath, 'utf8'), 10);
      } catch {
        /* vanished: retry */
      }
      if (Number.isInteger(pid) && pid > 0 && pidAlive(pid))
        throw new CasperError(`output '${target}' is being written by another casper-snapshot (pid ${pid}; lock ${lockPath})`, 'ELOCKED', { path: target });
      try {
        unlinkSync(lockPath); // stale: its writer is gone
      } catch {
        /* someone else took it over */
      }
    }
  }
  throw new CasperError(`cannot lock output '${target}' (${lockPath})`, 'ELOCKED', { path: target });
}

export class OutputFile {
  readonly target: string;
  readonly tempPath: string;
  readonly lockPath: string;
  fd: number;
  private lockFd: number;
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
    this.lockPath = join(dirname(target), `.${basename(target)}.lock`);
    this.lockFd = takeLock(this.lockPath, target);
    try {
      this.fd = openSync(this.tempPath, 'wx+', 0o644); // read-write: duplicate checks read back written blocks
    } catch (err) {
      this.unlock();
      throw toCasperError(err);
    }
    active.add(this);
  }

  private unlock(): void {
    if (this.lockFd < 0) return;
    try {
      closeSync(this.lockFd);
      unlinkSync(this.lockPath);
    } catch {
      /* already gone */
    }
    this.lockFd = -1;
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

  /** fsync, rename over the target, fsync the directory. Asynchronous: an fsync can take seconds. */
  async commit(): Promise<void> {
    try {
      await promisify(fsync)(this.fd);
      closeSync(this.fd);
      this.fd = -1;
      renameSync(this.tempPath, this.target);
      this.done = true;
      active.delete(this);
      this.unlock();
      const dirFd = openSync(dirname(this.target), 'r');
      try {
        await promisify(fsync)(dirFd);
      } finally {
        closeSync(dirFd);
      }
    } catch (err) {
      this.discard();
      // fd-based calls (fsync) name no path: say which image could not be written.
      const e = toCasperError(err);
      throw new CasperError(`cannot write '${this.target}': ${e.message}`, e.code, { path: this.target, syscall: e.syscall, cause: err });
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
    active.delete(this);
    this.unlock();
  }
}
