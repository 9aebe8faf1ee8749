// The tree comparer's content check (native/compare/dir_compare.cc over util/same_bytes.h), reached through
// compareRestored: two directory trees, files of equal size read and compared byte for byte, in 1 MiB reads.
// No root needed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAddon } from '../src/native/addon.js';
import { tempDir } from './helpers/image-check.js';
import { must } from './helpers/tools.js';

const addon = loadAddon();

test('tree compare: files of the same size that differ anywhere (first byte, past the first MiB, last byte) are content differences; equal ones are not', async () => {
  const t = tempDir();
  try {
    const live = join(t, 'live');
    mkdirSync(live);
    const big = Buffer.alloc(3 * (1 << 20) + 17, 0x5a);
    writeFileSync(join(live, 'same.txt'), 'the same bytes\n');
    writeFileSync(join(live, 'first.txt'), 'a changed first byte\n');
    writeFileSync(join(live, 'big-same'), big);
    writeFileSync(join(live, 'big-middle'), big);
    writeFileSync(join(live, 'big-last'), big);
    writeFileSync(join(live, 'empty'), '');
    const restored = join(t, 'restored');
    cpSync(live, restored, { recursive: true, preserveTimestamps: true });
    writeFileSync(join(restored, 'first.txt'), 'A changed first byte\n');
    const middle = Buffer.from(big);
    middle[(1 << 20) + 5] ^= 1;
    writeFileSync(join(restored, 'big-middle'), middle);
    const last = Buffer.from(big);
    last[last.length - 1] ^= 1;
    writeFileSync(join(restored, 'big-last'), last);
    must('mksquashfs', [restored, join(t, 'img.sqfs'), '-quiet', '-no-progress']);
    const r = await addon.compareRestored(join(t, 'img.sqfs'), restored, live, { skip: [], ignore: ['mtime'] });
    assert.deepEqual(r.differences.map((d) => `${d.kind} ${d.path}`).sort(), [
      'content /big-last',
      'content /big-middle',
      'content /first.txt',
    ]);
  } finally {
    rmSync(t, { recursive: true, force: true });
  }
});
