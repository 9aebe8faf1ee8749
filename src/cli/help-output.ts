// Help and other text for a reader that may stop early (`casper-snapshot verify --help | head -1`): written
// synchronously, and a closed pipe (EPIPE) ends the output quietly instead of an 'error' event and a stack.
import { writeSync } from 'node:fs';

export function writeHelp(text: string, fd = 1): void {
  const buf = Buffer.from(text);
  for (let off = 0; off < buf.length; ) {
    try {
      off += writeSync(fd, buf, off);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10); // a non-blocking pipe is full: wait
        continue;
      }
      if (code === 'EPIPE') return; // the reader has what it wanted
      throw err;
    }
  }
}
