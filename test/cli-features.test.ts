// CLI features end to end: the JSON report, exclusion syntaxes, casper.conf precedence, root-only live capture.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { needs } from './helpers/capabilities.js';
import { tempDir, withMount } from './helpers/image-check.js';
import { dir, file } from './helpers/make-tree.js';
import { cli, cliPath, has, must, run } from './helpers/tools.js';

function tree(t: string): string {
  const src = join(t, 'src');
  dir(src);
  file(join(src, 'keep.txt'), 'keep');
  file(join(src, 'drop.log'), 'x');
  file(join(src, 'logs/app.log'), 'x');
  file(join(src, 'logs/app.txt'), 'kept');
  file(join(src, 'cache/big.bin'), 'x');
  file(join(src, 'deep/a/b/c.tmp'), 'x');
  return src;
}

test('--json prints a versioned machine-readable report', { skip: needs('root') }, () => {
  const t = tempDir();
  try {
    const src = tree(t);
    const r = cli(['--source', src, join(t, 'o.sqfs'), '--json']);
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.schemaVersion, 1);
    assert.equal(j.tool.name, 'casper-snapshot');
    assert.equal(j.mode, 'directory');
    assert.equal(j.counts.files, 6);
    assert.ok(j.bytes.image > 0);
    assert.equal(j.bytes.source, 12);
    for (const k of ['walk', 'data', 'tables', 'commit', 'total']) assert.equal(typeof j.times[k], 'number');
    assert.deepEqual(j.warnings, []);
  } finally {
    rmSync(t, { recursive: true, force: true });
  }
});

