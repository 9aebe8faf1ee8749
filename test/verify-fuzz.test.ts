// Mutation fuzzing of the reader: real images with bit flips, truncations, swapped table offsets and
// overwritten bytes. Every outcome must be a report (sound or corrupt) or a typed error: never a crash, a hang
// or a sanitizer report (scripts/sanitize.sh runs this file too). FUZZ_SEED=<n> replays a run;
// CASPER_VERIFY_FUZZ=<n> sets the number of mutations (default 400).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { verify } from '../src/api/index.js';
import { CasperError } from '../src/errors.js';
import { has, must } from './helpers/tools.js';
import { tempDir } from './helpers/image-check.js';
import { rng } from './helpers/fuzz.js';
import { bytes, file, hardlink, symlink } from './helpers/make-tree.js';
import { load } from './helpers/squashfs-surgery.js';
import { mutateImage } from './helpers/image-mutations.js';

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
    for (const [name, args] of [['mk-xz', ['-comp', 'xz', '-b', '8K']], ['mk-lz4', ['-comp', 'lz4']], ['mk-lzo', ['-comp', 'lzo', '-noI']]] as const) {
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
        const fail = (e: unknown) => assert.fail(`verify fuzz failed (FUZZ_SEED=${seed}, case ${i}: ${what}): ${(e as Error)?.stack ?? e}`);
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
