// The addon's calling conventions (native/bindings/): every async call rejects with a typed error (never
// resolves with { error }), typed-array arguments are checked, a call out of its order is EINTERNAL_ORDER (a
// bug, not a bad option), and a corrupt image's error names its table and offset. No root needed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdirSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAddon, type NativeImageOptions } from '../src/native/addon.js';
import { tempDir } from './helpers/image-check.js';
import { must } from './helpers/tools.js';

const addon = loadAddon();

const imageOptions: NativeImageOptions = {
  compressor: 'gzip',
  blockSize: 131072,
  fragments: 'default',
  dedup: true,
  exports: true,
  allRoot: false,
  mkfsTime: 0,
  ignoreErrors: false,
  outputPath: '/dev/null',
};

/** The error a promise rejects with (failing the test when it resolves). */
async function rejection(p: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    const v = await p;
    assert.fail(`resolved with ${JSON.stringify(v)}`);
  } catch (err) {
    if (err instanceof assert.AssertionError) throw err;
    return err as Error & Record<string, unknown>;
  }
}

test('native calls: verifyImage of an image that cannot be opened rejects with the errno error', async () => {
  const err = await rejection(addon.verifyImage('/nonexistent/casper-test.sqfs', {}));
  assert.ok(err instanceof Error);
  assert.equal(err.code, 'ENOENT');
  assert.equal(err.path, '/nonexistent/casper-test.sqfs');
  assert.equal(err.syscall, 'open');
});

test('native calls: a cancelled verifyImage rejects with ECANCELED', async () => {
  const t = tempDir();
  try {
    mkdirSync(join(t, 'src'));
    writeFileSync(join(t, 'src', 'f'), 'data');
    must('mksquashfs', [join(t, 'src'), join(t, 'x.sqfs'), '-quiet', '-no-progress']);
    const cancel = new Int32Array(new SharedArrayBuffer(4));
    cancel[0] = 1;
    const err = await rejection(addon.verifyImage(join(t, 'x.sqfs'), {}, cancel));
    assert.equal(err.code, 'ECANCELED');
  } finally {
    rmSync(t, { recursive: true, force: true });
  }
});

test("native calls: a corrupt image's error keeps its table and offset across the pool thread", async () => {
  const t = tempDir();
  try {
    writeFileSync(join(t, 'bad.sqfs'), Buffer.alloc(8192)); // no SquashFS magic
    mkdirSync(join(t, 'a'));
    const err = await rejection(
      addon.compareRestored(join(t, 'bad.sqfs'), join(t, 'a'), join(t, 'a'), { skip: [], ignore: [] }),
    );
    assert.ok(err instanceof Error);
    assert.equal(err.code, 'ESQUASH_CORRUPT');
    assert.equal(err.table, 'superblock');
    assert.equal(typeof err.offset, 'number');
    assert.match(err.message, /corrupt image: superblock/);
  } finally {
    rmSync(t, { recursive: true, force: true });
  }
});

test('native calls: typed-array arguments of another type or length are TypeErrors', () => {
  assert.throws(() => new addon.ImageBuilder(imageOptions, new Uint8Array(1) as unknown as Int32Array), {
    name: 'TypeError',
    message: /cancel must be an Int32Array/,
  });
  assert.throws(() => new addon.ImageBuilder(imageOptions, [0] as unknown as Int32Array), {
    name: 'TypeError',
    message: /cancel must be an Int32Array/,
  });
  assert.throws(() => addon.verifyImage('/x', {}, new Int32Array(1), new BigUint64Array(2)), {
    name: 'TypeError',
    message: /progress must be a BigUint64Array of at least 4/,
  });
  assert.throws(
    () =>
      addon.compareRestored('/x', '/y', '/z', { skip: [], ignore: [] }, new Float64Array(1) as unknown as Int32Array),
    {
      name: 'TypeError',
      message: /cancel must be an Int32Array/,
    },
  );
  const t = tempDir();
  try {
    const builder = new addon.ImageBuilder(imageOptions, new Int32Array(new SharedArrayBuffer(4)));
    assert.throws(
      () =>
        builder.walk(
          t,
          { xattrs: false, oneFileSystem: false, exclude: [], emptyDirs: [], excludeInodes: [], ignoreErrors: false },
          new BigUint64Array(1),
        ),
      {
        name: 'TypeError',
        message: /progress must be a BigUint64Array of at least 2/,
      },
    );
  } finally {
    rmSync(t, { recursive: true, force: true });
  }
});

test('native calls: a method out of its order is EINTERNAL_ORDER, not a bad option', async () => {
  const builder = new addon.ImageBuilder(imageOptions);
  const order = (fn: () => unknown, message: RegExp) =>
    assert.throws(fn, (e: unknown) => {
      assert.equal((e as { code?: string }).code, 'EINTERNAL_ORDER');
      assert.match((e as Error).message, message);
      return true;
    });
  order(() => builder.begin(1), /begin\(\) called out of order/);
  order(() => builder.treeInfo(), /treeInfo\(\) called out of order/);
  order(() => builder.leaveOut(new Uint32Array([1])), /leaveOut\(\) called out of order/);
  order(() => builder.finish(), /finish\(\) called out of order/);
  order(() => addon.runDataAsync(123456, imageOptions), /no data phase with this id is running/);
});

test('native calls: a failed data phase on libuv rejects runDataAsync with the typed error', async () => {
  const t = tempDir();
  try {
    mkdirSync(join(t, 'src'));
    writeFileSync(join(t, 'src', 'f'), Buffer.alloc(300_000, 7));
    const cancel = new Int32Array(new SharedArrayBuffer(4));
    const builder = new addon.ImageBuilder(imageOptions, cancel);
    await builder.walk(join(t, 'src'), {
      xattrs: false,
      oneFileSystem: false,
      exclude: [],
      emptyDirs: [],
      excludeInodes: [],
      ignoreErrors: false,
    });
    const fd = openSync(join(t, 'out.sqfs'), 'w');
    try {
      builder.begin(fd);
      const engine = builder.startData(2 << 20, 2, 0);
      Atomics.store(cancel, 0, 1); // the engine stops at its first step
      const err = await rejection(addon.runDataAsync(engine, imageOptions));
      assert.ok(err instanceof Error);
      assert.equal(err.code, 'ECANCELED');
      builder.endData();
    } finally {
      closeSync(fd);
    }
  } finally {
    rmSync(t, { recursive: true, force: true });
  }
});
