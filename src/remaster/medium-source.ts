// Where the base medium is read from: an ISO file given with --from-iso, or the medium the running live
// system booted from (casper's /cdrom, live-boot's /run/live/medium), read through the device or file behind
// that mount (xorriso reads the ISO's boot records there, which a mounted directory does not show). A hybrid
// ISO written to a USB stick may be mounted from its first partition: the boot records are on the whole
// disk, which is read instead when it holds the same image. A remaster never writes to the live medium.
import { type Stats, readFileSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { findMount, parseMountinfo, type MountInfo } from '../mount/index.js';
import { MEDIUM } from '../mount/families.js';
import { isIso9660 } from './iso9660.js';
import { CasperError, UsageError } from '../errors.js';

export interface MediumSource {
  /** What xorriso reads: the ISO file, or the block device (or loop device's file) behind the live medium. */
  iso: string;
  from: 'iso file' | 'live medium';
  /** The live medium's mount point, when the base is the running system's medium. */
  mountPoint: string | null;
}

const MEDIUM_MOUNTS = [...new Set(Object.values(MEDIUM).flat())];

/** Reading the machine, replaceable by tests. */
export interface SourceReaders {
  mountinfo?: string;
  /** The file behind a loop device (by device path), or null. */
  loopBacking?: (dev: string) => string | null;
  /** The whole disk a partition belongs to (by device path), or null when it is not a partition. */
  parentDisk?: (dev: string) => string | null;
  isIso?: (path: string) => boolean;
}

function loopBacking(dev: string): string | null {
  try {
    return readFileSync(`/sys/block/${basename(dev)}/loop/backing_file`, 'utf8').replace(/\n$/, '') || null;
  } catch {
    return null;
  }
}

function parentDisk(dev: string): string | null {
  try {
    const sys = realpathSync(`/sys/class/block/${basename(dev)}`);
    statSync(`${sys}/partition`);
    return `/dev/${basename(dirname(sys))}`;
  } catch {
    return null;
  }
}

/** The base given as --from-iso: a readable ISO 9660 image (a file or a device). */
export function isoFileSource(path: string): MediumSource {
  let st: Stats;
  try {
    st = statSync(path);
  } catch (err) {
    throw new UsageError(`base ISO '${path}' cannot be read: ${(err as Error).message}`);
  }
  if (!st.isFile() && !st.isBlockDevice()) throw new UsageError(`base ISO '${path}' is not a file or a block device`);
  if (!isIso9660(path))
    throw new UsageError(`base ISO '${path}' holds no ISO 9660 image (no volume descriptor at byte 32768)`);
  return { iso: resolve(path), from: 'iso file', mountPoint: null };
}

/** The running live system's medium, or why it cannot be the base. */
export function liveMediumSource(readers: SourceReaders = {}): MediumSource {
  const mounts = parseMountinfo(readers.mountinfo ?? readFileSync('/proc/self/mountinfo', 'utf8'));
  const medium = MEDIUM_MOUNTS.map((p) => mounts.find((m) => m.mountPoint === p)).find(
    (m): m is MountInfo => m !== undefined,
  );
  if (!medium)
    throw new UsageError(
      `no live medium is mounted here (${MEDIUM_MOUNTS.join(', ')}): name the medium to remaster with --from-iso BASE.iso`,
    );
  const where = `the live medium at ${medium.mountPoint} (${medium.fsType} on ${medium.source})`;
  if (medium.fsType !== 'iso9660')
    throw new UsageError(
      `${where} is not an ISO 9660 image, so it has no boot records to replay: name an ISO of it with --from-iso BASE.iso`,
    );
  const isIso = readers.isIso ?? isIso9660;
  let dev = medium.source;
  const backing = (readers.loopBacking ?? loopBacking)(dev);
  if (backing) dev = backing;
  else {
    const disk = (readers.parentDisk ?? parentDisk)(dev);
    if (disk && isIso(disk)) dev = disk; // a hybrid ISO on a stick, mounted from its partition
  }
  if (!isIso(dev))
    throw new CasperError(
      `${where}: '${dev}' cannot be read as an ISO 9660 image; name the medium with --from-iso BASE.iso`,
      'ENOTISO',
      { path: dev },
    );
  return { iso: dev, from: 'live medium', mountPoint: medium.mountPoint };
}

/**
 * Refuses an output on a live medium (a remaster never writes there) or over the base itself. `dir` is the
 * output's directory; `mountinfo` replaceable by tests.
 */
export function checkNotOnMedium(output: string, base: MediumSource, mountinfo?: string): void {
  const mounts = parseMountinfo(mountinfo ?? readFileSync('/proc/self/mountinfo', 'utf8'));
  const at = findMount(mounts, dirname(resolve(output)));
  if (at && MEDIUM_MOUNTS.includes(at.mountPoint))
    throw new UsageError(
      `output '${output}' is on the live medium (${at.mountPoint}): a remaster never writes there; write the ISO elsewhere (a disk, a USB stick)`,
    );
  try {
    const o = statSync(output);
    const b = statSync(base.iso);
    if (o.dev === b.dev && o.ino === b.ino)
      throw new UsageError(`output '${output}' is the base medium itself: write the new ISO under another name`);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    /* no output yet */
  }
}
