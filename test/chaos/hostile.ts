// What the chaos run's source holds besides its plain files, as an ordinary user could make it: names made to
// forge lines and send escapes (and bytes that are not UTF-8, and the longest a name may be), and a chain of
// directories deeper than PATH_MAX with chaos files at the bottom. Paths that deep are reached through the held
// directories (/proc/self/fd/N/name), never as one path.
import { closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Names any user can give a file. */
export const HOSTILE_NAMES: Buffer[] = [
  Buffer.from('a\ncasper-snapshot: warning: FORGED all is well'),
  Buffer.from('esc\x1b[31mred\x1b]0;title\x07'),
  Buffer.concat([Buffer.from('latin1-'), Buffer.from([0xe9, 0xff, 0xfe])]),
  Buffer.from('back\\slash\ttab'),
  Buffer.from('n'.repeat(255)),
];

/** The deep chain: DEEP_LEVELS directories of 250-byte names under src/deep (over 5,000 bytes of path). */
export const DEEP_LEVELS = 20;
export const deepName = (k: number) => `${String(k).padStart(3, '0')}${'d'.repeat(247)}`;

/** A path as the kernel and the addon take it: a directory fd's magic link and one name. */
export const at = (dirFd: number, name: string | Buffer) =>
  typeof name === 'string'
    ? `/proc/self/fd/${dirFd}/${name}`
    : Buffer.concat([Buffer.from(`/proc/self/fd/${dirFd}/`), name]);

/** Opens directories one level at a time from `root` through `names` (held fds, closed by the caller); null when one is gone. */
export function openChain(root: string, names: string[]): number[] | null {
  const fds: number[] = [];
  try {
    fds.push(openSync(root, 'r'));
    for (const n of names) fds.push(openSync(at(fds[fds.length - 1], n), 'r'));
    return fds;
  } catch {
    for (const fd of fds) closeSync(fd);
    return null;
  }
}

/** Makes src/deep/<DEEP_LEVELS levels> and writes files at the bottom with write(name, dirFd). */
export function makeDeepChain(src: string, write: (dirFd: number) => void): void {
  mkdirSync(join(src, 'deep'));
  let fd = openSync(join(src, 'deep'), 'r');
  for (let k = 0; k < DEEP_LEVELS; k++) {
    mkdirSync(at(fd, deepName(k)));
    const next = openSync(at(fd, deepName(k)), 'r');
    closeSync(fd);
    fd = next;
  }
  try {
    write(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes data under a raw name in a directory. */
export function writeAt(dirFd: number, name: string | Buffer, data: Buffer): void {
  writeFileSync(at(dirFd, name), data);
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A name or path as casper-snapshot's messages show it (native/util/printable.cc): backslash, C0, DEL and C1 and
 * bytes that are not UTF-8 escaped.
 */
export function shown(b: Buffer): string {
  let out = '';
  for (let i = 0; i < b.length; ) {
    const c = b[i];
    if (c >= 0x20 && c < 0x7f && c !== 0x5c) {
      out += String.fromCharCode(c);
      i++;
      continue;
    }
    if (c >= 0x80) {
      const len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
      if (len && i + len <= b.length) {
        try {
          const s = UTF8.decode(b.subarray(i, i + len));
          if (!(s.length === 1 && s.charCodeAt(0) <= 0x9f)) {
            out += s;
            i += len;
            continue;
          }
        } catch {
          /* not UTF-8: escaped below */
        }
      }
    }
    out += c === 0x5c ? '\\\\' : c === 0x0a ? '\\n' : c === 0x09 ? '\\t' : `\\${c.toString(8).padStart(3, '0')}`;
    i++;
  }
  return out;
}
