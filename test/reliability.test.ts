// Signals, concurrent writers and failures: never a partial image, never a left-over temporary file,
// and an existing image stays intact.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  chmodSync,
  utimesSync,
  existsSync,
  linkSync as hardlinkSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { needs } from './helpers/capabilities.js';
import { tempDir } from './helpers/image-check.js';
import { bytes, dir, file } from './helpers/make-tree.js';
import { cli, cliPath, has, run } from './helpers/tools.js';
import { runActingDuringData, slowSource } from './helpers/acting.js';
import * as imageCheck from './helpers/image-check.js';

function leftovers(d: string): string[] {
  return readdirSync(d).filter((n) => n.includes('.tmp-') || n.endsWith('.lock'));
}

// The signal arrives once the data phase has begun (the first 'data' progress line): the temporary file is
// there and the pool threads are compressing.
for (const [sig, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
  ['SIGHUP', 129],
] as const) {
  test(
    `${sig} removes the temporary file, keeps the existing image and exits ${code}`,
    { skip: needs('root') },
    async () => {
      const t = tempDir();
      try {
        slowSource(join(t, 'src'));
        const out = join(t, 'out.sqfs');
        writeFileSync(out, 'hsqs: previous image');
        let during: string[] = [];
        const r = await runActingDuringData(
          ['--source', join(t, 'src'), out, '-j', '1', '-Xcompression-level', '9'],
          (child) => {
            during = readdirSync(t);
            child.kill(sig);
          },
          { deadlineMs: 120_000 },
        );
        assert.equal(r.hung, false, 'the snapshot did not stop');
        assert.ok(
          during.some((n) => n.startsWith('.out.sqfs.tmp-')),
          `the signal came while the temporary file was written (${during.join(', ')})`,
        );
        assert.equal(r.code, code, `exit status, not killed by the signal (stderr: ${r.stderr})`);
        assert.doesNotMatch(r.stderr, /: runtime error: |ERROR: AddressSanitizer/, 'no sanitizer report');
        assert.match(r.stderr, new RegExp(sig), 'the message says why it stopped');
        assert.equal(readFileSync(out, 'utf8'), 'hsqs: previous image');
        assert.deepEqual(readdirSync(t).sort(), ['out.sqfs', 'src'], 'no temporary or lock file left');
      } finally {
        rmSync(t, { recursive: true, force: true });
      }
    },
  );
}

test('a second writer of the same output fails clearly; the first completes', { skip: needs('root') }, async () => {
  const t = tempDir();
  try {
    slowSource(join(t, 'src'));
    const out = join(t, 'out.sqfs');
    // The second writer starts once the first is in its data phase (it holds the output's lock by then).
    let second: ReturnType<typeof cli> | undefined;
    const first = await runActingDuringData(
      ['--source', join(t, 'src'), out, '-j', '1', '-Xcompression-level', '9'],
      () => {
        second = cli(['--source', join(t, 'src'), out, '-q']);
      },
    );
    assert.ok(second, 'the first writer reached its data phase');
    assert.equal(second.status, 2);
    assert.match(second.stderr, /being written by another casper-snapshot/);
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(leftovers(t), []);
    assert.equal(readFileSync(out).readUInt32LE(0), 0x73717368, 'the first writer produced an image');
  } finally {
    rmSync(t, { recursive: true, force: true });
  }
});

