// The benchmark harness end to end on a tiny tree (--quick, 1 rep), so that it cannot silently rot.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './helpers/image-check.js';
import { dir, file, symlink } from './helpers/make-tree.js';
import { has, repoRoot, run } from './helpers/tools.js';
import { diffText } from '../bench/report.js';
import { amdahlEfficiency, projectedEfficiency, type Shares } from '../bench/targets.js';

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
    assert.ok(
      files.some((f) => /^results-.*\.md$/.test(f)) && files.includes('latest.md') && files.includes('latest.json'),
      files.join(', '),
    );

    const doc = JSON.parse(readFileSync(join(results, json), 'utf8'));
    assert.equal(doc.schema, 1);
    assert.equal(doc.options.reps, 1);
    assert.deepEqual(
      doc.tools.map((x: { name: string }) => x.name),
      ['casper-snapshot', 'mksquashfs', 'gensquashfs'],
    );
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
    assert.deepEqual(
      g.ratios.map((x: { peer: string }) => x.peer),
      ['mksquashfs', 'gensquashfs'],
    );
    for (const x of g.ratios) {
      assert.ok(x.throughput > 0 && x.size > 0, JSON.stringify(x));
      assert.equal(x.sqfsdiff.exitCode, 0, `sqfsdiff against ${x.peer}: ${x.sqfsdiff.output}`);
      assert.equal(x.sqfsdiff.pass, true);
    }
    // Level-matched by default: every tool at mksquashfs's gzip level, 9.
    assert.equal(doc.options.level, 'matched');
    assert.deepEqual(
      g.summary.map((s: { level: { level: number } }) => s.level.level),
      [9, 9, 9],
    );
    const md = readFileSync(join(results, 'latest.md'), 'utf8');
    assert.match(md, /## Headline: casper-snapshot against mksquashfs[\s\S]*\| gzip \| \d+ \| matched \(9\) \|/);
    assert.ok(md.indexOf('## Headline') < md.indexOf('## Results (medians)'), 'the level-matched headline leads');
    assert.match(md, /- Settings: block size 131072, jobs \d+, levels matched/);
    // The picture next to the markdown: ratio bars per compressor, 1.0 marked.
    const svg = readFileSync(join(results, 'latest.svg'), 'utf8');
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.match(svg, /Throughput ratio per compressor/);
    assert.equal(
      (svg.match(/<rect x="[\d.]+" y="[\d.]+" width="[\d.]+" height="[\d.]+" fill="#(4e79a7|f28e2b)"><title>/g) ?? [])
        .length,
      2,
      'one bar per peer',
    );
    assert.ok(files.some((f) => /^results-.*\.svg$/.test(f)));
    assert.match(md, /## casper-snapshot against each peer/);
    assert.match(md, /\| mksquashfs \| \d+\.\d+ \| \d+\.\d+ \|.*pass \(exit 0\)/);
    // the images are removed after each group; the work directory keeps nothing but the empty output folder
    assert.deepEqual(readdirSync(join(t, 'work', 'out')), []);
    assert.ok(!existsSync(join(t, 'work', 'tmpfs')));
  } finally {
    rmSync(t, { recursive: true, force: true });
  }
});

