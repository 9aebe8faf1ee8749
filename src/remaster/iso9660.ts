// What an ISO 9660 image says about itself in its volume descriptors (ECMA-119 8.1: from byte 32768, 2048
// bytes each, "CD001" at offset 1, type 255 ends the set): whether a file or device holds one, its volume
// identifier, and whether it carries Joliet names (a supplementary descriptor with the UCS-2 escape sequences
// %/@, %/C or %/E), which xorriso writes again only when told to.
import { closeSync, openSync, readSync } from 'node:fs';

const SECTOR = 2048;
const FIRST = 16;
/** Descriptors read at most (real images have 3 to 6). */
const MAX_DESCRIPTORS = 32;

export interface IsoVolume {
  /** The primary descriptor's volume identifier, trailing spaces removed. */
  volumeId: string;
  joliet: boolean;
}

function readAt(path: string, offset: number, length: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(length);
    const n = readSync(fd, b, 0, length, offset);
    return b.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/** The volume descriptors of the image at `path`, or null when it holds no ISO 9660 volume. */
export function readIsoVolume(path: string): IsoVolume | null {
  const b = readAt(path, FIRST * SECTOR, MAX_DESCRIPTORS * SECTOR);
  let volumeId: string | null = null;
  let joliet = false;
  for (let i = 0; (i + 1) * SECTOR <= b.length; i++) {
    const d = b.subarray(i * SECTOR, (i + 1) * SECTOR);
    if (d.toString('latin1', 1, 6) !== 'CD001') break;
    const type = d[0];
    if (type === 255) break;
    if (type === 1 && volumeId === null) volumeId = d.toString('latin1', 40, 72).replace(/ +$/, '');
    if (type === 2 && /^%\/[@CE]/.test(d.toString('latin1', 88, 91))) joliet = true;
  }
  return volumeId === null ? null : { volumeId, joliet };
}

/** Whether `path` starts like an ISO 9660 image (a primary descriptor where the first one belongs). */
export function isIso9660(path: string): boolean {
  try {
    return readIsoVolume(path) !== null;
  } catch {
    return false;
  }
}

/** ECMA-119's d-characters plus what xorriso accepts in a volume id: at most 32 bytes. */
export function checkVolumeId(label: string): string | null {
  if (label.length === 0) return 'the label is empty';
  if (Buffer.byteLength(label) > 32) return `the label is ${Buffer.byteLength(label)} bytes long; ISO 9660 allows 32`;
  if (/[\x00-\x1f\x7f]/.test(label)) return 'the label holds control characters';
  return null;
}
