// What a person at a terminal sees: the progress line fits the terminal's width (60, 80, 120 columns, through
// a real pseudo-terminal made by util-linux `script`) and is redrawn in place; a later message starts on a line
// of its own; the figures are right (bar full only at 100 %, MiB out counts a fragment tail once, the walk
// shows entries found, entriesDone advances, bytesOut stays up in the tables phase); mksquashfs habits and
// commander's errors get the tool's own words.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { needs } from './helpers/capabilities.js';
import { tempDir } from './helpers/image-check.js';
import { bytes, file } from './helpers/make-tree.js';
import { cli, cliPath, has, must, run } from './helpers/tools.js';
import { snapshot, type Progress } from '../src/api/index.js';
import { progressLine } from '../src/cli/progress.js';

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;

function sample(over: Partial<Progress>): Progress {
  return {
    phase: 'data',
    entriesDone: 1234,
    entriesTotal: 98765,
    bytesTotal: 2_000_000_000,
    bytesIn: 1_000_000_000,
    bytesOut: 400_000_000,
    rate: 50_000_000,
    ...over,
  };
}

test('progressLine fits 60, 80 and 120 columns in every phase, dropping fields before the bar', () => {
  const phases: Progress[] = [
    sample({ phase: 'walk', entriesDone: 123456, bytesTotal: 9_876_543_210, bytesIn: 0, bytesOut: 0 }),
    sample({}),
    sample({ phase: 'tables', bytesIn: 2_000_000_000 }),
    sample({ phase: 'verify', verifyBytes: 10_000_000, verifyBytesTotal: 900_000_000, restoreEntries: 4567 }),
    sample({ phase: 'commit' }),
    sample({ phase: 'done', entriesDone: 98765 }),
  ];
  for (const cols of [40, 60, 80, 100, 120]) {
    for (const p of phases) {
      for (const color of [false, true]) {
        const line = progressLine(p, cols, color).replace(ANSI, '');
        assert.ok(line.length <= cols - 1, `${cols} columns, ${p.phase}: ${line.length} characters: ${line}`);
        assert.ok(line.startsWith(p.phase), line);
      }
    }
  }
  // At 120 columns the data line has every field; at 60 the ETA stays, MiB out goes first.
  const wide = progressLine(sample({}), 120);
  for (const f of ['MiB in', 'MiB out', 'entries', 'MiB/s', 'ETA'])
    assert.ok(wide.includes(f), `${f} missing at 120 columns: ${wide}`);
  const narrow = progressLine(sample({}), 60);
  assert.match(narrow, /ETA \d+:\d\d$/);
  assert.doesNotMatch(narrow, /MiB out/);
  assert.match(narrow, /\[[#-]{10,}\]/, `no bar at 60 columns: ${narrow}`);
  // Without a width (not a terminal) nothing is dropped.
  assert.match(progressLine(sample({})), /MiB out.*ETA/);
  // The walk shows a sign of life: the entries found.
  assert.match(progressLine(phases[0], 80), /^walk +123456 entries, 9419.0 MiB found$/);
  // The walk beside the data phase: totals so far marked "+", no ETA until they are final.
  const walking = progressLine(sample({ walking: true }));
  assert.match(walking, /953\.7\/1907\.3\+ MiB in, .* 1234\/98765\+ entries, .*ETA --:--$/);
  assert.match(progressLine(sample({ walking: false })), /1234\/98765 entries, .*ETA 0:20$/);
});

test('the bar is full only when the work is: 98 % shows 29 of 30 cells', () => {
  const at = (frac: number) => progressLine(sample({ bytesIn: Math.round(2_000_000_000 * frac) }), 200);
  assert.match(at(0.98), /\[#{29}-\] {2}98%/);
  assert.match(at(0.999), /\[#{29}-\] {2}99%/);
  assert.match(at(1), /\[#{30}\] 100%/);
  assert.match(at(0), /\[-{30}\] {3}0%/);
});

/** Runs a shell command line in a pseudo-terminal of `cols` columns; returns everything it wrote. */
function inPty(
  cols: number,
  commandLine: string,
  env: NodeJS.ProcessEnv = {},
): Promise<{ out: string; status: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-q', '-e', '-c', `stty cols ${cols} rows 24; ${commandLine}`, '/dev/null'], {
      env: { ...process.env, NO_COLOR: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.on('error', reject);
    child.on('close', (status) => resolve({ out, status }));
  });
}

function bigTree(): { t: string; src: string } {
  const t = tempDir('cs-term-');
  const src = join(t, 'src');
  for (let i = 0; i < 6; i++) file(join(src, `f${i}.bin`), bytes(5 * 1024 * 1024, i + 1, 64));
  for (let i = 0; i < 300; i++) file(join(src, 'small', `s${i}.txt`), bytes(3000 + i, 100 + i, 64));
  return { t, src };
}

const ptySkip =
  needs('root') ||
  (!has('script') && 'util-linux script (a pseudo-terminal) is not installed') ||
  (!has('stty') && 'stty is not installed');

test(
  'through a pseudo-terminal of 60, 80 and 120 columns: every redraw fits and is made in place',
  { skip: ptySkip },
  async () => {
    const { t, src } = bigTree();
    for (const cols of [60, 80, 120]) {
      const out = join(t, `o${cols}.sqfs`);
      const r = await inPty(
        cols,
        `exec ${process.execPath} ${cliPath} --source ${src} ${out} --compressor xz --jobs 1 --no-space-check`,
      );
      assert.equal(r.status, 0, r.out);
      const text = r.out.replace(ANSI, '');
      // Redraws are \r-separated; the summary comes after the line is ended.
      const redraws = text
        .split(/\r\n|\n/)[0]
        .split('\r')
        .filter(Boolean);
      assert.ok(redraws.length >= 3, `${cols} columns: too few redraws:\n${JSON.stringify(text.slice(0, 2000))}`);
      for (const l of redraws)
        assert.ok(l.length <= cols - 1, `${cols} columns: a redraw of ${l.length} characters: ${l}`);
      assert.ok(
        redraws.some((l) => l.startsWith('data')),
        `${cols} columns: no data line`,
      );
      assert.ok(
        redraws.some((l) => /^walk +\d+ entries/.test(l)),
        `${cols} columns: no walk line with entries`,
      );
      // The bar's line ends before the summary: the summary starts a line of its own.
      assert.match(text, new RegExp(`\\n${out.replace(/[/.]/g, '\\$&')}: SquashFS 4\\.0`));
      // 100 % (and a full bar) only once every byte is in.
      for (const l of redraws.filter((x) => x.startsWith('data') && / 100%/.test(x))) {
        const m = /([\d.]+)\/([\d.]+) MiB in/.exec(l);
        if (m) assert.equal(m[1], m[2], l);
      }
    }
  },
);

test('a message printed while the bar is drawn starts on a line of its own (SIGINT)', { skip: ptySkip }, async () => {
  const { t, src } = bigTree();
  const out = join(t, 'o.sqfs');
  const script = join(t, 'interrupt.sh');
  writeFileSync(
    script,
    `${process.execPath} ${cliPath} --source ${src} ${out} --compressor xz --jobs 1 --no-space-check & pid=$!\nsleep 1.5\nkill -INT $pid\nwait $pid\n`,
  );
  chmodSync(script, 0o755);
  const r = await inPty(80, `sh ${script}`);
  const text = r.out.replace(ANSI, '');
  assert.match(text, /casper-snapshot: stopped by SIGINT; no image written/, text.slice(-2000));
  // Before the fix the message was glued to the bar: "…ETA 0:12casper-snapshot: stopped by SIGINT".
  assert.match(text, /(^|\n)casper-snapshot: stopped by SIGINT/, JSON.stringify(text.slice(-400)));
  assert.ok(!existsSync(out));
});

test(
  'progress figures: MiB out counts a fragment tail once, entriesDone advances, bytesOut stays up in tables',
  { skip: needs('root') },
  async () => {
    const t = tempDir('cs-fig-');
    const src = join(t, 'src');
    // Many small files (all tails in fragment blocks) and a few large ones: 64-symbol data compresses to ~75 %.
    for (let i = 0; i < 3000; i++) file(join(src, `d${i % 30}`, `f${i}`), bytes(2000 + (i % 500), i + 1, 64));
    for (let i = 0; i < 4; i++) file(join(src, `big${i}`), bytes(3 * 1024 * 1024, 9000 + i, 64));
    const events: Progress[] = [];
    const r = await snapshot({
      source: src,
      output: join(t, 'o.sqfs'),
      compressor: 'gzip',
      jobs: 2,
      onProgress: (p) => events.push({ ...p }),
    });
    // What the walk found is shown: by its own last line, or, the walk beside the data phase (as here), by the
    // data lines once it is done (walking: false).
    const found = (e: Progress) =>
      e.phase === 'walk' ? e.entriesDone : e.phase === 'data' && e.walking === false ? e.entriesTotal : -1;
    assert.ok(
      events.some((e) => found(e) === r.sourceEntries && e.bytesTotal === r.sourceBytes),
      `the walk's totals were never shown: ${JSON.stringify(events.filter((e) => e.phase === 'data').at(-1))}`,
    );
    const data = events.filter((e) => e.phase === 'data');
    const maxOut = Math.max(...data.map((e) => e.bytesOut));
    // The image's data section is at most bytesUsed; tails counted twice (raw in the task, again in their block) went past it.
    assert.ok(
      maxOut <= r.image.bytesUsed,
      `MiB out during the data phase ${maxOut} > image bytes used ${r.image.bytesUsed}`,
    );
    assert.ok(
      data.some((e) => e.entriesDone > 0 && e.entriesDone < e.entriesTotal) || data.at(-1)!.entriesDone > 0,
      `entriesDone never advanced: ${data.map((e) => e.entriesDone).join(' ')}`,
    );
    const tables = events.find((e) => e.phase === 'tables');
    assert.ok(
      tables && tables.bytesOut > 0 && tables.bytesOut >= maxOut,
      `bytesOut in the tables phase: ${tables?.bytesOut}`,
    );
    assert.equal(tables.entriesDone, tables.entriesTotal);
  },
);

test(
  "mksquashfs habits: harmless flags accepted, others refused with the reason; errors in the tool's words",
  { skip: needs('root', 'squashfs-tools') },
  () => {
    const t = tempDir('cs-habits-');
    const src = join(t, 'src');
    file(join(src, 'a'), 'a\n');
    const out = join(t, 'o.sqfs');
    // Accepted: same meaning, or no effect (said so).
    const ok = cli([
      '--source',
      src,
      out,
      '-no-progress',
      '-progress',
      '-no-progress',
      '-no-recovery',
      '-exports',
      '-no-tailends',
      '-reproducible',
      '-processors',
      '1',
      '-mem',
      '64M',
      '-info',
      '-noappend',
    ]);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stderr, /-info ignored: casper-snapshot does not list the files/);
    assert.doesNotMatch(ok.stderr, /\[[#-]+\]/, '-no-progress left a bar');
    const q = cli([
      '--source',
      src,
      out,
      '-tailends',
      '-root-owned',
      '-quiet',
      '-recovery-path',
      '/tmp',
      '-exit-on-error',
      '-noappend',
    ]);
    assert.equal(q.status, 0, q.stderr);
    assert.equal(q.stderr, '');
    // Refused with the reason.
    for (const [flag, why] of [
      ['-noI', /always compresses/],
      ['-noD', /always compresses/],
      ['-sort', /directory order/],
      ['-mkfs-time', /SOURCE_DATE_EPOCH/],
      ['-keep-as-directory', /root/],
      ['-Xhelp', /--help/],
    ] as const) {
      const r = cli(['--source', src, out, flag]);
      assert.equal(r.status, 1, `${flag}: ${r.stderr}`);
      assert.match(
        r.stderr,
        new RegExp(`^casper-snapshot: ${flag} \\(a mksquashfs option\\) is not supported: `),
        r.stderr,
      );
      assert.match(r.stderr, why);
    }
    // commander's errors: prefixed, with the pointer to -h.
    const unknown = cli(['--source', src, out, '--bogus']);
    assert.equal(unknown.status, 1);
    assert.match(
      unknown.stderr,
      /^casper-snapshot: unknown option '--bogus'.*\(casper-snapshot -h lists the options\)\n$/,
    );
    // SOURCE DEST: the hint comes alone, first, and keeps every other option.
    const sd = cli([src, out, '-comp', 'xz', '-b', '256K', '--jobs', '1']);
    assert.equal(sd.status, 1);
    assert.equal(
      sd.stderr,
      `casper-snapshot: '${src}' is a directory: to capture it as mksquashfs would, type casper-snapshot --source ${src} ${out} -comp xz -b 256K --jobs 1\n`,
    );
    // -b echoes what was typed.
    const b = cli(['--source', src, out, '-b', '3M']);
    assert.equal(b.status, 1);
    assert.match(b.stderr, /block size must be a power of two from 4K to 1M, got '3M'/);
  },
);

test('-d prints the layout and the policy before the summary', { skip: needs('root', 'squashfs-tools') }, () => {
  const t = tempDir('cs-debug-');
  const src = join(t, 'src');
  file(join(src, 'a'), 'a\n');
  const out = join(t, 'o.sqfs');
  // stdout and stderr into one file, in the order written.
  const both = join(t, 'both.txt');
  const r = run('sh', ['-c', `${process.execPath} ${cliPath} --source ${src} ${out} -d -e a >${both} 2>&1`]);
  assert.equal(r.status, 0);
  const text = readFileSync(both, 'utf8');
  const policy = text.indexOf('policy:');
  const summary = text.indexOf(`${out}: SquashFS 4.0`);
  assert.ok(policy >= 0 && summary > policy, `policy at ${policy}, summary at ${summary}:\n${text}`);
  assert.ok(text.indexOf('mode: directory') < summary);
  assert.ok(text.indexOf('"times"') > summary, 'the timings come after the summary');
});

test('verify --help | head -1 and --help | head -1 end quietly (EPIPE)', () => {
  for (const args of ['verify --help', '--help', '-v']) {
    const r = run('sh', ['-c', `${process.execPath} ${cliPath} ${args} | head -1`]);
    assert.equal(r.stderr, '', `${args}: ${r.stderr}`);
    assert.match(r.stdout, /^\S.*\n$/);
  }
});

test(
  'a read-only output directory and a missing one are both usage errors (exit 1), named as such',
  { skip: needs('root') },
  () => {
    const t = tempDir('cs-outdir-');
    const src = join(t, 'src');
    file(join(src, 'a'), 'a\n');
    const missing = cli(['--json', '--source', src, join(t, 'nope', 'o.sqfs')]);
    assert.equal(missing.status, 1, missing.stderr);
    assert.match(missing.stderr, /output directory '.*nope' does not exist/);
    const ro = join(t, 'ro');
    mkdirSync(ro);
    must('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', ro]);
    try {
      const r = cli(['--json', '--source', src, join(ro, 'o.sqfs')]);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /output directory '.*ro' is not writable \(a read-only file system\)/);
      const doc = JSON.parse(r.stdout) as { error: { code: string; exitCode: number } };
      assert.deepEqual([doc.error.code, doc.error.exitCode], ['EUSAGE', 1]);
      assert.deepEqual(JSON.parse(missing.stdout).error.exitCode, 1);
    } finally {
      must('umount', [ro]);
    }
  },
);

test(
  '--progress=json: JSON lines on stderr or on --progress-fd, ending with the result or the error',
  { skip: needs('root') },
  () => {
    const t = tempDir('cs-pjson-');
    const src = join(t, 'src');
    for (let i = 0; i < 20; i++) file(join(src, `f${i}`), bytes(100_000, i + 1, 64));
    const out = join(t, 'o.sqfs');
    const r = cli(['--source', src, out, '--progress=json', '-q']);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stderr
      .trim()
      .split('\n')
      .map(
        (l) =>
          JSON.parse(l) as {
            type: string;
            phase?: string;
            exitCode?: number;
            entriesDone?: number;
            imageSize?: number;
          },
      );
    assert.deepEqual(
      [...new Set(lines.filter((l) => l.type === 'progress').map((l) => l.phase))],
      ['walk', 'data', 'tables', 'commit', 'done'],
    );
    assert.deepEqual(lines.at(-1), {
      type: 'result',
      exitCode: 0,
      output: out,
      imageSize: lines.at(-1)!.imageSize,
      warnings: 0,
    });
    // On a descriptor of its own (stderr keeps the plain messages), and an error as the last line.
    const fd = spawnSync(
      process.execPath,
      [cliPath, '--source', join(t, 'missing'), out, '--progress=json', '--progress-fd', '3'],
      { stdio: ['ignore', 'pipe', 'pipe', 'pipe'], encoding: 'utf8' },
    );
    assert.equal(fd.status, 1);
    assert.match(String(fd.stderr), /^casper-snapshot: source '.*missing' cannot be read/);
    const err = JSON.parse(String(fd.output[3]).trim().split('\n').at(-1)!) as {
      type: string;
      code: string;
      exitCode: number;
    };
    assert.deepEqual([err.type, err.code, err.exitCode], ['error', 'EUSAGE', 1]);
    const bad = cli(['--source', src, out, '--progress=xml']);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /the progress format is bar or json/);
  },
);

test(
  '--progress=json: the job stops when the reader of the lines goes away (the pkexec route cannot signal root)',
  { skip: needs('root') },
  async () => {
    const { t, src } = bigTree();
    const out = join(t, 'o.sqfs');
    writeFileSync(out, 'hsqs: old image');
    const child = spawn(
      process.execPath,
      [
        cliPath,
        '--source',
        src,
        out,
        '--compressor',
        'xz',
        '--jobs',
        '1',
        '--progress=json',
        '--progress-fd',
        '3',
        '--no-space-check',
      ],
      {
        stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const lines = child.stdio[3] as NodeJS.ReadableStream & { destroy: () => void };
    let seen = '';
    await new Promise<void>((resolve) =>
      lines.on('data', (d: Buffer) => {
        seen += d.toString();
        if (/"phase":"data"/.test(seen)) {
          lines.destroy();
          resolve();
        }
      }),
    );
    const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(status, 2, stderr);
    assert.match(stderr, /stopped: the reader of the --progress=json lines went away; no image written/);
    assert.equal(readFileSync(out, 'utf8'), 'hsqs: old image');
    assert.deepEqual(
      readdirSync(t).filter((n) => n.startsWith('.')),
      [],
    );
  },
);
