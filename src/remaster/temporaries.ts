// The new image a remaster writes beside the ISO lives only until xorriso has copied it: files listed here are
// removed by a signal handler (the CLI's), as the temporary outputs of src/pipeline/output-file.ts are.
import { unlinkSync } from 'node:fs';

const kept = new Set<string>();

export function keepTemporary(path: string): void {
  kept.add(path);
}

export function forgetTemporary(path: string): void {
  kept.delete(path);
}

/** Removes every temporary file still listed (safe from signal handlers). */
export function removeAllTemporaries(): void {
  for (const p of kept) {
    try {
      unlinkSync(p);
    } catch {
      /* already gone */
    }
  }
  kept.clear();
}
