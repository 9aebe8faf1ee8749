// Writing onto the live medium. live-boot and casper mount the boot medium read-only (/run/live/medium,
// /cdrom), yet that is where the next boot looks for the layers it stacks. When the output lies on such a
// mount, that one mount is remounted read-write for the save and read-only again afterwards; a medium that
// cannot be (an ISO 9660 disc) fails the snapshot before anything is written.
//
// An image replaced while the running system still has it loop-mounted would stay allocated but unlinked,
// and a filesystem with unlinked files in use refuses to go read-only again (EBUSY): the replaced image is
// therefore kept linked under a hidden name (.NAME.prev-INODE, which no live system stacks) until a later
// save finds it no longer in use and removes it.
import { spawnSync } from 'node:child_process';
import { linkSync, readFileSync, readdirSync, statSync, unlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { findMount, parseMountinfo, type MountInfo } from '../mount/index.js';
import { MEDIUM } from '../mount/families.js';
import { CasperError } from '../errors.js';

/** Every mount point where a live system keeps its boot medium. */
const MEDIUM_MOUNTS = new Set(Object.values(MEDIUM).flat());

function readOnly(m: MountInfo): boolean {
  return m.mountOptions.includes('ro');
}

/** The live medium mount holding `dir` when it is mounted read-only, else null. */
export function readOnlyMedium(dir: string, mountinfo?: string): MountInfo | null {
  const mounts = parseMountinfo(mountinfo ?? readFileSync('/proc/self/mountinfo', 'utf8'));
  const m = findMount(mounts, dir);
  return m && MEDIUM_MOUNTS.has(m.mountPoint) && readOnly(m) ? m : null;
}

function remount(mountPoint: string, how: 'rw' | 'ro'): string | null {
  const r = spawnSync('mount', ['-o', `remount,${how}`, mountPoint], { encoding: 'utf8' });
  if (r.status === 0) return null;
  return (r.stderr || r.error?.message || `mount exited ${r.status}`).trim();
}

/** Linux's dev_t as major:minor. */
function majorMinor(dev: bigint): string {
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  return `${major}:${minor}`;
}

/** The files loop devices hold open, as "major:minor:inode" (util-linux losetup); null when that cannot be read. */
function heldByLoopDevices(): Set<string> | null {
  const r = spawnSync('losetup', ['--list', '--json', '--output', 'BACK-INO,BACK-MAJ:MIN'], { encoding: 'utf8' });
  if (r.status !== 0) return null;
  if (r.stdout.trim() === '') return new Set(); // no loop device set up
  try {
    const list = (JSON.parse(r.stdout) as { loopdevices?: Record<string, unknown>[] }).loopdevices ?? [];
    return new Set(list.map((d) => `${String(d['back-maj:min']).trim()}:${String(d['back-ino']).trim()}`));
  } catch {
    return null;
  }
}

function identity(path: string): string | null {
  try {
    const st = statSync(path, { bigint: true });
    return st.isFile() ? `${majorMinor(st.dev)}:${st.ino}` : null;
  } catch {
    return null;
  }
}

/** Hidden names that keep replaced, still loop-mounted images linked: `.NAME.prev-INODE`. */
function keptPrefix(target: string): string {
  return `.${basename(target)}.prev-`;
}

/** Media remounted read-write by this process and not yet read-only again (for signal handlers). */
const open = new Set<MediumWrite>();

/** Remounts every medium this process made writable read-only again (from signal handlers; synchronous). */
export function restoreAllMedia(): void {
  for (const m of [...open]) m.close();
}

export class MediumWrite {
  private closed = false;

  private constructor(
    readonly mountPoint: string,
    private readonly warnings: string[],
  ) {}

  /**
   * Remounts the read-only live medium holding `dir` read-write, or returns null when `dir` is not on one.
   * A medium that cannot be made writable is an error naming it (nothing has been written).
   */
  static open(dir: string, warnings: string[], mountinfo?: string): MediumWrite | null {
    const m = readOnlyMedium(dir, mountinfo);
    if (!m) return null;
    const err = remount(m.mountPoint, 'rw');
    if (err)
      throw new CasperError(
        `the live medium at '${m.mountPoint}' is mounted read-only and cannot be remounted read-write (${err}): nothing was written; ` +
          'save to a writable medium (a USB stick) instead',
        'EROFS',
        { path: m.mountPoint, syscall: 'mount' },
      );
    const w = new MediumWrite(m.mountPoint, warnings);
    open.add(w);
    return w;
  }

  /**
   * Before the rename: keeps the image being replaced linked while a loop device still uses it, and removes the
   * images kept by earlier saves that no loop device uses any more.
   */
  keepReplaced(target: string): void {
    const held = heldByLoopDevices();
    if (!held) return; // cannot tell what is in use: keep everything, remove nothing
    const dir = dirname(target);
    const prefix = keptPrefix(target);
    for (const name of readdirSync(dir)) {
      if (!name.startsWith(prefix)) continue;
      const id = identity(join(dir, name));
      if (id && !held.has(id)) unlinkSync(join(dir, name));
    }
    const id = identity(target);
    if (!id || !held.has(id)) return;
    const kept = join(dir, prefix + id.split(':')[2]);
    try {
      linkSync(target, kept);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }

  /** Remounts the medium read-only again (a failure is a warning: the image is written); once. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    open.delete(this);
    const err = remount(this.mountPoint, 'ro');
    if (err)
      this.warnings.push(
        `the live medium at '${this.mountPoint}' could not be remounted read-only again (${err}); it stays writable until shutdown`,
      );
  }
}
