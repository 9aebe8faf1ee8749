// What may stand at the ISO's path: nothing, an empty file or an ISO 9660 image are replaced; another regular
// file only with --force; never a directory, device, FIFO, socket or symlink. The ISO itself is written
// like images are (src/pipeline/output-file.ts: a lock, a temporary name beside it, fsync, rename).
import { lstatSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { isIso9660 } from './iso9660.js';
import { UsageError } from '../errors.js';

export type ExistingIso = 'none' | 'empty file' | 'ISO 9660 image' | 'file (--force)';

export function checkIsoTarget(target: string, force: boolean): ExistingIso {
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
  if (!st.isFile()) throw new UsageError(`output '${target}' is not a regular file: remaster writes only regular files (name a file path)`);
  if (st.size === 0) return 'empty file';
  if (isIso9660(target)) return 'ISO 9660 image';
  if (force) return 'file (--force)';
  throw new UsageError(`output '${target}' exists and is not an ISO 9660 image: not replaced (use --force to replace it)`);
}
