// The command line's contract: help, versions, usage errors, runtime failures, the mksquashfs
// spellings and the closing summary, with the exit codes that --help documents.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { needs } from './helpers/capabilities.js';
import { checkImage, tempDir, withMount, withTmpfs } from './helpers/image-check.js';
import { dir, file, owner, setXattr } from './helpers/make-tree.js';
import { cli, cliPath, has, must, repoRoot, run, type Run } from './helpers/tools.js';

const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };

/** A scratch directory holding a small source tree at src/. */
function scratch(): { t: string; src: string } {
  const t = tempDir('cs-cli-');
  const src = join(t, 'src');
  dir(src);
  file(join(src, 'a'), 'hello\n');
  file(join(src, 'sub/b'), 'world\n');
  return { t, src };
}

function entries(d: string): string[] {
  return readdirSync(d).sort();
}

test('--help and -h list the options and the exit codes', () => {
  for (const flag of ['--help', '-h']) {
    const r = cli([flag]);
    assert.equal(r.status, 0, r.stderr);
    for (const o of [
      '--source',
      '--block-size',
      '--compressor',
      '--compression-level',
      '--no-fragments',
      '--always-use-fragments',
      '--no-duplicates',
      '--no-xattrs',
      '--no-exports',
      '--all-root',
      '--force-uid',
      '--force-gid',
      '--one-file-system',
      '--exclude',
      '--jobs',
      '--mem',
      '--noappend',
      '--quiet',
      '--debug',
      '--version',
      '--help',
    ])
      assert.ok(r.stdout.includes(o), `help mentions ${o}`);
    assert.match(r.stdout, /Usage: casper-snapshot/);
    assert.match(r.stdout, /mksquashfs spellings are accepted: -comp, -b,/);
    assert.match(r.stdout, /Exit codes: 0 success; 1 usage error \(nothing written\); 2 the snapshot failed/);
    assert.match(r.stdout, /129\/130\/143 stopped by\s+SIGHUP\/SIGINT\/SIGTERM/);
    assert.equal(r.stderr, '');
  }
});

