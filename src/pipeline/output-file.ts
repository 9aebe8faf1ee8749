// Atomic output: the image is written to a temporary file beside the target, fsynced, renamed over it and
// the directory fsynced; on any failure the temporary file is removed and an existing image stays intact.
// Only a missing path, an empty file or a SquashFS image is replaced without --force; devices, FIFOs,
// sockets, directories and symlinks never are.
//
// A root run writes into directories other users may write, so the output's own files are handled through a
// descriptor of its directory and never by following a name (native/bindings/output_dir.cc): the temporary
// file is created with O_EXCL|O_NOFOLLOW, mode 0600 while written, and takes the replaced image's mode and
// owner (or 0666 less the umask) just before the rename. Writers of one output exclude each other with a kernel
// lock (flock), which dies with its process: as root, on a file keyed by the output directory's device and
// inode and the output's name in /run/casper-snapshot (root's own directory: nobody can plant, hold or link
// it); otherwise, or where /run cannot be used, on `.NAME.lock` beside the output, used only when it is a
// plain file of ours (a symlink, another user's file or a hard link there is removed, never opened).
import {
  type Stats,
  accessSync,
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  fstatSync,
  fsync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  statSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { CasperError, UsageError, toCasperError } from '../errors.js';
import type { Addon } from '../native/addon.js';

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
 * What stands at an output path before anything is written: null for nothing, else the regular file there. A
 * usage error when its directory is missing or not a directory, or when something other than a regular file
 * (a directory, device, FIFO, socket or symlink) stands there: `writer` writes only regular files. Shared by
 * images and remaster's ISO (src/remaster/output-iso.ts).
 */
export function existingOutputFile(target: string, writer: string): Stats | null {
  const dir = dirname(target);
  let dst: Stats;
  try {
    dst = statSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(
      code === 'ENOENT'
        ? `output directory '${dir}' does not exist`
        : `output directory '${dir}' cannot be used (${code ?? (err as Error).message})`,
    );
  }
  if (!dst.isDirectory()) throw new UsageError(`output directory '${dir}' is not a directory`);
  let st: Stats;
  try {
    st = lstatSync(target);
  } catch {
    return null;
  }
  if (!st.isFile())
    throw new UsageError(`output '${target}' is ${kindOf(st)}: ${writer} writes only regular files (name a file path)`);
  return st;
}

/**
 * Checks the output path before anything is written (usage errors): its directory must exist, and what is
 * there must be nothing, an empty file or a SquashFS image — any other regular file only with `force`.
 */
export function checkOutputTarget(target: string, force: boolean): ExistingOutput {
  const st = existingOutputFile(target, 'casper-snapshot');
  if (!st) return 'none';
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
    throw new UsageError(
      `output directory '${dir}' is not writable (${code === 'EROFS' ? 'a read-only file system' : code === 'EACCES' ? 'permission denied' : (code ?? (err as Error).message)})`,
    );
  }
}

/** Names an fs error on a file inside the output directory by the directory the user gave. */
function directoryError(err: unknown, dir: string, what: string): CasperError {
  const e = toCasperError(err);
  const cause = (err as NodeJS.ErrnoException).code
    ? `${(err as Error).message
        .replace(/,.*$/, '')
        .replace(/^[A-Z]+: /, '')
        .replace(/^[a-z]+ '.*?': /, '')}`
    : e.message;
  return new CasperError(`cannot ${what} in output directory '${dir}': ${cause}`, e.code, {
    path: dir,
    syscall: e.syscall,
    cause: err,
  });
}

/** What OutputFile needs of the addon. */
export type OutputOps = Pick<
  Addon,
  'lockFile' | 'openDir' | 'createAt' | 'openOwnAt' | 'statAt' | 'renameAt' | 'unlinkAt' | 'listAt'
>;

/** Root's directory for output locks: only root can create, hold or link anything in it. */
export const RUNTIME_LOCK_DIR = '/run/casper-snapshot';

/** The lock's name in RUNTIME_LOCK_DIR: the output directory's device and inode, and a hash of the output's name. */
export function runtimeLockName(dir: { dev: bigint; ino: bigint }, name: string): string {
  return `${dir.dev}-${dir.ino}-${createHash('sha256').update(name).digest('hex').slice(0, 32)}.lock`;
}

const NAME_MAX = 255;
/** Bytes a suffix of ours may take after the stem: ".tmp-" + a pid (at most 7 digits) + "-" + 8 hex digits. */
const SUFFIX_ROOM = 21;

/**
 * ".NAME", the stem of the output's temporary and lock names; a name too long for a suffix to fit NAME_MAX keeps
 * its first bytes (cut at a character boundary) and a hash of the whole name, so each output has its own stem.
 */
