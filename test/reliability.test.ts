// Signals, concurrent writers and failures: never a partial image, never a left-over temporary file,
// and an existing image stays intact.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { needs } from './helpers/capabilities.js';
import { tempDir } from './helpers/image-check.js';
import { bytes, dir, file } from './helpers/make-tree.js';
import { cli, cliPath } from './helpers/tools.js';

/** A source that takes a few seconds to compress on one job at level 9. */
function slowSource(root: string): void {
  dir(root);
  const words = bytes(1 << 20, 42, 40);
  for (let i = 0; i < 48; i++) file(join(root, `big${i}`), Buffer.concat([words, Buffer.from(String(i))]));
}

function leftovers(d: string): string[] {
  return readdirSync(d).filter((n) => n.includes('.tmp-') || n.endsWith('.lock'));
}

async function waitFor(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]] as const) {
  test(`${sig} removes the temporary file, keeps the existing image and exits ${code}`, { skip: needs('root') }, async () => {
    const t = tempDir();
    try {
      slowSource(join(t, 'src'));
      const out = join(t, 'out.sqfs');
      writeFileSync(out, 'previous image');
      const child = spawn(process.execPath, [cliPath, '--source', join(t, 'src'), out, '-q', '-j', '1', '-Xcompression-level', '9']);
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
      await waitFor(() => readdirSync(t).some((n) => n.includes('.tmp-')), 10000);
      await new Promise((r) => setTimeout(r, 200));
      child.kill(sig);
      assert.equal(await exited, code, stderr);
      assert.deepEqual(leftovers(t), []);
      assert.equal(readFileSync(out, 'utf8'), 'previous image');
      assert.match(stderr, new RegExp(sig));
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  });
}

test('a second writer of the same output fails clearly; the first completes', { skip: needs('root') }, async () => {
  const t = tempDir();
  try {
    slowSource(join(t, 'src'));
    const out = join(t, 'out.sqfs');
    const first = spawn(process.execPath, [cliPath, '--source', join(t, 'src'), out, '-q', '-j', '1', '-Xcompression-level', '9']);
    const firstExit = new Promise<number | null>((r) => first.on('exit', (c) => r(c)));
    await waitFor(() => existsSync(join(t, '.out.sqfs.lock')), 10000);
    const second = cli(['--source', join(t, 'src'), out, '-q']);
    assert.equal(second.status, 2);
    assert.match(second.stderr, /being written by another casper-snapshot/);
    assert.equal(await firstExit, 0);
    assert.deepEqual(leftovers(t), []);
    assert.equal(readFileSync(out).readUInt32LE(0), 0x73717368, 'the first writer produced an image');
  } finally {
    rmSync(t, { recursive: true, force: true });
  }
});

test('a stale lock from a dead process is taken over', { skip: needs('root') }, () => {
  const t = tempDir();
  try {
    dir(join(t, 'src'));
    file(join(t, 'src', 'f'), 'x');
    writeFileSync(join(t, '.out.sqfs.lock'), '999999999\n');
    const r = cli(['--source', join(t, 'src'), join(t, 'out.sqfs'), '-q']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(leftovers(t), []);
  } finally {
    rmSync(t, { recursive: true, force: true });
  }
});
