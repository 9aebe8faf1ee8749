// Atomic output: the image is written to a temporary file beside the target, fsynced, renamed over it and
// the directory fsynced; on any failure the temporary file is removed and an existing image stays intact.
// Only a missing path, an empty file or a SquashFS image is replaced without --force; devices, FIFOs,
// sockets, directories and symlinks never are. Writers of one output exclude each other with a kernel lock
// (flock) on `.NAME.lock`, which dies with its process: no stale lock, no race between two starts.
import { type Stats, accessSync, closeSync, constants, fstatSync, fsync, lstatSync, openSync, readSync, readdirSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { CasperError, UsageError, toCasperError } from '../errors.js';

/** Outputs being written by this process, so a signal handler can remove their temporary files. */
const active = new Set<OutputFile>();

/** Removes the temporary file and lock of every output still being written (for signal handlers). */
export function discardAllOutputs(): void {
  for (const o of [...active]) o.discard();
}

const SQUASHFS_MAGIC = 'hsqs';

/** What is at the output path now, and whether it may be replaced. */
export type ExistingOutput = 'none' | 'empty file' | 'SquashFS image' | 'file (--force)';

function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

function hasSquashfsMagic(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(4);
    return readSync(fd, b, 0, 4, 0) === 4 && b.toString('latin1') === SQUASHFS_MAGIC;
  } finally {
    closeSync(fd);
  }
}

/**
 * Checks the output path before anything is written (usage errors): its directory must exist, and what is
 * there must be nothing, an empty file or a SquashFS image — any other regular file only with `force`.
 */
export function checkOutputTarget(target: string, force: boolean): ExistingOutput {
  const dir = dirname(target);
  let dst;
  try {
    dst = statSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(code === 'ENOENT' ? `output directory '${dir}' does not exist` : `output directory '${dir}' cannot be used (${code ?? (err as Error).message})`);
  }
  if (!dst.isDirectory()) throw new UsageError(`output directory '${dir}' is not a directory`);
  let st;
  try {
    st = lstatSync(target);
  } catch {
    return 'none';
  }
  if (!st.isFile()) throw new UsageError(`output '${target}' is ${kindOf(st)}: casper-snapshot writes only regular files (name a file path)`);
  if (st.size === 0) return 'empty file';
  let magic = false;
  try {
    magic = hasSquashfsMagic(target);
  } catch {
    /* unreadable: treated as not an image */
  }
  if (magic) return 'SquashFS image';
  if (force) return 'file (--force)';
  throw new UsageError(`output '${target}' exists and is not a SquashFS image: not replaced`, { option: 'force' });
}

/**
 * The output's directory must be writable: read-only or not ours is a usage error like a missing directory
 * (nothing was written; exit 1 in the CLI). Checked once a read-only live medium has been remounted for the
 * save (live/medium-write.ts), which is the one read-only place a save may go.
 */
export function checkOutputWritable(target: string): void {
  const dir = dirname(target);
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(`output directory '${dir}' is not writable (${code === 'EROFS' ? 'a read-only file system' : code === 'EACCES' ? 'permission denied' : (code ?? (err as Error).message)})`);
  }
}

/** Names an fs error on a file inside the output directory by the directory the user gave. */
function directoryError(err: unknown, dir: string, what: string): CasperError {
  const e = toCasperError(err);
  const cause = (err as NodeJS.ErrnoException).code ? `${(err as Error).message.replace(/,.*$/, '').replace(/^[A-Z]+: /, '')}` : e.message;
  return new CasperError(`cannot ${what} in output directory '${dir}': ${cause}`, e.code, { path: dir, syscall: e.syscall, cause: err });
}

export type LockFn = (fd: number) => boolean;

export class OutputFile {
  readonly target: string;
  readonly tempPath: string;
  readonly lockPath: string;
  fd: number;
  private lockFd = -1;
  private done = false;

  constructor(target: string, lock: LockFn) {
    this.target = target;
    const dir = dirname(target);
    const base = basename(target);
    this.tempPath = join(dir, `.${base}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
    this.lockPath = join(dir, `.${base}.lock`);
    this.takeLock(lock, dir);
    try {
      this.removeStaleTemporaries(dir, base);
      this.fd = openSync(this.tempPath, 'wx+', 0o644); // read-write: duplicate checks read back written blocks
    } catch (err) {
      this.unlock();
      throw directoryError(err, dir, 'create the image');
    }
    active.add(this);
  }

  /** The lock file may be unlinked by a writer finishing just as we open it: retry until ours is the one there. */
  private takeLock(lock: LockFn, dir: string): void {
    for (let attempt = 0; attempt < 10; attempt++) {
      let fd: number;
      try {
        fd = openSync(this.lockPath, 'a+', 0o644);
      } catch (err) {
        throw directoryError(err, dir, 'write');
      }
      if (!lock(fd)) {
        closeSync(fd);
        throw new CasperError(`output '${this.target}' is being written by another casper-snapshot (lock ${this.lockPath})`, 'ELOCKED', { path: this.target });
      }
      let same = false;
      try {
        const a = fstatSync(fd);
        const b = statSync(this.lockPath);
        same = a.ino === b.ino && a.dev === b.dev;
      } catch {
        /* unlinked meanwhile */
      }
      if (same) {
        this.lockFd = fd;
        return;
      }
      closeSync(fd);
    }
    throw new CasperError(`cannot lock output '${this.target}' (${this.lockPath} keeps changing)`, 'ELOCKED', { path: this.target });
  }

  /** Temporary files of this output left by runs that died (kill -9, power loss): we hold the lock, so none is live. */
  private removeStaleTemporaries(dir: string, base: string): void {
    const prefix = `.${base}.tmp-`;
    for (const name of readdirSync(dir)) {
      if (!name.startsWith(prefix)) continue;
      try {
        unlinkSync(join(dir, name));
      } catch {
        /* already gone */
      }
    }
  }

  private unlock(): void {
    if (this.lockFd < 0) return;
    try {
      unlinkSync(this.lockPath); // while still holding it, so no other writer can have it yet
    } catch {
      /* already gone */
    }
    try {
      closeSync(this.lockFd);
    } catch {
      /* already closed */
    }
    this.lockFd = -1;
  }

  /** (dev, ino) of the temporary file, the lock file and an existing target, so a walk never captures them. */
  inodes(): { dev: number; ino: number }[] {
    const out = [fstatSync(this.fd), fstatSync(this.lockFd)].map((s) => ({ dev: s.dev, ino: s.ino }));
    try {
      const s = statSync(this.target);
      out.push({ dev: s.dev, ino: s.ino });
    } catch {
      /* no existing target */
    }
    return out;
  }

  /**
   * fsync, rename over the target, fsync the directory. Asynchronous: an fsync can take seconds.
   * beforeRename runs just before the rename (a failure there keeps the old image and fails the commit).
   */
  async commit(beforeRename?: () => void): Promise<void> {
    try {
      await promisify(fsync)(this.fd);
      closeSync(this.fd);
      this.fd = -1;
      beforeRename?.();
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
