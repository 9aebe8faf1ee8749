// Free space for a remaster, in the output's directory: the new filesystem.squashfs is written there once
// (xorriso needs it whole before it starts) and the ISO beside it, which holds it again. Checked twice: before
// the capture, with the new image estimated at the size of the one it replaces; and before the ISO is
// written, with the image's real size (the capture's own check covers the image itself).
import { statfsSync } from 'node:fs';
import { CasperError } from '../errors.js';

const MiB = 2 ** 20;
const mib = (n: number) => `${Math.ceil(n / MiB)} MiB`;

function free(dir: string): number {
  const st = statfsSync(dir);
  return st.bavail * st.bsize;
}

/** Before the capture: the image (estimated) and an ISO of the base's size less the old image plus the new. */
export function checkSpaceBefore(dir: string, output: string, baseBytes: number, oldSquashfs: number): void {
  const need = 2 * oldSquashfs + Math.max(0, baseBytes - oldSquashfs) + 16 * MiB;
  const have = free(dir);
  if (have < need)
    throw new CasperError(
      `not enough free space for '${output}': about ${mib(need)} needed (the new filesystem.squashfs, estimated at the replaced one's ${mib(oldSquashfs)}, written beside the ISO, then the ISO), ${mib(have)} free (use --no-space-check to try anyway)`,
      'ENOSPC',
      { path: output },
    );
}

/** Before xorriso: the ISO (the base less what is replaced or left out, plus the new files). */
export function checkSpaceForIso(dir: string, output: string, isoBytes: number): void {
  const need = isoBytes + 16 * MiB;
  const have = free(dir);
  if (have < need)
    throw new CasperError(
      `not enough free space for '${output}': the ISO needs about ${mib(need)}, ${mib(have)} free (use --no-space-check to try anyway)`,
      'ENOSPC',
      { path: output },
    );
}
