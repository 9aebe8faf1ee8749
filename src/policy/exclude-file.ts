// -ef FILE: one exclude entry per line. Blank lines and lines whose first non-blank character is '#'
// are skipped; surrounding whitespace and a CR from CRLF files are removed (mksquashfs keeps trailing
// blanks; names really ending in a blank can be written with a wildcard and -wildcards). A line
// starting with a literal '#' is written '\#'.
import { readFileSync } from 'node:fs';
import { UsageError } from '../errors.js';

export interface ExcludeLine {
  text: string;
  /** "FILE:LINE", for messages. */
  origin: string;
}

export function parseExcludeFile(text: string, file: string): ExcludeLine[] {
  const out: ExcludeLine[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    out.push({ text: line, origin: `${file}:${i + 1}` });
  });
  return out;
}

/** Reads and parses an exclude file; an unreadable file is a UsageError naming it. */
export function readExcludeFile(file: string): ExcludeLine[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`exclude file '${file}' cannot be read: ${(err as Error).message}`);
  }
  return parseExcludeFile(text, file);
}