test('-e, -ef, -wildcards and -regex leave out what they name', { skip: needs('root', 'loop') }, () => {
  const t = tempDir();
  try {
    const src = tree(t);
    const list = (img: string) =>
      withMount(img, (m) =>
        must('find', [m, '-mindepth', '1'])
          .split('\n')
          .filter(Boolean)
          .map((p) => p.slice(m.length))
          .sort(),
      );
    let r = cli(['--source', src, join(t, 'e.sqfs'), '-q', '-e', 'cache', 'drop.log']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(list(join(t, 'e.sqfs')), [
      '/deep',
      '/deep/a',
      '/deep/a/b',
      '/deep/a/b/c.tmp',
      '/keep.txt',
      '/logs',
      '/logs/app.log',
      '/logs/app.txt',
    ]);
    writeFileSync(join(t, 'excludes'), '# comment\n\n*.log\nlogs/*.log\n... *.tmp\n');
    r = cli(['--source', src, join(t, 'w.sqfs'), '-q', '-wildcards', '-ef', join(t, 'excludes')]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(list(join(t, 'w.sqfs')), [
      '/cache',
      '/cache/big.bin',
      '/deep',
      '/deep/a',
      '/deep/a/b',
      '/keep.txt',
      '/logs',
      '/logs/app.txt',
    ]);
    r = cli(['--source', src, join(t, 'r.sqfs'), '-q', '-regex', '-e', '^cach']);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(!list(join(t, 'r.sqfs')).includes('/cache'));
    writeFileSync(join(t, 'bad'), 'ok\n[unclosed\n');
    r = cli(['--source', src, join(t, 'b.sqfs'), '-q', '-regex', '-ef', join(t, 'bad')]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /bad:2/);
  } finally {
    rmSync(t, { recursive: true, force: true });
  }
});

test(
  'casper.conf settings apply, the command line wins, bad values are usage errors naming key and line',
  { skip: needs('root') },
  () => {
    const t = tempDir();
    try {
      const src = tree(t);
      const conf = join(t, 'casper.conf');
      writeFileSync(
        conf,
        `# settings\nCASPER_SNAPSHOT_COMPRESSOR=xz\nCASPER_SNAPSHOT_OUTPUT=${join(t, 'from-conf.sqfs')}\nSOMETHING_ELSE=1\n`,
      );
      let r = cli(['--source', src, '--config', conf, '-q']);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /SOMETHING_ELSE/);
      assert.match(must('unsquashfs', ['-s', join(t, 'from-conf.sqfs')]), /Compression xz/);
      r = cli(['--source', src, '--config', conf, '-q', '-comp', 'gzip', join(t, 'cli.sqfs')]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(must('unsquashfs', ['-s', join(t, 'cli.sqfs')]), /Compression gzip/);
      writeFileSync(conf, 'CASPER_SNAPSHOT_BLOCK_SIZE=3000\n');
      r = cli(['--source', src, '--config', conf, '-q', join(t, 'x.sqfs')]);
      assert.equal(r.status, 1);
      assert.match(r.stderr, /CASPER_SNAPSHOT_BLOCK_SIZE/);
      assert.match(r.stderr, /:1\b|line 1/);
      assert.deepEqual(
        readdirSync(t).filter((n) => n.startsWith('x.') || n.includes('.tmp-')),
        [],
      );
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  },
);

test(
  'casper.conf: COMPRESSION_LEVEL goes with the compressor, VERIFY turns --verify on',
  { skip: needs('root') },
  () => {
    const t = tempDir();
    try {
      const src = tree(t);
      const conf = join(t, 'casper.conf');
      writeFileSync(
        conf,
        `CASPER_SNAPSHOT_COMPRESSOR=zstd\nCASPER_SNAPSHOT_COMPRESSION_LEVEL=3\nCASPER_SNAPSHOT_VERIFY=yes\n`,
      );
      let r = cli(['--source', src, '--config', conf, '--json', join(t, 'a.sqfs')]);
      assert.equal(r.status, 0, r.stderr);
      let doc = JSON.parse(r.stdout) as {
        options: { compressorDescription: string };
        verified: { files: number } | null;
      };
      assert.match(doc.options.compressorDescription, /^zstd level 3\b/);
      assert.ok(doc.verified && doc.verified.files > 0, 'CASPER_SNAPSHOT_VERIFY=yes did not verify');
      // A compressor named on the command line drops the file's level (3 would mean another thing for xz).
      r = cli(['--source', src, '--config', conf, '--json', '-comp', 'xz', join(t, 'b.sqfs')]);
      assert.equal(r.status, 0, r.stderr);
      doc = JSON.parse(r.stdout);
      assert.match(doc.options.compressorDescription, /^xz level 6\b/);
      // A level on the command line wins.
      r = cli(['--source', src, '--config', conf, '--json', '--compression-level', '5', join(t, 'c.sqfs')]);
      assert.match(JSON.parse(r.stdout).options.compressorDescription, /^zstd level 5\b/);
      writeFileSync(conf, 'CASPER_SNAPSHOT_VERIFY=maybe\n');
      r = cli(['--source', src, '--config', conf, join(t, 'd.sqfs')]);
      assert.equal(r.status, 1);
      assert.match(r.stderr, /CASPER_SNAPSHOT_VERIFY: must be yes or no, got 'maybe'/);
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  },
);

test(
  'capturing a live root refuses to run without root, with a clear message',
  { skip: needs('root') || (has('setpriv') ? false : 'setpriv is missing') },
  () => {
    const t = tempDir();
    try {
      chmodSync(t, 0o777);
      const r = run('setpriv', [
        '--reuid=65534',
        '--regid=65534',
        '--clear-groups',
        process.execPath,
        cliPath,
        join(t, 'o.sqfs'),
      ]);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /needs root/);
      assert.deepEqual(readdirSync(t), []);
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  },
);

test(
  'progress: silent on a pipe, lines with --progress, a coloured bar on a terminal unless NO_COLOR',
  { skip: needs('root') },
  () => {
    const t = tempDir();
    try {
      const src = tree(t);
      const quiet = cli(['--source', src, join(t, 'a.sqfs'), '-q']);
      assert.equal(quiet.stderr, '');
      const piped = cli(['--source', src, join(t, 'b.sqfs'), '--progress']);
      assert.equal(piped.status, 0, piped.stderr);
      // The walk runs beside the data phase: the data lines give what it has found so far ("+" while it goes
      // on), then the totals, whatever the timing.
      assert.match(piped.stderr, /^walk +\d+ entries, 0\.0 MiB found$/m);
      assert.match(piped.stderr, /^data +\[.*\] .* 12\/12 entries, .*ETA/m);
      assert.doesNotMatch(piped.stderr, /^data .*\+ entries.*ETA \d/m, 'no ETA while the totals grow');
      // Walking first (a base, a pattern, diff mode, or CASPER_SNAPSHOT_WALK_FIRST=1), the walk's end has its line.
      const first = cli(['--source', src, join(t, 'b2.sqfs'), '--progress'], { CASPER_SNAPSHOT_WALK_FIRST: '1' });
      assert.equal(first.status, 0, first.stderr);
      assert.match(first.stderr, /^walk +12 entries, 0\.0 MiB found$/m);
      assert.match(piped.stderr, /^done +\[#+\] .* MiB in/m);
      if (has('script')) {
        // A real terminal (script allocates a pty): the bar redraws in place and is green unless NO_COLOR.
        const tty = (env: string) =>
          run('script', [
            '-qec',
            `${env} '${process.execPath}' '${cliPath}' --source '${src}' '${join(t, 'c.sqfs')}'`,
            '/dev/null',
          ]).stdout;
        const coloured = tty('');
        assert.match(coloured, /\r(walk|data|done)/);
        assert.match(coloured, /\x1b\[32m/);
        assert.doesNotMatch(tty('NO_COLOR=1'), /\x1b\[32m/);
      }
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  },
);

test(
  '--scrub stores /etc/machine-id as an empty file with its owner and mode, and leaves out host keys',
  { skip: needs('root', 'loop') },
  () => {
    const t = tempDir();
    try {
      const src = join(t, 'src');
      file(join(src, 'etc/machine-id'), '0123456789abcdef0123456789abcdef\n', 0o444);
      file(join(src, 'etc/ssh/ssh_host_ed25519_key'), 'secret', 0o600);
      file(join(src, 'etc/hostname'), 'live\n');
      const r = cli(['-q', '--source', src, join(t, 'out.sqfs'), '--scrub']);
      assert.equal(r.status, 0, r.stderr);
      withMount(join(t, 'out.sqfs'), (mnt) => {
        const st = statSync(join(mnt, 'etc/machine-id'));
        assert.equal(st.size, 0);
        assert.equal(st.mode & 0o777, 0o444);
        assert.equal(existsSync(join(mnt, 'etc/ssh/ssh_host_ed25519_key')), false);
        assert.equal(readFileSync(join(mnt, 'etc/hostname'), 'utf8'), 'live\n');
      });
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  },
);