test(
  'a stale lock file beside the output (left by a kill -9 of an older version) is no obstacle',
  { skip: needs('root') },
  () => {
    const t = tempDir();
    try {
      dir(join(t, 'src'));
      file(join(t, 'src', 'f'), 'x');
      writeFileSync(join(t, '.out.sqfs.lock'), '999999999\n');
      const r = cli(['--source', join(t, 'src'), join(t, 'out.sqfs'), '-q']);
      assert.equal(r.status, 0, r.stderr);
      // Root locks in /run/casper-snapshot: the file beside the output is neither used nor removed.
      assert.deepEqual(leftovers(t), ['.out.sqfs.lock']);
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  },
);

test(
  'a file that vanishes during the data phase is left out with a warning; the image stays valid',
  { skip: needs('root', 'loop', 'squashfs-tools', 'squashfs-tools-ng') },
  async () => {
    const { snapshot } = await import('../src/api/index.js');
    const { checkImage } = await import('./helpers/image-check.js');
    const { unlinkSync } = await import('node:fs');
    const t = tempDir();
    try {
      const src = join(t, 'src');
      slowSource(src);
      file(join(src, 'zz-vanishes'), 'soon gone');
      hardlinkSync(join(src, 'zz-vanishes'), join(src, 'zz-vanishes-link'));
      // The root's mtime as the walk sees it, put back after the unlinks below: a fixed value, so a second
      // boundary between the walk and the unlinks cannot make the image and the tree differ.
      const rootTime = 1_700_000_000;
      utimesSync(src, rootTime, rootTime);
      let removed = false;
      const report = await snapshot({
        source: src,
        output: join(t, 'out.sqfs'),
        jobs: 1,
        onProgress: (p) => {
          // Once the data phase has begun and the walk is done (it may run beside the data phase: walking).
          if (p.phase === 'data' && !p.walking && !removed) {
            removed = true;
            unlinkSync(join(src, 'zz-vanishes'));
            unlinkSync(join(src, 'zz-vanishes-link'));
            utimesSync(src, rootTime, rootTime); // the walk saw the directory before the unlinks
          }
        },
      });
      assert.ok(removed);
      assert.deepEqual(
        report.image.skipped.map((s) => s.code),
        ['ENOENT'],
      );
      assert.ok(
        report.warnings.some((w) => /vanished.*zz-vanishes/.test(w)),
        report.warnings.join('\n'),
      );
      checkImage(join(t, 'out.sqfs'), src);
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  },
);

test(
  'a file growing while it is read is stored at its walked size, reported, exit code 3',
  { skip: needs('root', 'loop') },
  async () => {
    const { withMount } = await import('./helpers/image-check.js');
    const t = tempDir();
    const src = join(t, 'src');
    slowSource(src);
    const grow = join(src, 'zz-growing.log');
    writeFileSync(grow, 'start\n');
    const writer = spawn('sh', ['-c', `while :; do echo more >> '${grow}'; done`], { stdio: 'ignore' });
    try {
      const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const c = spawn(process.execPath, [cliPath, '--source', src, join(t, 'out.sqfs'), '-q', '-j', '1']);
        let stderr = '';
        c.stderr.on('data', (d) => (stderr += d));
        c.on('exit', (code) => resolve({ code, stderr }));
      });
      writer.kill('SIGKILL');
      assert.equal(r.code, 3, r.stderr);
      assert.match(r.stderr, /file changed as we read it: .*zz-growing\.log/);
      withMount(join(t, 'out.sqfs'), (mnt) => {
        const got = readFileSync(join(mnt, 'zz-growing.log'), 'utf8');
        assert.ok(got.startsWith('start\n'), 'content is a prefix of the file');
        assert.ok(/^start\n(more\n)*$/.test(got), 'no torn content');
      });
    } finally {
      writer.kill('SIGKILL');
      rmSync(t, { recursive: true, force: true });
    }
  },
);

