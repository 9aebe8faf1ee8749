// /proc/swaps: "Filename Type Size Used Priority", paths escaped like mountinfo (\040 …).
import { unescapeOctal } from '../mount/mountinfo.js';

/** Swap files (not partitions) listed in /proc/swaps text; malformed lines are skipped. */
export function swapFiles(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 2 && f[1] === 'file' && f[0].startsWith('/')) out.push(unescapeOctal(f[0]));
  }
  return out;
}