test('-v and --version print the package, addon and libdeflate versions', () => {
  for (const args of [['-v'], ['--version'], ['--source', '/nonexistent', 'out.sqfs', '-v']]) {
    const r = cli(args);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^casper-snapshot ${pkg.version.replace(/\./g, '\\.')}$`, 'm'));
    assert.match(r.stdout, /^addon \d+\.\d+\.\d+ \(Node-API \d+\)/m);
    assert.match(r.stdout, /^ +gzip +libdeflate \d+\.\d+/m);
    assert.equal(r.stderr, '');
  }
  const addonVersion = /^addon (\S+)/m.exec(cli(['-v']).stdout)![1];
  assert.equal(addonVersion, pkg.version, 'the addon is built from this package version');
});

test('usage errors exit 1 with a clear message and write nothing', () => {
  const { t, src } = scratch();
  try {
    file(join(t, 'not-a-dir'), 'x');
    const out = join(t, 'out.sqfs');
    const cases: [string[], RegExp, NodeJS.ProcessEnv?][] = [
      [['--source', src, out, '-comp', 'foo'], /unknown compressor 'foo' \(available: gzip/],
      [['--source', src, out, '--compressor', 'foo'], /unknown compressor 'foo'/],
      [['--source', src, out, '-comp', 'lzma'], /'lzma'.*refused.*kernel cannot mount it/],
      [['--source', src, out, '-b', '3000'], /block size must be a power of two from 4K to 1M, got '3000'/],
      [['--source', src, out, '-b', '2M'], /block size must be a power of two from 4K to 1M, got '2M'/],
      [['--source', src, out, '-b', '2K'], /block size must be a power of two from 4K to 1M/],
      [['--source', src, out, '-b', 'abc'], /block size must be a size like 131072, 128K or 1M, got 'abc'/],
      [['--source', src, out, '--block-size', '0'], /block size/],
      [[out, '--mode', 'sideways'], /argument 'sideways' is invalid/],
      [['--source', src], /no output image given/],
      [['--source', src, out, '--mode', 'full'], /--source captures a plain directory/],
      [['--source', join(t, 'not-a-dir'), out], /source '.*not-a-dir' is not a directory/],
      [['--source', join(t, 'missing'), out], /source '.*missing' cannot be read: ENOENT/],
      [['--source', src, t], /output '.*' is a directory/],
      [['--source', src, src], /output '.*src' is a directory/],
      [['--source', src, out, '--bogus'], /unknown option '--bogus'/],
      [['--source', src, out, '-processors', 'x'], /jobs must be a non-negative integer/],
      [['--source', src, out, '-j', '0'], /jobs must be an integer from 1 to 1024, got 0/],
      [['--source', src, out, '-force-uid', '-1'], /uid/],
      [['--source', src, out, '-mem', '1M'], /mem must be at least 8M/],
      [['--source', src, out, '-no-fragments', '-always-use-fragments'], /contradict/],
      [['--source', src, out], /SOURCE_DATE_EPOCH must be seconds/, { SOURCE_DATE_EPOCH: 'yesterday' }],
    ];
    for (const [args, message, env] of cases) {
      const r = cli(args, env);
      assert.equal(r.status, 1, `${args.join(' ')}: exit status (stderr: ${r.stderr})`);
      assert.match(r.stderr, message, args.join(' '));
      assert.equal(r.stdout, '', `${args.join(' ')}: nothing on stdout`);
      assert.ok(
        r.stderr.split('\n').filter(Boolean).length <= 3,
        `${args.join(' ')}: a short message, not a stack:\n${r.stderr}`,
      );
      assert.deepEqual(entries(t), ['not-a-dir', 'src'], `${args.join(' ')}: nothing written`);
    }
    // An existing image is left alone by a usage error.
    writeFileSync(out, 'hsqs: previous image');
    assert.equal(cli(['--source', src, out, '-b', '3000']).status, 1);
    assert.equal(readFileSync(out, 'utf8'), 'hsqs: previous image');
    assert.deepEqual(entries(t), ['not-a-dir', 'out.sqfs', 'src']);
  } finally {
    rmSync(t, { recursive: true, force: true });
  }
});

/** Runs the CLI as nobody (uid/gid 65534, no groups), so that permissions apply. */
function cliAsNobody(args: string[]): Run {
  return run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, cliPath, ...args]);
}

test(
  'runtime failures exit 2, name the path and cause, keep an existing image and leave no temporary file',
  { skip: needs('root') || (!has('setpriv') && 'setpriv not installed') },
  () => {
    const { t, src } = scratch();
    try {
      chmodSync(t, 0o755);
      const outDir = join(t, 'out');
      mkdirSync(outDir);
      chownSync(outDir, 65534, 65534);
      chownSync(src, 65534, 65534);
      const out = join(outDir, 'image.sqfs');
      writeFileSync(out, 'hsqs: previous image');
      chownSync(out, 65534, 65534);

      // 1. A directory that cannot be listed: kept empty, named in a warning (exit 3), as mksquashfs ignores what it
      // cannot stat; the walk goes on (another user's FUSE mount refuses even root this way).
      dir(join(src, 'locked'), 0o000);
      file(join(src, 'locked/inside'), 'x');
      chmodSync(join(src, 'locked'), 0o000);
      const other = join(outDir, 'other.sqfs');
      let r = cliAsNobody(['--source', src, other, '-q']);
      assert.equal(r.status, 3, `exit status (stderr: ${r.stderr})`);
      assert.match(
        r.stderr,
        /warning: unreadable \(EACCES\), left out: .*\/locked\n/,
        'the warning names the path and the cause',
      );
      assert.equal(r.stdout, '');
      assert.equal(readFileSync(other).toString('latin1', 0, 4), 'hsqs');
      rmSync(other);
      assert.deepEqual(entries(outDir), ['image.sqfs'], 'no temporary file');
      rmSync(join(src, 'locked'), { recursive: true, force: true });

      // 2. A file that cannot be read: a pool worker fails during the data phase.
      file(join(src, 'big-readable'), Buffer.alloc(3 << 20, 7));
      file(join(src, 'secret'), 'top secret', 0o000);
      r = cliAsNobody(['--source', src, out, '-q']);
      assert.equal(r.status, 2, `exit status (stderr: ${r.stderr})`);
      assert.match(r.stderr, /secret/);
      assert.match(r.stderr, /EACCES|permission denied/i);
      assert.equal(readFileSync(out, 'utf8'), 'hsqs: previous image');
      assert.deepEqual(entries(outDir), ['image.sqfs']);

      // 3. An output directory we may not write to: a usage error before anything starts (as a missing one).
      rmSync(join(src, 'secret'));
      const rootOwned = join(t, 'root-only');
      mkdirSync(rootOwned, { mode: 0o755 });
      r = cliAsNobody(['--source', src, join(rootOwned, 'x.sqfs'), '-q']);
      assert.equal(r.status, 1, `exit status (stderr: ${r.stderr})`);
      assert.match(r.stderr, /root-only/);
      assert.match(r.stderr, /EACCES|permission denied/i);
      assert.deepEqual(entries(rootOwned), []);

      // And the same user succeeds once everything is readable, replacing the old image.
      r = cliAsNobody(['--source', src, out, '-q']);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(readFileSync(out).toString('latin1', 0, 4), 'hsqs');
      assert.equal(statSync(out).uid, 65534);
      assert.deepEqual(entries(outDir), ['image.sqfs']);
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  },
);

// Signals (130, 143, 129; the existing image kept, no temporary file): test/reliability.test.ts.

const loopSkip = needs('root', 'loop', 'squashfs-tools', 'squashfs-tools-ng');

test('the mksquashfs spellings are accepted and take effect', { skip: loopSkip }, () => {
  withTmpfs((t) => {
    const src = join(t, 'src');
    dir(src);
    file(join(src, 'small'), 'small file\n');
    file(join(src, 'big'), Buffer.alloc(300000, 'b')); // 4 blocks of 64K + a tail; 73 of 4K + a tail
    file(join(src, 'big-copy'), Buffer.alloc(300000, 'b'));
    file(join(src, 'keep/x'), 'kept');
    file(join(src, 'excluded/y'), 'left out');
    file(join(src, 'keep/excluded'), 'kept: -e paths are relative to the source');
    owner(join(src, 'small'), 1234, 5678);
    setXattr(join(src, 'small'), 'user.k', 'v');
    const img = join(t, 'a.sqfs');
    writeFileSync(img, 'an older image: -noappend replaces it');
    let r = cli([
      '--source',
      src,
      img,
      '-comp',
      'gzip',
      '-b',
      '64K',
      '-noappend',
      '-no-xattrs',
      '-no-fragments',
      '-no-exports',
      '-no-duplicates',
      '-all-root',
      '-processors',
      '1',
      '-mem',
      '64M',
      '-Xcompression-level',
      '1',
      '-e',
      'excluded',
      '-quiet',
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, '', '-quiet prints nothing');
    let sb = must('unsquashfs', ['-s', img]);
    for (const line of [
      'Compression gzip',
      'compression-level 1',
      'Block size 65536',
      'Filesystem is not exportable via NFS',
      'Fragments are not stored',
      'Xattrs are not stored',
      'Duplicates are not removed',
      'Number of fragments 0',
      'Number of ids 1',
    ])
      assert.ok(sb.includes(line), `unsquashfs -s: ${line}\n${sb}`);
    const skip = (rel: string) => rel === '/excluded';
    checkImage(img, src, {
      ignore: ['uid', 'gid', 'xattrs'],
      skip,
      mksquashfsArgs: ['-b', '64K', '-all-root', '-no-xattrs', '-e', 'excluded'],
    });
    withMount(img, (mnt) => {
      assert.equal(existsSync(join(mnt, 'excluded')), false);
      assert.equal(readFileSync(join(mnt, 'keep/excluded'), 'utf8'), 'kept: -e paths are relative to the source');
      assert.equal(statSync(join(mnt, 'small')).uid, 0);
      assert.equal(statSync(join(mnt, 'small')).gid, 0);
    });

    const img2 = join(t, 'b.sqfs');
    r = cli([
      '--source',
      src,
      img2,
      '-b',
      '4K',
      '-always-use-fragments',
      '-force-uid',
      '1',
      '-force-gid',
      '2',
      '-xattrs',
      '-one-file-system',
      '-q',
    ]);
    assert.equal(r.status, 0, r.stderr);
    sb = must('unsquashfs', ['-s', img2]);
    for (const line of [
      'Block size 4096',
      'Filesystem is exportable via NFS',
      'Always-use-fragments option is specified',
      'Duplicates are removed',
      'Number of ids 2',
    ])
      assert.ok(sb.includes(line), `unsquashfs -s: ${line}\n${sb}`);
    // The tail of 'big' is packed into a fragment: 73 full blocks are listed, not 74.
    const big = must('rdsquashfs', ['--stat', '/big', img2]);
    assert.match(big, /Block count: 73\n/);
    assert.doesNotMatch(big, /Fragment index: 0xFFFFFFFF/);
    withMount(img2, (mnt) => {
      for (const p of ['', 'small', 'big', 'keep', 'keep/x', 'excluded/y']) {
        const st = statSync(join(mnt, p));
        assert.deepEqual([st.uid, st.gid], [1, 2], `owner of /${p}`);
      }
    });
    checkImage(img2, src, {
      ignore: ['uid', 'gid'],
      mksquashfsArgs: ['-b', '4K', '-force-uid', '1', '-force-gid', '2'],
    });
  });
});

test('-q prints nothing; otherwise a summary with the image size, entries and time', () => {
  const { t, src } = scratch();
  try {
    file(join(src, 'c'), Buffer.alloc(200000, 1));
    const out = join(t, 'out.sqfs');
    for (const q of ['-q', '--quiet']) {
      const r = cli(['--source', src, out, q]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr, '');
    }
    const r = cli(['--source', src, out]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    const size = statSync(out).size;
    assert.match(
      r.stdout,
      new RegExp(`^${out.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: SquashFS 4\\.0, gzip level 6, 128K blocks$`, 'm'),
    );
    assert.match(r.stdout, /^ +image size +\d+(\.\d+)? (bytes|KiB|MiB) \(\d+ bytes used/m);
    assert.ok(size % 4096 === 0, 'padded to 4 KiB');
    assert.match(r.stdout, new RegExp(`image size +${(size / 1024).toFixed(2)} KiB`));
    assert.match(r.stdout, /^ +entries +5 inodes: 3 files, 2 directories, 0 symlinks/m);
    assert.match(r.stdout, /^ +time +\d+\.\d\d s \(walk/m);
  } finally {
    rmSync(t, { recursive: true, force: true });
  }
});
