// What may stand at the ISO's path: nothing, an empty file or an ISO 9660 image are replaced; another regular
// file only with --force; never a directory, device, FIFO, socket or symlink. The ISO itself is written
// like images are (src/pipeline/output-file.ts: a lock, a temporary name beside it, fsync, rename).
import { isIso9660 } from './iso9660.js';
import { UsageError } from '../errors.js';
import { existingOutputFile } from '../pipeline/output-file.js';

export type ExistingIso = 'none' | 'empty file' | 'ISO 9660 image' | 'file (--force)';

export function checkIsoTarget(target: string, force: boolean): ExistingIso {
  const st = existingOutputFile(target, 'remaster');
  if (!st) return 'none';
  if (st.size === 0) return 'empty file';
  if (isIso9660(target)) return 'ISO 9660 image';
  if (force) return 'file (--force)';
  throw new UsageError(
    `output '${target}' exists and is not an ISO 9660 image: not replaced (use --force to replace it)`,
  );
}
