// Safe capture of a changing, hostile tree: each case reproduces one way a root snapshot used to leak,
// hang or tear (directories and parents swapped for symlinks, a FIFO in a file's place, same-size rewrites,
// a vanished multi-task file, output hazards), and checks what must happen instead.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { RUNTIME_LOCK_DIR, runtimeLockName } from '../src/pipeline/output-file.js';
import { join } from 'node:path';
import { needs } from './helpers/capabilities.js';
import { tempDir, unsquashfsList, withMount } from './helpers/image-check.js';
import { holdFirstOpen, runActingDuringData, slowSource } from './helpers/acting.js';
import { bytes, dir, file } from './helpers/make-tree.js';
import { cli, cliPath, must, run } from './helpers/tools.js';

const CANARY = 'CANARY-BYTES-FROM-OUTSIDE-THE-SOURCE';
const skip = needs('root', 'loop', 'squashfs-tools');

/** Calls visit with every file of a mounted image, read whole. */
function eachFile(mnt: string, visit: (rel: string, b: Buffer) => void, rel = ''): void {
  for (const e of readdirSync(join(mnt, rel), { withFileTypes: true })) {
    const r = join(rel, e.name);
    if (e.isDirectory()) eachFile(mnt, visit, r);
    else if (e.isFile()) visit(r, readFileSync(join(mnt, r)));
  }
}

function assertNoCanary(img: string): void {
  withMount(img, (mnt) =>
    eachFile(mnt, (rel, b) => assert.equal(b.includes(CANARY), false, `bytes from outside the source in ${rel}`)),
  );
}

/** A decoy directory outside the source, holding `names` filled with canary bytes. */
function decoy(t: string, names: string[]): string {
  const d = join(t, 'decoy');
  for (const n of names) file(join(d, n), Buffer.from(CANARY.repeat(200)));
  return d;
}