// --targets on a tiny tree: the harness runs every option set and prints one line per target with its goal and a
// verdict. The verdicts themselves are not checked: performance is never asserted by tests.
test('bench --targets all prints every target line with its goal and a verdict', { skip }, () => {
  const t = tempDir('cs-bench-targets-');
  try {
    const src = join(t, 'src');
    dir(src);
    file(join(src, 'a.txt'), 'hello targets\n'.repeat(2000));
    file(join(src, 'sub/b.bin'), Buffer.alloc(150_000, 3));
    symlink('a.txt', join(src, 'link'));
    const results = join(t, 'results');
    const r = run(process.execPath, [
      join(repoRoot, 'dist', 'bench', 'run.js'),
      '--targets',
      'all',
      '--quick',
      '--scale',
      '0.001',
      '--warmups',
      '0',
      '--tiny-runs',
      '2',
      '--corpus',
      src,
      '--locale',
      src,
      '--tiny',
      join(src, 'sub'),
      '--workdir',
      join(t, 'work'),
      '--results-dir',
      results,
    ]);
    assert.equal(r.status, 0, `bench failed:\n${r.stderr}\n${r.stdout}`);
    assert.match(r.stdout, /## Targets/);
    const row = (set: string, what: RegExp, goal: string) =>
      assert.match(
        r.stdout,
        new RegExp(
          `^\\| ${set} \\| ${what.source}[^|]* \\| ${goal.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\| [^|]+ \\| (PASS|\\*\\*MISS\\*\\*|info) \\|$`,
          'm',
        ),
        `no ${set} line for ${what}`,
      );
    for (const comp of ['gzip', 'xz', 'zstd', 'lz4', 'lzo']) {
      row('serial', new RegExp(`${comp} on .*: --jobs 2 vs --jobs 1 throughput`), '≥ 1.80×');
      row(
        'serial',
        new RegExp(`${comp} on .*: serial share at --jobs 1 → Amdahl efficiency at 16 threads`),
        comp === 'lz4' ? '≥ 60 %' : '≥ 85 %',
      );
      row('serial', new RegExp(`${comp} on .*: image identical at --jobs 1 and --jobs 2`), 'same bytes');
    }
    for (const comp of ['gzip', 'zstd', 'xz', 'lz4'])
      row(
        'serial',
        new RegExp(
          `${comp} on many \\(generated, \\d+ entries\\): serial share at --jobs 1 → Amdahl efficiency at 16 threads`,
        ),
        comp === 'lz4' ? '≥ 60 %' : '≥ 85 %',
      );
    for (const comp of ['zstd', 'xz']) {
      row('codecs', new RegExp(`${comp} on .*: throughput vs mksquashfs`), '≥ 1.25×');
      row('codecs', new RegExp(`${comp} on .*: throughput vs gensquashfs`), '≥ 1.15×');
      row('codecs', new RegExp(`${comp} on .*: image size vs mksquashfs`), '≤ 1.002×');
    }
    for (const comp of ['lz4', 'lz4 -Xhc', 'lzo'])
      row('codecs', new RegExp(`${comp} on .*: throughput vs mksquashfs`), '≥ 1.20×');
    row('gzip9', /gzip level 9 on .*: throughput vs mksquashfs/, '≥ 1.50×');
    row('tiny', /--source .*: wall vs a bare `node -e 0`/, '≤ 1.60×');
    row('rss', /gzip on .*src: peak RSS vs mksquashfs/, '≤ 0.75×');
    row('rss', /gzip on small \(generated, \d+ entries\): peak RSS vs mksquashfs/, '≤ 0.75×');
    row(
      'rss',
      /gzip on many \(generated, \d+ entries\): peak RSS per entry vs mksquashfs/,
      '≤ 1.00× (bytes per entry)',
    );
    for (const comp of ['gzip', 'zstd', 'xz'])
      row('efficiency', new RegExp(`${comp} on .*, \\d+ jobs: wall vs CPU ÷ jobs`), '≤ 1.10×');

    const doc = JSON.parse(readFileSync(join(results, 'latest.json'), 'utf8'));
    assert.deepEqual(doc.options.targets, ['serial', 'codecs', 'gzip9', 'tiny', 'rss', 'efficiency']);
    assert.ok(doc.targets.length >= 30, `${doc.targets.length} target lines`);
    // our runs carry the pipeline's own figures (phase times, main-thread and writer CPU) for the profiles
    const ours = doc.groups.flatMap((g: { runs: { tool: string; profile?: unknown }[] }) =>
      g.runs.filter((x) => x.tool === 'casper-snapshot'),
    );
    assert.ok(ours.length > 0, 'no casper-snapshot runs');
    for (const x of ours) {
      const p = x.profile as {
        times: { total: number };
        pipeline: Record<'cpuMs' | 'mainCpuMs' | 'writerCpuMs' | 'writerHeldMs', unknown>;
      };
      assert.ok(p && p.times.total > 0, JSON.stringify(x));
      const w = (p as { walk?: { besideData: unknown; cpuMs: unknown } }).walk;
      assert.ok(
        w && typeof w.besideData === 'boolean' && typeof w.cpuMs === 'number',
        `the walk's figures: ${JSON.stringify(x)}`,
      );
      const pl = p.pipeline;
      const why = JSON.stringify(pl);
      // Each figure is measured (a number, not null or missing: the efficiency target needs all four) …
      for (const k of ['cpuMs', 'mainCpuMs', 'writerCpuMs', 'writerHeldMs'] as const)
        assert.ok(typeof pl[k] === 'number' && Number.isFinite(pl[k]) && pl[k] >= 0, `${k}: ${why}`);
      const { cpuMs, mainCpuMs, writerCpuMs, writerHeldMs } = pl as Record<keyof typeof pl, number>;
      // … and they are parts of one another, not their values: the main thread's CPU and the lock holders' CPU
      // are within the process's (a small allowance for the clocks being read a few instructions apart), and a
      // thread's CPU while it held the lock is within the wall time the lock was held.
      const slack = (ms: number) => ms * 1.02 + 2;
      assert.ok(mainCpuMs <= slack(cpuMs), `main-thread CPU over the process's: ${why}`);
      assert.ok(writerCpuMs <= slack(cpuMs), `writer CPU over the process's: ${why}`);
      assert.ok(writerCpuMs <= slack(writerHeldMs), `writer CPU over the time the lock was held: ${why}`);
    }
    assert.deepEqual(readdirSync(join(t, 'work', 'out')), []);
  } finally {
    rmSync(t, { recursive: true, force: true });
  }
});

test(
  'bench results go to an ignored folder by default: a run leaves the tracked tree clean',
  { skip: !has('git') && 'git not installed' },
  () => {
    const r = run('git', [
      '-C',
      repoRoot,
      'check-ignore',
      'bench/results/runs/results-x.md',
      'bench/results/runs/latest.svg',
    ]);
    assert.equal(r.status, 0, 'bench/results/runs/ is not ignored');
    const help = run(process.execPath, [join(repoRoot, 'dist', 'bench', 'run.js'), '--help']).stdout;
    assert.match(help, /--results-dir <dir>[\s\S]*default[\s\S]*bench\/results\/runs/);
  },
);

test('the 16-thread projection: Amdahl without a walk beside the data phase; with one, never shorter than the walk', () => {
  const sh: Shares = {
    cpuS: 10,
    mainS: 0.05,
    writerS: 0.05,
    outsideS: 0.1,
    tablesParallelS: 0,
    f: 0.02,
    walkBesideS: 0,
  };
  const near = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} != ${b}`);
  near(projectedEfficiency(sh, 16), amdahlEfficiency(0.02, 16));
  // A walk shorter than the rest spread over 16 threads ((10 - 0.2) / 16 = 0.61 s) costs nothing …
  near(projectedEfficiency({ ...sh, walkBesideS: 0.5 }, 16), amdahlEfficiency(0.02, 16));
  // … a longer one is the floor: 10 s of CPU in no less than 0.2 + 2 s.
  near(projectedEfficiency({ ...sh, walkBesideS: 2 }, 16), 10 / (16 * 2.2));
});

test('a harmless inode-form difference is not a FAIL; a real difference is', () => {
  const base = {
    a: '/x/ours.sqfs',
    b: '/x/peer.sqfs',
    exitCode: 1,
    pass: false,
    output: '/etc/x has a basic type',
    differences: 3,
    digest: '',
  };
  assert.doesNotMatch(diffText({ ...base, inodeFormOnly: true }), /FAIL/);
  assert.match(
    diffText({ ...base, inodeFormOnly: true }),
    /^same tree \(exit 1: 3 inodes stored in the other basic\/extended form\)$/,
  );
  assert.match(
    diffText({ ...base, inodeFormOnly: false, output: '/etc/x: regular file contents differ' }),
    /^\*\*FAIL\*\*/,
  );
});

test('bench --targets tiny sizes no tree it does not use, prints its jobs, and no empty table', { skip }, () => {
  const t = tempDir('cs-bench-tiny-');
  try {
    const src = join(t, 'src');
    file(join(src, 'a'), 'a\n');
    const results = join(t, 'results');
    const r = run(process.execPath, [
      join(repoRoot, 'dist', 'bench', 'run.js'),
      '--targets',
      'tiny',
      '--tiny',
      src,
      '--tiny-runs',
      '2',
      '--jobs',
      '2',
      '--corpus',
      join(t, 'never-sized'),
      '--workdir',
      join(t, 'work'),
      '--results-dir',
      results,
    ]);
    assert.equal(r.status, 0, `bench failed:\n${r.stderr}\n${r.stdout}`);
    assert.doesNotMatch(r.stderr, /sizing/, 'a corpus was sized');
    assert.match(r.stdout, /- Settings: block size 131072, jobs 2,/);
    assert.doesNotMatch(r.stdout, /jobs ,/);
    assert.match(r.stdout, /^\| tiny \| --source /m);
    for (const heading of ['## Results (medians)', '## casper-snapshot against each peer', '## Headline'])
      assert.ok(!r.stdout.includes(heading), `${heading}: an empty table`);
  } finally {
    rmSync(t, { recursive: true, force: true });
  }
});

test(
  "bench --event-loop reports the caller's worst event-loop delay with the pool at nice +5 and +0",
  { skip: process.getuid?.() !== 0 && 'needs root (snapshots)' },
  () => {
    const t = tempDir('cs-bench-el-');
    try {
      const src = join(t, 'src');
      for (let i = 0; i < 5; i++) file(join(src, `f${i}`), Buffer.alloc(300_000, i));
      const results = join(t, 'results');
      const r = run(process.execPath, [
        join(repoRoot, 'dist', 'bench', 'run.js'),
        '--event-loop',
        '--reps',
        '1',
        '--corpus',
        src,
        '--workdir',
        join(t, 'work'),
        '--results-dir',
        results,
      ]);
      assert.equal(r.status, 0, `bench failed:\n${r.stderr}\n${r.stdout}`);
      assert.match(r.stdout, /## Event loop/);
      for (const nice of ['+5', '+0'])
        assert.match(
          r.stdout,
          new RegExp(`^\\| \\d+ \\| \\d+ \\| \\${nice} \\| \\d+\\.\\d \\| [\\d.—]+ \\| \\d+\\.\\d \\| 1 \\|$`, 'm'),
        );
      const doc = JSON.parse(readFileSync(join(results, 'latest.json'), 'utf8'));
      assert.equal(doc.eventLoop.cases.length, doc.eventLoop.cores > 1 ? 8 : 4);
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  },
);

test('bench --executable adds the shipped executable as a row beside the source build', { skip }, () => {
  const t = tempDir('cs-bench-exe-');
  try {
    const src = join(t, 'src');
    file(join(src, 'a.txt'), 'executable row\n'.repeat(500));
    // A stand-in for dist-bin/casper-snapshot: the same CLI behind an executable of its own.
    const exe = join(t, 'casper-snapshot');
    file(exe, `#!/bin/sh\nexec ${process.execPath} ${join(repoRoot, 'bin', 'casper-snapshot.js')} "$@"\n`, 0o755);
    const results = join(t, 'results');
    const r = run(process.execPath, [
      join(repoRoot, 'dist', 'bench', 'run.js'),
      '--quick',
      '--generated',
      'none',
      '--corpus',
      src,
      '--executable',
      exe,
      '--workdir',
      join(t, 'work'),
      '--results-dir',
      results,
    ]);
    assert.equal(r.status, 0, `bench failed:\n${r.stderr}\n${r.stdout}`);
    const doc = JSON.parse(readFileSync(join(results, 'latest.json'), 'utf8'));
    assert.deepEqual(
      doc.groups[0].ratios.map((x: { peer: string }) => x.peer),
      ['mksquashfs', 'gensquashfs', 'casper-snapshot (executable)'],
    );
    const exeRow = doc.groups[0].ratios[2];
    assert.equal(exeRow.sqfsdiff.pass, true, 'the executable wrote another image');
  } finally {
    rmSync(t, { recursive: true, force: true });
  }
});
