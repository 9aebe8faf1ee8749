// A tree of many small files in 50 directories plus some 1 MiB files: the library tests' workload.
// Also run as a script (`node mixed-tree.js ROOT FILES BIG_MIB`) to build a large tree in a child
// process, so the test process's heap (and its garbage-collection pauses) stays small.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bytes, dir, file } from './make-tree.js';

export function mixedTree(root: string, files: number, bigMiB: number): void {
  dir(root);
  for (let i = 0; i < files; i++) file(join(root, `d${i % 50}`, `f${i}`), bytes(200 + (i % 3000), i, 48));
  const chunk = bytes(1 << 20, 7, 40);
  for (let i = 0; i < bigMiB; i++) file(join(root, 'big', `b${i}`), Buffer.concat([chunk, Buffer.from(String(i))]));
}

export const mixedTreeScript = fileURLToPath(import.meta.url);

if (process.argv[1] === mixedTreeScript) mixedTree(process.argv[2], Number(process.argv[3]), Number(process.argv[4]));