test(
  'unreadable files fail the job naming the path, or are skipped and listed with --ignore-errors',
  { skip: needs('root', 'loop') || (has('setpriv') ? false : 'setpriv (util-linux) is missing') },
  () => {
    const t = tempDir();
    try {
      chmodSync(t, 0o777);
      const src = join(t, 'src');
      dir(src, 0o755);
      file(join(src, 'ok'), 'readable', 0o644);
      file(join(src, 'secret'), 'not for nobody', 0o600);
      dir(join(src, 'closed'), 0o700);
      file(join(src, 'closed', 'inner'), 'x');
      const asNobody = (args: string[]) =>
        run('setpriv', [
          '--reuid=65534',
          '--regid=65534',
          '--clear-groups',
          process.execPath,
          cliPath,
          '--source',
          src,
          ...args,
        ]);
      const failed = asNobody([join(t, 'a.sqfs'), '-q']);
      assert.equal(failed.status, 2, failed.stderr);
      assert.match(failed.stderr, /Permission denied/);
      assert.match(failed.stderr, /closed|secret/);
      assert.ok(!existsSync(join(t, 'a.sqfs')));
      assert.deepEqual(leftovers(t), []);
      const skipped = asNobody([join(t, 'b.sqfs'), '-q', '--ignore-errors']);
      assert.equal(skipped.status, 3, skipped.stderr);
      assert.match(skipped.stderr, /unreadable \(EACCES\), left out: .*secret/);
      assert.match(skipped.stderr, /unreadable \(EACCES\), left out: .*closed/);
      const { withMount } = imageCheck;
      withMount(join(t, 'b.sqfs'), (mnt) => {
        assert.equal(readFileSync(join(mnt, 'ok'), 'utf8'), 'readable');
        assert.ok(!existsSync(join(mnt, 'secret')));
        assert.deepEqual(readdirSync(join(mnt, 'closed')), [], 'an unreadable directory is kept empty');
      });
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  },
);

// The data engine's failure path on both kinds of pool thread: libuv's (-j 1) and piscina workers (-j 5 with
// over 8 MiB of data). A read that fails on one thread stops the others, and the run fails naming the file.
test(
  'a read failing in the data phase stops every pool thread and fails the job naming the file (libuv and worker pools)',
  { skip: needs('root') || (has('setpriv') ? false : 'setpriv (util-linux) is missing') },
  () => {
    const t = tempDir();
    try {
      chmodSync(t, 0o777);
      const src = join(t, 'src');
      dir(src, 0o755);
      for (let i = 0; i < 12; i++) file(join(src, `big${i}`), bytes(1_000_000 + i, i, 64), 0o644);
      file(join(src, 'm-secret'), 'not for nobody', 0o600);
      for (const jobs of ['1', '5']) {
        const out = join(t, `j${jobs}.sqfs`);
        const r = run('setpriv', [
          '--reuid=65534',
          '--regid=65534',
          '--clear-groups',
          process.execPath,
          cliPath,
          '--source',
          src,
          out,
          '-q',
          '-j',
          jobs,
        ]);
        assert.equal(r.status, 2, r.stderr);
        assert.match(r.stderr, /Permission denied/);
        assert.match(r.stderr, /m-secret/);
        assert.ok(!existsSync(out));
        assert.deepEqual(leftovers(t), []);
      }
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  },
);

test(
  'a file shrinking while it is read keeps its walked size (zero-filled), is reported, exit code 3',
  { skip: needs('root', 'loop') },
  async () => {
    const { withMount } = imageCheck;
    const t = tempDir();
    const src = join(t, 'src');
    slowSource(src);
    const shrink = join(src, 'zz-shrinking');
    writeFileSync(shrink, Buffer.alloc(3 * 1024 * 1024, 'a'));
    try {
      // Once data is flowing (the walk saw 3 MiB), cut the file to 1 KiB before its turn comes.
      const r = await runActingDuringData(['--source', src, join(t, 'out.sqfs'), '-j', '1'], () =>
        writeFileSync(shrink, Buffer.alloc(1024, 'b')),
      );
      assert.equal(r.code, 3, r.stderr);
      assert.match(r.stderr, /file changed as we read it: .*zz-shrinking/);
      withMount(join(t, 'out.sqfs'), (mnt) => {
        const got = readFileSync(join(mnt, 'zz-shrinking'));
        assert.equal(got.length, 3 * 1024 * 1024, 'the walked size');
        assert.ok(
          got.subarray(0, 1024).every((b) => b === 0x62),
          'what was read',
        );
        assert.ok(
          got.subarray(1024).every((b) => b === 0),
          'zeros past the new end',
        );
      });
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  },
);

test(
  'a file replaced (renamed over) while the snapshot runs is left out, never read from the new inode, and reported (exit 3)',
  { skip: needs('root', 'loop') },
  async () => {
    const { withMount } = imageCheck;
    const { renameSync } = await import('node:fs');
    const t = tempDir();
    const src = join(t, 'src');
    slowSource(src);
    const target = join(src, 'zz-replaced');
    writeFileSync(target, Buffer.alloc(200_000, 'o'));
    try {
      const r = await runActingDuringData(['--source', src, join(t, 'out.sqfs'), '-j', '1'], () => {
        writeFileSync(join(t, 'new'), Buffer.alloc(50_000, 'n'));
        renameSync(join(t, 'new'), target); // an editor's save: a new inode under the old name
      });
      assert.equal(r.code, 3, r.stderr);
      assert.match(r.stderr, /replaced while being captured .*left out: .*zz-replaced/);
      withMount(join(t, 'out.sqfs'), (mnt) => {
        // The data stored for an inode only ever comes from that inode: the new one is not read.
        assert.equal(existsSync(join(mnt, 'zz-replaced')), false);
        assert.equal(readFileSync(join(mnt, 'big0')).length, (1 << 20) | 1);
      });
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  },
);
