// Small path helpers shared by the detector and the policy: absolute POSIX paths, no trailing '/'.
import { posix } from 'node:path';

/** "/a//b/./c/" → "/a/b/c"; "" and "/" → "/". Relative paths stay relative (normalised). */
export function normalizePath(p: string): string {
  if (p === '') return '/';
  const n = posix.normalize(p);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

/** True when `p` is `dir` or lies below it (both normalised, absolute). */
export function isWithin(p: string, dir: string): boolean {
  return dir === '/' ? p.startsWith('/') : p === dir || p.startsWith(dir + '/');
}

/** The image path of host path `p` when capturing `root` ("/tmp/x/merged/etc" → "/etc"); null outside it. */
export function toImagePath(p: string, root: string): string | null {
  const n = normalizePath(p);
  if (!isWithin(n, root)) return null;
  if (root === '/') return n;
  return n === root ? '/' : n.slice(root.length);
}

/** Joins a path inside a filesystem ("/" or "/sub") onto a directory. */
export function joinWithin(dir: string, within: string): string {
  return within === '/' ? dir : normalizePath(dir + within);
}
