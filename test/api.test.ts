// The library API as an Electron remastering app uses it: progress, cancellation, a responsive event loop,
// typed errors, and the embedding options (nativeBinding, workerFilename, pool).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { Piscina } from 'piscina';
import {
  snapshot,
  verify,
  AbortError,
  CasperError,
  UsageError,
  defaultWorkerFilename,
  type Progress,
} from '../src/api/index.js';
import { needs } from './helpers/capabilities.js';
import { checkImage, tempDir } from './helpers/image-check.js';
import { bytes, dir, file } from './helpers/make-tree.js';
import { must, repoRoot, run } from './helpers/tools.js';
import { mixedTree } from './helpers/mixed-tree.js';

// Under scripts/sanitize.sh everything runs several times slower: timing assertions are skipped there.
const timing = process.env.CASPER_SANITIZE === '1' ? 'timing assertions are meaningless under ASan/UBSan' : false;

const addonPath = join(repoRoot, 'build', 'Release', 'casper_snapshot.node');

test(
  'snapshot() reports progress by phase and writes a kernel-readable image',
  { skip: needs('root', 'loop', 'squashfs-tools', 'squashfs-tools-ng') },
  async () => {
    const t = tempDir();
    try {
      mixedTree(join(t, 'src'), 2000, 8);
      const events: Progress[] = [];
      const report = await snapshot({
        source: join(t, 'src'),
        output: join(t, 'out.sqfs'),
        jobs: 2,
        onProgress: (p) => events.push(p),
      });
      const phases = [...new Set(events.map((e) => e.phase))];
      assert.deepEqual(phases, ['walk', 'data', 'tables', 'commit', 'done']);
      const data = events.filter((e) => e.phase === 'data');
      assert.ok(data.length > 1);
      for (let i = 1; i < data.length; i++)
        assert.ok(data[i].bytesIn >= data[i - 1].bytesIn, 'bytesIn never goes back');
      assert.equal(data[data.length - 1].bytesIn, report.sourceBytes);
      // The walk beside the data phase: its totals grow while walking, then are the report's.
      assert.ok(data.every((e) => e.rate >= 0));
      for (let i = 1; i < data.length; i++) assert.ok(data[i].entriesTotal >= data[i - 1].entriesTotal, 'totals grow');
      assert.ok(data.every((e) => e.walking || e.entriesTotal === report.sourceEntries));
      assert.equal(data[data.length - 1].walking, false);
      assert.ok(report.walk.besideData, 'the walk ran beside the data phase');
      assert.equal(report.image.types.files, 2008);
      checkImage(join(t, 'out.sqfs'), join(t, 'src'));
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  },
);

test(
  'an AbortSignal stops a large job within a second, removes the temporary file, keeps the old image',
  { skip: timing || needs('root') },
  async () => {
    const t = tempDir();
    try {
      mixedTree(join(t, 'src'), 100, 160);
      const out = join(t, 'out.sqfs');
      writeFileSync(out, 'hsqs: old image');
      const ac = new AbortController();
      // Aborted once the data phase has begun (the temporary file is there, the pool threads are compressing).
      let dataBegan!: () => void;
      const inData = new Promise<void>((r) => (dataBegan = r));
      const started = snapshot({
        source: join(t, 'src'),
        output: out,
        jobs: 1,
        compressionLevel: 9,
        signal: ac.signal,
        onProgress: (p) => p.phase === 'data' && dataBegan(),
      });
      await inData;
      assert.equal(
        readdirSync(t).filter((n) => n.startsWith('.out.sqfs.tmp-')).length,
        1,
        'the temporary file is being written',
      );
      const t0 = performance.now();
      ac.abort();
      await assert.rejects(started, (err: unknown) => {
        assert.ok(err instanceof AbortError, `got ${String(err)}`);
        assert.equal((err as AbortError).code, 'ABORT_ERR');
        return true;
      });
      const ms = performance.now() - t0;
      assert.ok(ms < 1000, `abort took ${ms.toFixed(0)} ms`);
      assert.equal(readFileSync(out, 'utf8'), 'hsqs: old image');
      assert.deepEqual(
        readdirSync(t).filter((n) => n.startsWith('.')),
        [],
      );
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  },
);

// The event loop's worst delay during a snapshot is a performance figure: measured by the bench
// (npm run bench -- --event-loop), not asserted by a timed test.

test(
  'errors are typed: UsageError before writing, CasperError with code and path',
  { skip: needs('root') },
  async () => {
    const t = tempDir();
    try {
      await assert.rejects(snapshot({ source: join(t, 'missing'), output: join(t, 'o.sqfs') }), UsageError);
      await assert.rejects(snapshot({ source: t, output: join(t, 'o.sqfs'), blockSize: 3000 }), /power of two/);
      await assert.rejects(
        snapshot({ source: t, output: join(t, 'o.sqfs'), compressor: 'lzma' as never }),
        /kernel cannot mount/,
      ); // not a CompressorName: refused at run time too
      dir(join(t, 'src'));
      dir(join(t, 'outdir'));
      await assert.rejects(snapshot({ source: join(t, 'src'), output: join(t, 'outdir') }), (err: unknown) => {
        assert.ok(err instanceof UsageError);
        assert.equal((err as CasperError).code, 'EUSAGE');
        assert.match((err as Error).message, /is a directory/);
        return true;
      });
      // A missing or read-only output directory is a usage error naming it; a runtime failure carries code,
      // path and syscall: a full output filesystem.
      file(join(t, 'src', 'f'), bytes(3 << 20, 5));
      await assert.rejects(
        snapshot({ source: join(t, 'src'), output: join(t, 'nowhere', 'o.sqfs') }),
        (err: unknown) => {
          assert.ok(err instanceof UsageError);
          assert.match((err as Error).message, /output directory '.*nowhere' does not exist/);
          return true;
        },
      );
      const ro = join(t, 'ro');
      dir(ro);
      must('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', ro]);
      try {
        await assert.rejects(snapshot({ source: join(t, 'src'), output: join(ro, 'o.sqfs') }), (err: unknown) => {
          assert.ok(err instanceof UsageError);
          assert.match((err as Error).message, /output directory '.*ro' is not writable \(a read-only file system\)/);
          return true;
        });
      } finally {
        run('umount', [ro]);
      }
      const full = join(t, 'full');
      dir(full);
      must('mount', ['-t', 'tmpfs', '-o', 'size=512k', 'tmpfs', full]);
      try {
        await assert.rejects(
          snapshot({ source: join(t, 'src'), output: join(full, 'o.sqfs'), noSpaceCheck: true }),
          (err: unknown) => {
            assert.ok(err instanceof CasperError && !(err instanceof UsageError));
            assert.equal((err as CasperError).code, 'ENOSPC');
            assert.equal((err as CasperError).syscall, 'write');
            assert.equal((err as CasperError).path, join(full, 'o.sqfs'));
            return true;
          },
        );
        assert.deepEqual(readdirSync(full), []);
        // Without noSpaceCheck the estimate refuses first; the message names the option in the library's terms.
        await assert.rejects(snapshot({ source: join(t, 'src'), output: join(full, 'o.sqfs') }), (err: unknown) => {
          assert.ok(err instanceof CasperError);
          assert.equal((err as CasperError).code, 'ENOSPC');
          assert.match((err as Error).message, /not enough free space .*; set noSpaceCheck: true to try anyway$/);
          assert.deepEqual((err as CasperError).remedy, { option: 'noSpaceCheck' });
          return true;
        });
      } finally {
        run('umount', [full]);
      }
      // Library messages speak the library's option names, never the CLI's spelling.
      writeFileSync(join(t, 'notes.txt'), 'precious');
      await assert.rejects(snapshot({ source: join(t, 'src'), output: join(t, 'notes.txt') }), (err: unknown) => {
        assert.ok(err instanceof UsageError);
        assert.doesNotMatch((err as Error).message, /--force|-noappend/);
        assert.match((err as Error).message, /not replaced; set force: true to replace it$/);
        return true;
      });
      assert.ok(!existsSync(join(t, 'o.sqfs')));
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  },
);

test(
  'embedding options: nativeBinding as a path or a loaded addon, workerFilename, a caller-owned pool',
  { skip: needs('root') },
  async () => {
    const t = tempDir();
    try {
      mixedTree(join(t, 'src'), 300, 2);
      const env = { SOURCE_DATE_EPOCH: '1700000000' };
      Object.assign(process.env, env);
      const base = await snapshot({ source: join(t, 'src'), output: join(t, 'a.sqfs') });
      const loaded = createRequire(import.meta.url)(addonPath);
      await snapshot({
        source: join(t, 'src'),
        output: join(t, 'b.sqfs'),
        nativeBinding: addonPath,
        workerFilename: defaultWorkerFilename,
      });
      await snapshot({ source: join(t, 'src'), output: join(t, 'c.sqfs'), nativeBinding: loaded });
      const pool = new Piscina({ filename: defaultWorkerFilename, maxThreads: 2 });
      try {
        await snapshot({ source: join(t, 'src'), output: join(t, 'd.sqfs'), pool });
        assert.ok(pool.threads.length > 0, 'the caller pool did the work');
      } finally {
        await pool.destroy();
      }
      const a = readFileSync(join(t, 'a.sqfs'));
      for (const n of ['b', 'c', 'd']) assert.ok(a.equals(readFileSync(join(t, `${n}.sqfs`))), `${n}.sqfs differs`);
      assert.equal(base.image.types.files, 302);
    } finally {
      delete process.env.SOURCE_DATE_EPOCH;
      rmSync(t, { recursive: true, force: true });
    }
  },
);

test('startSnapshot(): a handle that emits progress and done, and aborts', { skip: needs('root') }, async () => {
  const { startSnapshot } = await import('../src/api/index.js');
  const t = tempDir();
  try {
    mixedTree(join(t, 'src'), 200, 12);
    const job = startSnapshot({ source: join(t, 'src'), output: join(t, 'o.sqfs') });
    const phases = new Set<string>();
    job.on('progress', (p) => phases.add(p.phase));
    const done = new Promise((r) => job.on('done', r));
    const report = await job.done;
    assert.equal(await done, report);
    assert.ok(phases.has('data') && phases.has('done'));
    const aborted = startSnapshot({ source: join(t, 'src'), output: join(t, 'p.sqfs') });
    aborted.abort();
    await assert.rejects(aborted.done, AbortError);
    assert.ok(!existsSync(join(t, 'p.sqfs')));
  } finally {
    rmSync(t, { recursive: true, force: true });
  }
});

test(
  'an addon that cannot be loaded is a CasperError EADDON; verify() takes nativeBinding too',
  { skip: needs('root') },
  async () => {
    const t = tempDir();
    try {
      file(join(t, 'src', 'f'), 'x\n');
      await snapshot({ source: join(t, 'src'), output: join(t, 'o.sqfs') });
      const report = await verify(join(t, 'o.sqfs'), { nativeBinding: addonPath, dir: join(t, 'src') });
      assert.equal(report.identical, true);
      await verify(join(t, 'o.sqfs'), { nativeBinding: createRequire(import.meta.url)(addonPath) });
      writeFileSync(join(t, 'bogus.node'), 'not an ELF file');
      for (const run of [
        () => verify(join(t, 'o.sqfs'), { nativeBinding: join(t, 'bogus.node') }),
        () => snapshot({ source: join(t, 'src'), output: join(t, 'p.sqfs'), nativeBinding: join(t, 'bogus.node') }),
      ])
        await assert.rejects(run(), (err: unknown) => {
          assert.ok(err instanceof CasperError, String(err));
          assert.equal((err as CasperError).code, 'EADDON');
          assert.equal((err as CasperError).path, join(t, 'bogus.node'));
          return true;
        });
      // An installed package with no addon that loads: EADDON, saying what to do (not a bare Error).
      const pkg = join(t, 'pkg');
      cpSync(join(repoRoot, 'dist', 'cjs'), join(pkg, 'dist', 'cjs'), { recursive: true });
      writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: 'casper-snapshot', version: '0.0.0' }));
      const r = run(
        process.execPath,
        [
          '-e',
          `try { require(${JSON.stringify(join(pkg, 'dist', 'cjs', 'index.cjs'))}).loadAddon(); } catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message })); }`,
        ],
        {
          env: { ...process.env, CASPER_SNAPSHOT_ADDON: '' },
        },
      );
      const e = JSON.parse(r.stdout) as { name: string; code: string; message: string };
      assert.deepEqual([e.name, e.code], ['CasperError', 'EADDON']);
      assert.match(
        e.message,
        /prebuilt addon is for linux-x64 with glibc 2\.31 or later; elsewhere build it from source/,
      );
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  },
);