test(
  '1: a directory swapped for a symlink during the walk is never followed out of the source',
  { skip },
  async (t) => {
    const tmp = tempDir();
    try {
      const w = join(tmp, 'w');
      dir(join(w, 'aaa'));
      file(join(w, 'aaa/inner'), 'inner');
      dir(join(w, 'zzz'));
      file(join(w, 'zzz/own'), 'own');
      const target = decoy(tmp, ['shadow', 'passwd']);
      // The walk lists w (zzz is a directory then), then opens aaa before zzz: held in that open (a fanotify
      // permission event), it waits while zzz is swapped for a symlink to the decoy, then goes on to zzz.
      const hold = holdFirstOpen(join(w, 'aaa'));
      try {
        try {
          await hold.ready;
        } catch (err) {
          t.skip(`fanotify permission events are not available here: ${(err as Error).message}`);
          return;
        }
        const out = join(tmp, 'walk.sqfs');
        const child = spawn(process.execPath, [
          process.env.CASPER_TEST_CLI ?? cliPath,
          '-q',
          '--source',
          w,
          '--jobs',
          '1',
          out,
        ]);
        let stderr = '';
        child.stderr.on('data', (d) => (stderr += d));
        const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
        await hold.opened(child.pid!);
        renameSync(join(w, 'zzz'), join(w, 'zzz.real'));
        symlinkSync(target, join(w, 'zzz'));
        hold.release();
        const code = await exited;
        const list = unsquashfsList(out);
        assert.doesNotMatch(list, /shadow|passwd/, 'names from outside the source are in the image');
        assertNoCanary(out);
        // Swapped after the walk listed w but before it opened zzz: reported, left out, exit 3.
        assert.match(stderr, /replaced while being captured.*zzz/);
        assert.equal(code, 3, stderr);
        assert.doesNotMatch(list, /zzz/);
        assert.match(list, /\/aaa\/inner$/m);
      } finally {
        hold.stop();
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  },
);

test(
  '2: a parent directory swapped for a symlink after the walk: its files are never read through it',
  { skip },
  async () => {
    const t = tempDir();
    try {
      const src = join(t, 'src');
      slowSource(src);
      file(join(src, 'sub/shadow'), Buffer.alloc(CANARY.length * 200, 's'));
      const target = decoy(t, ['shadow']);
      const r = await runActingDuringData(['--source', src, join(t, 'out.sqfs'), '-j', '1'], () => {
        renameSync(join(src, 'sub'), join(src, 'sub.real'));
        symlinkSync(target, join(src, 'sub'));
      });
      assert.equal(r.code, 3, r.stderr);
      assert.match(r.stderr, /replaced while being captured .*left out: .*sub\/shadow/);
      assertNoCanary(join(t, 'out.sqfs'));
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  },
);

test('3: a file replaced by a FIFO after the walk does not hang the run', { skip }, async () => {
  const t = tempDir();
  try {
    const src = join(t, 'src');
    slowSource(src);
    file(join(src, 'z'), bytes(300_000, 7));
    const r = await runActingDuringData(
      ['--source', src, join(t, 'out.sqfs'), '-j', '1'],
      () => {
        unlinkSync(join(src, 'z'));
        must('mkfifo', [join(src, 'z')]);
      },
      { deadlineMs: 60_000 },
    );
    assert.equal(r.hung, false, 'the snapshot hung on the FIFO');
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /replaced while being captured .*left out: .*\/z\n/);
  } finally {
    rmSync(t, { recursive: true, force: true });
  }
});

test('4: a same-size rewrite or an atomic replacement during the read is never stored silently', { skip }, async () => {
  const t = tempDir();
  try {
    const src = join(t, 'src');
    dir(src);
    // One large file read in many 2 MiB tasks, at gzip -9 on one job: the rewrite lands mid-read.
    file(join(src, 'a-big'), bytes(48 << 20, 11, 40));
    file(join(src, 'b'), bytes(6 << 20, 12, 40));
    const out = join(t, 'out.sqfs');
    const rewrite = bytes(48 << 20, 14, 40); // as slow to compress as the original
    writeFileSync(join(t, 'b.new'), bytes(6 << 20, 13, 40));
    const r = await runActingDuringData(['--source', src, out, '-j', '1', '-Xcompression-level', '9'], () => {
      renameSync(join(t, 'b.new'), join(src, 'b')); // an atomic save, before b is read
      const fd = openSync(join(src, 'a-big'), 'r+');
      writeSync(fd, rewrite, 0, rewrite.length, 0); // same size, in place, while a-big is read
      closeSync(fd);
    });
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /file changed as we read it: .*a-big/);
    assert.match(r.stderr, /replaced while being captured .*left out: .*\/b\n/);
  } finally {
    rmSync(t, { recursive: true, force: true });
  }
});

test(
  '5: a multi-task file that vanishes before it is read is left out (no "results out of order")',
  { skip },
  async () => {
    const t = tempDir();
    try {
      const d = join(t, 'd2');
      file(join(d, 'a'), bytes(40 << 20, 21, 40));
      file(join(d, 'b'), bytes(8 << 20, 22, 40));
      file(join(d, 'c'), bytes(3 << 20, 23, 40));
      const out = join(t, 'oo.sqfs');
      const r = await runActingDuringData(['--source', d, out, '-j', '1', '-comp', 'xz'], () =>
        unlinkSync(join(d, 'b')),
      );
      assert.equal(r.code, 3, r.stderr);
      assert.doesNotMatch(r.stderr, /internal/);
      assert.match(r.stderr, /vanished while being captured, left out: .*\/b\n/);
      withMount(out, (mnt) => {
        assert.deepEqual(readdirSync(mnt).sort(), ['a', 'c']);
        assert.ok(readFileSync(join(mnt, 'c')).equals(readFileSync(join(d, 'c'))));
      });
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  },
);

test(
  '6: outputs that are devices, FIFOs or foreign files are refused; --force and -noappend replace a file',
  { skip: needs('root', 'squashfs-tools') },
  () => {
    const t = tempDir();
    try {
      const src = join(t, 'src');
      file(join(src, 'f'), 'data');
      must('mkfifo', [join(t, 'fifo')]);
      must('mknod', [join(t, 'chr'), 'c', '1', '3']);
      must('mknod', [join(t, 'blk'), 'b', '7', '200']);
      for (const [name, kind] of [
        ['fifo', 'a FIFO'],
        ['chr', 'a character device'],
        ['blk', 'a block device'],
      ]) {
        const r = cli(['-q', '--source', src, join(t, name), '--force']);
        assert.equal(r.status, 1, `${name}: ${r.stderr}`);
        assert.match(r.stderr, new RegExp(`output '.*${name}' is ${kind}`));
      }
      const foreign = join(t, 'notes.txt');
      writeFileSync(foreign, 'precious');
      const refused = cli(['-q', '--source', src, foreign]);
      assert.equal(refused.status, 1);
      assert.match(
        refused.stderr,
        /exists and is not a SquashFS image: not replaced; use --force, or -noappend, to replace it/,
      );
      assert.equal(readFileSync(foreign, 'utf8'), 'precious');
      const forced = cli(['--source', src, foreign, '--force']);
      assert.equal(forced.status, 0, forced.stderr);
      assert.match(forced.stderr, /which was not a SquashFS image \(--force\)/);
      writeFileSync(foreign, 'precious again');
      assert.equal(cli(['-q', '--source', src, foreign, '-noappend']).status, 0);
      // An existing image is replaced without asking, as every re-snapshot does.
      assert.equal(cli(['-q', '--source', src, foreign]).status, 0);
      assert.match(unsquashfsList(foreign), / \/f$/m);
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  },
);

test(
  '6: the output lock is a kernel lock: held means refused, a stale or foreign lock file is no obstacle',
  { skip: needs('root', 'squashfs-tools') },
  async () => {
    const t = tempDir();
    try {
      const src = join(t, 'src');
      file(join(src, 'f'), 'data');
      const out = join(t, 'out.sqfs');
      // A lock file beside the output naming a live, unrelated pid (init), and a temporary file left by a kill -9.
      writeFileSync(join(t, '.out.sqfs.lock'), '1\n');
      writeFileSync(join(t, '.out.sqfs.tmp-999999-deadbeef'), 'half an image');
      const r = cli(['-q', '--source', src, out]);
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(
        readdirSync(t).filter((n) => n.startsWith('.')),
        ['.out.sqfs.lock'],
        'no temporary file left behind; the foreign lock file is not ours',
      );
      // Held by another process (root's lock, in /run/casper-snapshot, keyed by the directory and the name): refused at once.
      const held = join(RUNTIME_LOCK_DIR, runtimeLockName(statSync(t, { bigint: true }), 'out.sqfs'));
      mkdirSync(RUNTIME_LOCK_DIR, { recursive: true, mode: 0o700 });
      // flock runs the command once it holds the lock: the line it prints says so.
      const holder = spawn('flock', ['-x', held, 'sh', '-c', 'echo held; exec sleep 60'], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      try {
        await new Promise<void>((resolve, reject) => {
          holder.stdout.on('data', (d) => String(d).includes('held') && resolve());
          holder.on('exit', (code) => reject(new Error(`flock exited (${code}) before holding ${held}`)));
        });
        const busy = cli(['-q', '--source', src, out]);
        assert.equal(busy.status, 2, busy.stderr);
        assert.match(busy.stderr, /being written by another casper-snapshot/);
      } finally {
        holder.kill('SIGKILL');
        rmSync(held, { force: true });
      }
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  },
);

test(
  '6: an output inside the source: neither the lock nor the temporary file is captured',
  { skip: needs('root', 'squashfs-tools') },
  () => {
    const t = tempDir();
    try {
      file(join(t, 'f'), 'data');
      const r = cli(['-q', '--source', t, join(t, 'self.sqfs')]);
      assert.equal(r.status, 0, r.stderr);
      const list = unsquashfsList(join(t, 'self.sqfs'));
      assert.doesNotMatch(list, /self\.sqfs/);
      assert.match(list, / \/f$/m);
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  },
);

test('6: a missing or read-only output directory is named in the error', { skip: needs('root') }, () => {
  const t = tempDir();
  try {
    file(join(t, 'src/f'), 'data');
    const missing = cli(['-q', '--source', join(t, 'src'), join(t, 'nope', 'out.sqfs')]);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /output directory '.*\/nope' does not exist/);
    const ro = join(t, 'ro');
    mkdirSync(ro);
    must('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', ro]);
    try {
      const r = cli(['-q', '--source', join(t, 'src'), join(ro, 'out.sqfs')]);
      assert.equal(r.status, 1, 'a usage error, as a missing directory is');
      assert.match(r.stderr, /output directory '.*\/ro' is not writable \(a read-only file system\)/i);
      assert.doesNotMatch(r.stderr, /\.lock/);
    } finally {
      run('umount', [ro]);
    }
  } finally {
    rmSync(t, { recursive: true, force: true });
  }
});

test(
  '7: a file replaced by a symlink or a directory during the run is a warning and exit 3, not a failure',
  { skip },
  async () => {
    const t = tempDir();
    try {
      const src = join(t, 'src');
      slowSource(src);
      file(join(src, 'to-link'), bytes(200_000, 3));
      file(join(src, 'to-dir'), bytes(200_000, 4));
      const r = await runActingDuringData(['--source', src, join(t, 'out.sqfs'), '-j', '1'], () => {
        unlinkSync(join(src, 'to-link'));
        symlinkSync('/etc/passwd', join(src, 'to-link'));
        unlinkSync(join(src, 'to-dir'));
        mkdirSync(join(src, 'to-dir'));
      });
      assert.equal(r.code, 3, r.stderr);
      assert.match(r.stderr, /replaced while being captured .*to-link/);
      assert.match(r.stderr, /replaced while being captured .*to-dir/);
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  },
);

test('7: --json to a full stdout is a clear error, not a stack trace', { skip: needs('root') }, () => {
  const t = tempDir();
  try {
    file(join(t, 'src/f'), 'data');
    const full = openSync('/dev/full', 'w');
    try {
      const r = spawnSync(process.execPath, [cliPath, '--json', '--source', join(t, 'src'), join(t, 'out.sqfs')], {
        stdio: ['ignore', full, 'pipe'],
        encoding: 'utf8',
      });
      assert.equal(r.status, 2);
      assert.match(
        r.stderr,
        /cannot write the JSON report to standard output \(ENOSPC\); the image '.*out\.sqfs' was written/,
      );
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'a stack trace');
    } finally {
      closeSync(full);
    }
  } finally {
    rmSync(t, { recursive: true, force: true });
  }
});

test(
  '7: modification times SquashFS cannot hold (before 1970, after 2106) are clamped with a warning',
  { skip: needs('root', 'squashfs-tools') },
  () => {
    const t = tempDir();
    try {
      file(join(t, 'src/old'), 'old');
      file(join(t, 'src/future'), 'future');
      must('touch', ['-d', '1960-01-01 00:00:00', join(t, 'src/old')]);
      utimesSync(join(t, 'src/future'), 5_000_000_000, 5_000_000_000);
      const r = cli(['-q', '--source', join(t, 'src'), join(t, 'out.sqfs')]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /2 entries have modification times before 1970 or after 2106.*clamped/);
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  },
);
