// Mutation fuzzing of the reader: real images with bit flips, truncations, swapped table offsets and
// overwritten bytes, and crafted hostile shapes (below). Every outcome must be a report (sound or corrupt) or a typed error: never a crash, a hang
// or a sanitizer report (scripts/sanitize.sh runs this file too). FUZZ_SEED=<n> replays a run;
// CASPER_VERIFY_FUZZ=<n> sets the number of mutations (default 400).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { verify } from '../src/api/index.js';
import { CasperError } from '../src/errors.js';
import { has, must, repoRoot } from './helpers/tools.js';
import { spawn } from 'node:child_process';
import { tempDir } from './helpers/image-check.js';
import { rng } from './helpers/fuzz.js';
import { bytes, file, hardlink, symlink } from './helpers/make-tree.js';
import { load } from './helpers/squashfs-surgery.js';
import { mutateImage } from './helpers/image-mutations.js';
import { craftedHostileImage } from './helpers/craft-image.js';

test('verify survives hundreds of mutated images with typed errors only', async (t) => {
  if (!has('mksquashfs')) return t.skip('mksquashfs not installed');
  const dir = tempDir('cs-vfuzz-');
  try {
    const src = join(dir, 'src');
    mkdirSync(src);
    file(join(src, 'text'), Buffer.from('fuzz the reader '.repeat(12000)));
    file(join(src, 'rand'), bytes(40_000, 5));
    file(join(src, 'small'), 'tiny');
    for (let i = 0; i < 40; i++) file(join(src, 'd', `name-${i}`), String(i).repeat(i + 1));
    hardlink(join(src, 'small'), join(src, 'd', 'small-link'));
    symlink('d/name-1', join(src, 'sym'));
    const seeds: Buffer[] = [];
    const cases: [string, string[]][] = [
      ['ours-gzip', ['--compressor', 'gzip', '-b', '4K']],
      ['ours-zstd', ['--compressor', 'zstd', '-b', '128K']],
    ];
    for (const [name, args] of cases) {
      const img = join(dir, `${name}.sqfs`);
      must(process.execPath, [join(process.cwd(), 'bin', 'casper-snapshot.js'), '--source', src, img, '-q', ...args]);
      seeds.push(load(img));
    }
    for (const [name, args] of [
      ['mk-xz', ['-comp', 'xz', '-b', '8K']],
      ['mk-lz4', ['-comp', 'lz4']],
      ['mk-lzo', ['-comp', 'lzo', '-noI']],
    ] as const) {
      const img = join(dir, `${name}.sqfs`);
      must('mksquashfs', [src, img, '-noappend', '-quiet', '-no-progress', ...args]);
      seeds.push(load(img));
    }
    for (const s of seeds) assert.equal((await verifyBuffer(dir, s)).ok, true);
    const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : Math.floor(Math.random() * 2 ** 31);
    const count = Number(process.env.CASPER_VERIFY_FUZZ ?? 400);
    const next = rng(seed);
    let corrupt = 0;
    for (let i = 0; i < count; i++) {
      const { data, what } = mutateImage(seeds[i % seeds.length], next);
      try {
        const r = await verifyBuffer(dir, data, i % 3 === 0 ? src : undefined);
        if (!r.ok) {
          corrupt++;
          for (const p of r.problems) {
            assert.ok(p.code === 'ESQUASH_CORRUPT' || p.code === 'EIO', `problem code ${p.code}: ${p.message}`);
            assert.match(p.message, /corrupt image: .+/);
          }
        }
      } catch (err) {
        const fail = (e: unknown) =>
          assert.fail(`verify fuzz failed (FUZZ_SEED=${seed}, case ${i}: ${what}): ${(e as Error)?.stack ?? e}`);
        if (!(err instanceof CasperError) || !['ENOMEM', 'EIO'].includes(err.code)) fail(err);
      }
    }
    assert.ok(corrupt > count / 4, `only ${corrupt} of ${count} mutations were found corrupt (FUZZ_SEED=${seed})`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

let n = 0;
async function verifyBuffer(dir: string, data: Buffer, compare?: string) {
  const img = join(dir, `case-${n++ % 4}.sqfs`);
  writeFileSync(img, data);
  return verify(img, { dir: compare, jobs: 2 });
}

// Hostile shapes the format lets an image declare in a few KiB (test/helpers/craft-image.ts): directory inodes
// sharing one listing, listings overlapping each other, files of up to 16 TiB of holes; each also mutated. The
// reader's work must stay bounded by the image: every case well under a minute, and at most 256 MiB of peak RSS
// (measured in a child process doing nothing else) for images all under 1 MiB. CASPER_VERIFY_FUZZ_CRAFTED sets
// the number of cases (default 40).
test('verify stays bounded on crafted shared listings, overlapping listings and huge sparse files, mutated too', async () => {
  const count = Number(process.env.CASPER_VERIFY_FUZZ_CRAFTED ?? 40);
  const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : Math.floor(Math.random() * 2 ** 31);
  const dir = tempDir('cs-vfuzz-crafted-');
  try {
    // Made here, verified in a child that does nothing else, so its peak RSS is the reader's.
    const next = rng(seed);
    const cases: { what: string; file: string }[] = [];
    let biggest = 0;
    for (let i = 0; i < count; i++) {
      let { what, data } = craftedHostileImage(next);
      if (next() < 0.5) {
        const m = mutateImage(data, next);
        data = m.data;
        what += `, ${m.what}`;
      }
      biggest = Math.max(biggest, data.length);
      const file = join(dir, `case-${i}.sqfs`);
      writeFileSync(file, data);
      cases.push({ what: `${i} ${what}`, file });
    }
    const script = `
      const { readFileSync } = await import('node:fs');
      const { verify } = await import(${JSON.stringify(join(repoRoot, 'dist/src/api/index.js'))});
      const { CasperError } = await import(${JSON.stringify(join(repoRoot, 'dist/src/errors.js'))});
      const cases = ${JSON.stringify(cases)};
      const out = { cases: 0, slowest: { ms: 0, what: '' }, failures: [] };
      for (const { what, file } of cases) {
        const t0 = performance.now();
        try {
          const r = await verify(file, { jobs: 2 });
          for (const p of r.problems) if (p.code !== 'ESQUASH_CORRUPT' && p.code !== 'EIO') out.failures.push(what + ': problem code ' + p.code);
        } catch (err) {
          if (!(err instanceof CasperError) || !['ENOMEM', 'EIO'].includes(err.code)) out.failures.push(what + ': ' + (err && err.stack || err));
        }
        const ms = performance.now() - t0;
        if (ms > out.slowest.ms) out.slowest = { ms, what };
        out.cases++;
      }
      out.peakKiB = Number(/VmHWM:\\s*(\\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]);
      process.stdout.write(JSON.stringify(out) + '\\n');`;
    const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const c = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      c.stdout.on('data', (d) => (stdout += d));
      c.stderr.on('data', (d) => (stderr += d));
      const timer = setTimeout(() => c.kill('SIGKILL'), 30 * 60 * 1000);
      c.on('exit', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
    assert.equal(r.code, 0, `the fuzz child failed (FUZZ_SEED=${seed}): ${r.stderr.slice(-3000)}`);
    const res = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
      cases: number;
      slowest: { ms: number; what: string };
      failures: string[];
      peakKiB: number;
    };
    if (process.env.CASPER_FUZZ_VERBOSE) console.log(JSON.stringify(res));
    assert.deepEqual(res.failures, [], `FUZZ_SEED=${seed}`);
    assert.equal(res.cases, count);
    assert.ok(biggest < 1 << 20, `an image of ${biggest} bytes: the bound is stated for images under 1 MiB`);
    // Peak RSS means nothing under ASan (shadow memory, quarantine).
    if (process.env.CASPER_SANITIZE !== '1')
      assert.ok(res.peakKiB <= 256 * 1024, `peak RSS ${res.peakKiB} KiB (FUZZ_SEED=${seed})`);
    // A hang detector, not a benchmark: the slowest case takes well under a second on a quiet machine.
    if (process.env.CASPER_SANITIZE !== '1')
      assert.ok(
        res.slowest.ms < 60_000,
        `case ${res.slowest.what} took ${Math.round(res.slowest.ms)} ms (FUZZ_SEED=${seed})`,
      );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
