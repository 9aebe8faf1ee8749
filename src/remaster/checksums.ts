// The medium's checksum files (md5sum.txt, sha256sum.txt: "HASH  ./path" per line, as md5sum/sha256sum write
// them) edited, not rebuilt: lines of files carried over unchanged stay as the base has them (their bytes
// are copied from the base as they are), lines of replaced files get the new file's hash, lines of files left
// out go, files added get a line. Only the new files are read.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { ChecksumFile } from './layout.js';

export type Algorithm = ChecksumFile['algorithm'];

/** Hashes of one file with several algorithms, in one read. */
export async function hashFile(
  path: string,
  algorithms: Algorithm[],
  signal?: AbortSignal,
): Promise<Record<Algorithm, string>> {
  const hashes = algorithms.map((a) => [a, createHash(a)] as const);
  const stream = createReadStream(path, { highWaterMark: 1 << 20, signal });
  for await (const chunk of stream) for (const [, h] of hashes) h.update(chunk as Buffer);
  const out = {} as Record<Algorithm, string>;
  for (const [a, h] of hashes) out[a] = h.digest('hex');
  return out;
}

export interface ChecksumEdit {
  text: string;
  /** ISO paths whose line got a new hash, whose line was dropped, which got a new line. */
  updated: string[];
  dropped: string[];
  added: string[];
}

const LINE = /^([0-9a-fA-F]+)( [ *])(\.?\/?)(.*)$/;

/**
 * Edits a checksum file: `hashes` gives the new hash of each replaced or added file (ISO path), `removed` the
 * files left out. Added files (in `hashes`, without a line) are appended in the base's path style.
 */
export function editChecksums(text: string, hashes: Map<string, string>, removed: Set<string>): ChecksumEdit {
  const edit: ChecksumEdit = { text: '', updated: [], dropped: [], added: [] };
  const seen = new Set<string>();
  let style = { sep: '  ', prefix: './' };
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = LINE.exec(line);
    if (!m) {
      if (line !== '') out.push(line);
      continue;
    }
    const [, hash, sep, prefix, rest] = m;
    style = { sep, prefix };
    const path = '/' + rest;
    seen.add(path);
    if (removed.has(path)) {
      edit.dropped.push(path);
      continue;
    }
    const now = hashes.get(path);
    if (now !== undefined && now !== hash.toLowerCase()) edit.updated.push(path);
    out.push(now !== undefined ? `${now}${sep}${prefix}${rest}` : line);
  }
  for (const [path, hash] of [...hashes].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (seen.has(path) || removed.has(path)) continue;
    out.push(`${hash}${style.sep}${style.prefix}${path.slice(1)}`);
    edit.added.push(path);
  }
  edit.text = out.map((l) => l + '\n').join('');
  return edit;
}