export function ownStem(name: string): string {
  const whole = `.${name}`;
  if (Buffer.byteLength(whole) + SUFFIX_ROOM <= NAME_MAX) return whole;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 16);
  const b = Buffer.from(whole);
  let n = NAME_MAX - SUFFIX_ROOM - hash.length - 1;
  while (n > 0 && (b[n] & 0xc0) === 0x80) n--; // not inside a UTF-8 sequence
  return `${b.subarray(0, n).toString()}~${hash}`;
}

/** The process's umask, read without setting it (process.umask() with no argument briefly sets it to 0). */
function currentUmask(): number {
  try {
    const m = /^Umask:\s*([0-7]+)$/m.exec(readFileSync('/proc/self/status', 'latin1'));
    if (m) return parseInt(m[1], 8);
  } catch {
    /* no /proc */
  }
  return 0o022;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class OutputFile {
  readonly target: string;
  /** Absolute paths, for messages and for leaving them out of the capture. */
  readonly tempPath: string;
  readonly lockPath: string;
  fd: number = -1;
  private readonly ops: OutputOps;
  private readonly dirFd: number;
  private readonly name: string;
  private readonly tempName: string;
  /** Mode and owner the image takes at the commit: the replaced image's, or a new file's. */
  private readonly keep: { mode: number; uid: number; gid: number } | null;
  private lockFd = -1;
  private lockDirFd = -1;
  private lockName = '';
  private done = false;

  constructor(target: string, ops: OutputOps) {
    this.target = target;
    this.ops = ops;
    const dir = dirname(resolve(target));
    this.name = basename(resolve(target));
    try {
      this.dirFd = ops.openDir(dir);
    } catch (err) {
      throw directoryError(err, dir, 'write');
    }
    const stem = ownStem(this.name);
    try {
      const st = ops.statAt(this.dirFd, this.name);
      this.keep = st && (st.mode & 0o170000) === 0o100000 ? { mode: st.mode & 0o777, uid: st.uid, gid: st.gid } : null;
      this.lockPath = this.takeLock(dir, stem);
    } catch (err) {
      closeSync(this.dirFd);
      throw err instanceof CasperError ? err : directoryError(err, dir, 'write');
    }
    try {
      this.removeStaleTemporaries(stem);
      let name = '';
      for (let attempt = 0; this.fd < 0; attempt++) {
        name = `${stem}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
        try {
          this.fd = ops.createAt(this.dirFd, name, 0o600); // read-write: duplicate checks read back written blocks
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 10) throw err;
        }
      }
      this.tempName = name;
      this.tempPath = join(dir, name);
    } catch (err) {
      this.unlock();
      closeSync(this.dirFd);
      throw directoryError(err, dir, 'write');
    }
    active.add(this);
  }

  /**
   * Takes the output's lock; returns its path. Root locks in RUNTIME_LOCK_DIR, keyed by the output's directory
   * (device, inode) and name; anyone else, or root where /run cannot be used, on the stem's ".lock" beside it.
   */
  private takeLock(dir: string, stem: string): string {
    const runDir = process.geteuid?.() === 0 ? this.runtimeDir() : -1;
    if (runDir >= 0) {
      this.lockDirFd = runDir;
      this.lockName = runtimeLockName(fstatSync(this.dirFd, { bigint: true }), this.name);
    } else {
      this.lockDirFd = this.dirFd;
      this.lockName = `${stem}.lock`;
    }
    const lockPath = join(runDir >= 0 ? RUNTIME_LOCK_DIR : dir, this.lockName);
    for (let attempt = 0; attempt < 10; attempt++) {
      let fd: number;
      try {
        fd = this.ops.openOwnAt(this.lockDirFd, this.lockName);
      } catch (err) {
        this.lockDirFd = -1;
        if (runDir >= 0) closeSync(runDir);
        if ((err as NodeJS.ErrnoException).code === 'EFOREIGN')
          throw new CasperError(
            `cannot lock output '${this.target}': ${lockPath} ${(err as Error).message.replace(/^'.*?' is /, 'is ')}`,
            'ELOCKED',
            { path: lockPath },
          );
        throw err;
      }
      if (!this.ops.lockFile(fd)) {
        closeSync(fd);
        if (runDir >= 0) closeSync(runDir);
        this.lockDirFd = -1;
        throw new CasperError(
          `output '${this.target}' is being written by another casper-snapshot (lock ${lockPath})`,
          'ELOCKED',
          { path: this.target },
        );
      }
      // The lock file may be unlinked by a writer finishing just as we opened it: ours must be the one there.
      const a = fstatSync(fd);
      const b = this.ops.statAt(this.lockDirFd, this.lockName);
      if (b && a.ino === b.ino && a.dev === b.dev) {
        this.lockFd = fd;
        return lockPath;
      }
      closeSync(fd);
    }
    if (runDir >= 0) closeSync(runDir);
    this.lockDirFd = -1;
    throw new CasperError(`cannot lock output '${this.target}' (${lockPath} keeps changing)`, 'ELOCKED', {
      path: this.target,
    });
  }

  /** RUNTIME_LOCK_DIR held by a descriptor, made if missing; -1 when it cannot be used (no /run, read-only). */
  private runtimeDir(): number {
    try {
      mkdirSync(RUNTIME_LOCK_DIR, { mode: 0o700 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') return -1;
    }
    let fd = -1;
    try {
      const st = lstatSync(RUNTIME_LOCK_DIR);
      if (!st.isDirectory() || st.uid !== 0 || (st.mode & 0o022) !== 0) return -1;
      fd = this.ops.openDir(RUNTIME_LOCK_DIR);
      const held = fstatSync(fd);
      if (held.ino !== st.ino || held.dev !== st.dev) throw new Error('replaced');
      return fd;
    } catch {
      if (fd >= 0) closeSync(fd);
      return -1;
    }
  }

  /**
   * Temporary files of this output left by runs that died (kill -9, power loss). Only names of this output's
   * exact form whose process is gone: a live run of another user (another lock) keeps its file.
   */
  private removeStaleTemporaries(stem: string): void {
    const prefix = `${stem}.tmp-`;
    for (const name of this.ops.listAt(this.dirFd)) {
      if (!name.startsWith(prefix)) continue;
      const m = /^(\d+)-[0-9a-f]{8}$/.exec(name.slice(prefix.length));
      if (!m || (Number(m[1]) !== process.pid && pidAlive(Number(m[1])))) continue;
      try {
        this.ops.unlinkAt(this.dirFd, name);
      } catch {
        /* a directory, or already gone */
      }
    }
  }

  private unlock(): void {
    if (this.lockFd < 0) return;
    try {
      this.ops.unlinkAt(this.lockDirFd, this.lockName); // while still holding it, so no other writer can have it yet
    } catch {
      /* already gone */
    }
    for (const fd of new Set([this.lockFd, this.lockDirFd === this.dirFd ? -1 : this.lockDirFd])) {
      try {
        if (fd >= 0) closeSync(fd);
      } catch {
        /* already closed */
      }
    }
    this.lockFd = -1;
    this.lockDirFd = -1;
  }

  /** (dev, ino) of the temporary file, the lock file and an existing target, so a walk never captures them. */
  inodes(): { dev: number; ino: number }[] {
    const out = [fstatSync(this.fd), fstatSync(this.lockFd)].map((s) => ({ dev: s.dev, ino: s.ino }));
    const s = this.ops.statAt(this.dirFd, this.name);
    if (s) out.push({ dev: s.dev, ino: s.ino });
    return out;
  }

  /** The replaced image's owner and permission bits (setuid, setgid and sticky dropped), or a new file's mode. */
  private applyMode(): void {
    const mode = this.keep ? this.keep.mode : 0o666 & ~currentUmask();
    if (this.keep && process.geteuid?.() === 0) {
      const st = fstatSync(this.fd);
      if (st.uid !== this.keep.uid || st.gid !== this.keep.gid) fchownSync(this.fd, this.keep.uid, this.keep.gid);
    }
    fchmodSync(this.fd, mode);
  }

  /**
   * fsync, rename over the target, fsync the directory. Asynchronous: an fsync can take seconds.
   * beforeRename runs just before the rename (a failure there keeps the old image and fails the commit).
   */
  async commit(beforeRename?: () => void): Promise<void> {
    try {
      this.applyMode();
      await promisify(fsync)(this.fd);
      closeSync(this.fd);
      this.fd = -1;
      beforeRename?.();
      this.ops.renameAt(this.dirFd, this.tempName, this.name);
      this.done = true;
      active.delete(this);
      this.unlock();
      await promisify(fsync)(this.dirFd);
      this.closeDir();
    } catch (err) {
      this.discard();
      // fd-based calls (fsync) name no path: say which image could not be written.
      const e = toCasperError(err);
      throw new CasperError(`cannot write '${this.target}': ${e.message}`, e.code, {
        path: this.target,
        syscall: e.syscall,
        cause: err,
      });
    }
  }

  private dirClosed = false;
  private closeDir(): void {
    if (this.dirClosed) return;
    this.dirClosed = true;
    try {
      closeSync(this.dirFd);
    } catch {
      /* already closed */
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
    if (!this.done && !this.dirClosed) {
      try {
        this.ops.unlinkAt(this.dirFd, this.tempName);
      } catch {
        /* already gone */
      }
      this.done = true;
    }
    active.delete(this);
    this.unlock();
    this.closeDir();
  }
}
