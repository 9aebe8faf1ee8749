// Standard output written synchronously (a report or a listing must be out before the process exits), waiting
// while a non-blocking pipe is full; any other failure is thrown for the caller to word.
import { writeSync } from 'node:fs';

export function writeAllStdout(text: string): void {
  const buf = Buffer.from(text);
  for (let off = 0; off < buf.length; ) {
    try {
      off += writeSync(1, buf, off);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10); // a non-blocking pipe is full: wait
    }
  }
}
