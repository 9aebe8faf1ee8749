// The benchmark harness end to end on a tiny tree (--quick, 1 rep), so that it cannot silently rot.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './helpers/image-check.js';
import { dir, file, symlink } from './helpers/make-tree.js';
import { has, repoRoot, run } from './helpers/tools.js';

const missing = ['mksquashfs', 'gensquashfs', 'sqfsdiff'].filter((t) => !has(t));
const skip = missing.length ? `${missing.join(', ')} not installed` : false;

test('bench --quick on a tiny tree writes JSON and markdown with ratios and a passing sqfsdiff', { skip }, () => {
  const t = tempDir('cs-bench-');
  try {
    const src = join(t, 'src');
    dir(src);
    file(join(src, 'a.txt'), 'hello bench\n'.repeat(1000));
    file(join(src, 'sub/b.bin'), Buffer.alloc(200_000, 7));
    file(join(src, 'sub/deeper/c'), 'c');
    symlink('a.txt', join(src, 'link'));
    const results = join(t, 'results');
    const r = run(process.execPath, [
      join(repoRoot, 'dist', 'bench', 'run.js'),
      '--quick',
      '--generated',
      'none',
      '--corpus',
      src,
      '--workdir',
      join(t, 'work'),
      '--results-dir',
      results,
    ]);
    assert.equal(r.status, 0, `bench failed:\n${r.stderr}\n${r.stdout}`);
    assert.match(r.stdout, /\| corpus \| input MiB \|/, 'the results table is printed');

    const files = readdirSync(results);
    const json = files.find((f) => /^results-.*\.json$/.test(f));
    assert.ok(json, `no results-*.json in ${files.join(', ')}`);
    assert.ok(files.some((f) => /^results-.*\.md$/.test(f)) && files.includes('latest.md') && files.includes('latest.json'), files.join(', '));

    const doc = JSON.parse(readFileSync(join(results, json), 'utf8'));
    assert.equal(doc.schema, 1);
    assert.equal(doc.options.reps, 1);
    assert.deepEqual(doc.tools.map((x: { name: string }) => x.name), ['casper-snapshot', 'mksquashfs', 'gensquashfs']);
    assert.equal(doc.groups.length, 1);
    const g = doc.groups[0];
    assert.equal(g.corpus, src);
    assert.equal(g.settings.comp, 'gzip');
    // one warm-up and one timed run per tool, all successful, with measurements
    assert.equal(g.runs.length, 6);
    for (const x of g.runs) {
      assert.equal(x.exitCode, 0, `${x.tool} failed: ${x.output}`);
      assert.ok(x.wallS > 0 && x.imageBytes > 0, JSON.stringify(x));
    }
    for (const s of g.summary) assert.ok(s.wallS > 0 && s.imageBytes > 0 && s.throughputMiBs > 0, JSON.stringify(s));
    assert.deepEqual(g.ratios.map((x: { peer: string }) => x.peer), ['mksquashfs', 'gensquashfs']);
    for (const x of g.ratios) {
      assert.ok(x.throughput > 0 && x.size > 0, JSON.stringify(x));
      assert.equal(x.sqfsdiff.exitCode, 0, `sqfsdiff against ${x.peer}: ${x.sqfsdiff.output}`);
      assert.equal(x.sqfsdiff.pass, true);
    }
    const md = readFileSync(join(results, 'latest.md'), 'utf8');
    assert.match(md, /## casper-snapshot against each peer/);
    assert.match(md, /\| mksquashfs \| \d+\.\d+ \| \d+\.\d+ \|.*pass \(exit 0\)/);
    // the images are removed after each group; the work directory keeps nothing but the empty output folder
    assert.deepEqual(readdirSync(join(t, 'work', 'out')), []);
    assert.ok(!existsSync(join(t, 'work', 'tmpfs')));
  } finally {
    rmSync(t, { recursive: true, force: true });
  }
});
