// What a new user meets first: no silent full capture of a system that is not live, a progress bar that
// fills, mksquashfs habits (SOURCE DEST, trailing -e) answered, --json failures as JSON, no stack traces
// for usage errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { needs } from './helpers/capabilities.js';
import { tempDir } from './helpers/image-check.js';
import { bytes, file } from './helpers/make-tree.js';
import { cli, must } from './helpers/tools.js';
import { snapshot, type Progress } from '../src/api/index.js';
import { eta } from '../src/cli/progress.js';

function tree(): { t: string; src: string } {
  const t = tempDir('cs-first-');
  const src = join(t, 'src');
  file(join(src, 'a', 'f'), 'f\n');
  file(join(src, 'b', 'g'), 'g\n');
  file(join(src, 'keep'), 'keep\n');
  return { t, src };
}

function listing(img: string): string[] {
  return must('unsquashfs', ['-l', '-d', '', img])
    .split('\n')
    .filter((l) => l.startsWith('/'))
    .sort();
}

test(
  'a root that is not a live system needs --source or an explicit --mode full',
  { skip: needs('root', 'squashfs-tools') },
  () => {
    const { t, src } = tree();
    const out = join(t, 'o.sqfs');
    const r = cli(['--root', src, out]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /is not a live system/);
    assert.match(r.stderr, new RegExp(`--source ${src} OUTPUT`));
    assert.match(r.stderr, /--mode full OUTPUT/);
    assert.ok(!existsSync(out), 'an image was written');
    assert.deepEqual(readdirSync(t).sort(), ['src'], 'a temporary file was left');
    const full = cli(['--root', src, '--mode', 'full', out, '-q']);
    assert.equal(full.status, 0, full.stderr);
    assert.deepEqual(listing(out), ['/a', '/a/f', '/b', '/b/g', '/keep']);
  },
);

test(
  '-e takes one path per use; after the output, mksquashfs-style -e takes all that follow',
  { skip: needs('root', 'squashfs-tools') },
  () => {
    const { t, src } = tree();
    const one = join(t, 'one.sqfs');
    let r = cli(['--source', src, '-e', 'a', one, '-q']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(listing(one), ['/b', '/b/g', '/keep']);
    const rep = join(t, 'rep.sqfs');
    r = cli(['--source', src, '-e', 'a', '--exclude', 'b', rep, '-q']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(listing(rep), ['/keep']);
    const trailing = join(t, 'trailing.sqfs');
    r = cli(['--source', src, trailing, '-q', '-e', 'a', 'b']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(listing(trailing), ['/keep']);
  },
);

test("mksquashfs's SOURCE DEST order gets a hint to use --source", () => {
  const { t, src } = tree();
  const r = cli([src, join(t, 'o.sqfs')]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, new RegExp(`casper-snapshot --source ${src} ${join(t, 'o.sqfs')}`));
  const one = cli([src]);
  assert.equal(one.status, 1);
  assert.match(one.stderr, new RegExp(`'${src}' is a directory: to capture it, type casper-snapshot --source ${src}`));
});

test(
  '--json failures print one JSON error object on stdout; -d prints no stack for usage errors',
  { skip: needs('root') },
  () => {
    const { t, src } = tree();
    for (const args of [
      ['--json'],
      ['--json', src, join(t, 'o.sqfs')],
      ['--json', '--compressor', 'nope', '--source', src, join(t, 'o.sqfs')],
      ['--json', '--source', join(t, 'missing'), join(t, 'o.sqfs')],
    ]) {
      const r = cli(args);
      assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
      const doc = JSON.parse(r.stdout) as {
        schemaVersion: number;
        error: { code: string; message: string; exitCode: number };
      };
      assert.equal(doc.schemaVersion, 1);
      assert.equal(doc.error.exitCode, 1);
      assert.equal(doc.error.code, 'EUSAGE');
      assert.ok(doc.error.message.length > 10, doc.error.message);
    }
    // (An unwritable output directory is a usage error like a missing one: test/terminal.test.ts.)
    for (const args of [['-d'], ['-d', '--source', join(t, 'missing'), join(t, 'o.sqfs')]]) {
      const r = cli(args);
      assert.equal(r.status, 1);
      assert.doesNotMatch(r.stderr, /\n\s+at /, `a stack trace for ${args.join(' ')}`);
    }
  },
);

test(
  'progress events carry the totals from the walk; the CLI bar fills with a percentage and an ETA',
  { skip: needs('root') },
  async () => {
    const t = tempDir('cs-first-');
    const src = join(t, 'src');
    for (let i = 0; i < 6; i++) file(join(src, `f${i}.bin`), bytes(4 * 1024 * 1024, i + 1, 20));
    const events: Progress[] = [];
    const r = await snapshot({
      source: src,
      output: join(t, 'o.sqfs'),
      compressor: 'xz',
      jobs: 2,
      onProgress: (p) => events.push({ ...p }),
    });
    const data = events.filter((e) => e.phase === 'data');
    assert.ok(data.length > 0, 'no data-phase events');
    for (const e of data) {
      // While the walk runs beside the data phase (walking), the totals are what it has found so far.
      if (e.walking) {
        assert.ok(e.bytesTotal <= r.sourceBytes && e.entriesTotal <= r.sourceEntries, JSON.stringify(e));
      } else {
        assert.equal(e.bytesTotal, r.sourceBytes);
        assert.equal(e.entriesTotal, r.sourceEntries);
      }
      assert.ok(e.bytesIn <= e.bytesTotal);
    }
    assert.equal(data.at(-1)!.walking, false, 'the last data event has the final totals');
    assert.ok(
      data.some((e) => e.bytesIn > 0 && e.bytesIn < e.bytesTotal),
      'no event part-way through the data phase',
    );
    const done = events.at(-1)!;
    assert.equal(done.phase, 'done');
    assert.equal(done.bytesIn, done.bytesTotal);

    const c = cli(['--source', src, join(t, 'p.sqfs'), '--compressor', 'xz', '--progress'], { NO_COLOR: '1' });
    assert.equal(c.status, 0, c.stderr);
    const lines = c.stderr.split('\n').filter((l) => l.startsWith('data'));
    assert.ok(lines.length > 0, `no data lines:\n${c.stderr}`);
    const percents = lines.map((l) => Number(/\]\s+(\d+)%/.exec(l)?.[1]));
    assert.ok(
      percents.some((p) => p > 0 && p < 100),
      `the bar never filled part-way: ${percents.join(' ')}`,
    );
    assert.ok(
      lines.every((l) => / ETA (\d+:\d\d|--:--)$/.test(l)),
      lines.join('\n'),
    );
    assert.ok(
      lines.some((l) => /#{3,}-/.test(l)),
      'no partly filled bar',
    );
  },
);

test('eta(): time left at the current rate', () => {
  assert.equal(eta({ bytesIn: 0, bytesTotal: 100, rate: 0 }), '--:--');
  assert.equal(eta({ bytesIn: 50, bytesTotal: 100, rate: 1 }), '0:50');
  assert.equal(eta({ bytesIn: 0, bytesTotal: 3600, rate: 10 }), '6:00');
  assert.equal(eta({ bytesIn: 100, bytesTotal: 100, rate: 5 }), '0:00');
});
