// What any user can put in a tree a root run captures: files deeper than PATH_MAX, FUSE mounts root cannot
// stat, names made to forge lines or send escapes to a terminal. None of them may fail, fool or hang the run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { needs } from './helpers/capabilities.js';
import { tempDir, unsquashfsList } from './helpers/image-check.js';
import { dir, file } from './helpers/make-tree.js';
import { cli, cliPath, has, must, run } from './helpers/tools.js';
import { attackerDir, attackerEnv, attackerFuseMount, attackerMissing, attackerMust } from './helpers/attacker.js';
import { liveSession, sessionChanges } from './helpers/live-session.js';
import { runActingDuringData, slowSource } from './helpers/acting.js';

const skipRoot = needs('root', 'loop', 'squashfs-tools') || (has('python3') ? false : 'python3 is missing');

/**
 * A file `levels` directories of `width`-byte names below root/top, holding `data`: made by nobody in a directory
 * nobody owns (any user can), with relative calls (the path is longer than PATH_MAX). Returns the file's depth.
 */
function deepFile(root: string, levels: number, width: number, data: string, as: 'root' | 'attacker' = 'root'): void {
  const py = `import os,sys\nos.chdir(sys.argv[1])\nos.mkdir('top'); os.chdir('top')\nfor i in range(int(sys.argv[2])):\n  n = ('%03d' % i) + 'd' * (int(sys.argv[3]) - 3)\n  os.mkdir(n); os.chdir(n)\nopen('deep-file', 'w').write(sys.argv[4])\n`;
  const args = ['-c', py, root, String(levels), String(width), data];
  if (as === 'attacker') attackerMust('python3', args);
  else must('python3', args);
}

test(
  'point 3: a file deeper than PATH_MAX is captured, with and without openat2 (--source)',
  { skip: skipRoot || attackerMissing() },
  () => {
    const t = tempDir('cs-deep-path-');
    chmodSync(t, 0o755);
    try {
      const src = attackerDir(join(t, 'src'));
      file(join(src, 'shallow'), 'near the top');
      deepFile(src, 24, 250, 'the data of a file more than 6,000 bytes of path deep', 'attacker');
      for (const env of [{}, { CASPER_SNAPSHOT_NO_OPENAT2: '1' }]) {
        const img = join(t, 'deep.sqfs');
        const r = cli(['-q', '--source', src, img, '--no-xattrs'], env);
        assert.equal(r.status, 0, `${JSON.stringify(env)}: ${r.stderr}`);
        assert.equal(r.stderr, '');
        assert.match(unsquashfsList(img), /\/deep-file$/m);
        // The image holds the file's data: verify compares it with the tree, opening each file beneath the root.
        const v = cli(['verify', img, src]);
        assert.equal(v.status, 0, v.stdout + v.stderr);
        rmSync(img);
      }
    } finally {
      run('rm', ['-rf', t]); // rmSync cannot remove paths longer than PATH_MAX
    }
  },
);

test(
  'point 3: a file deeper than PATH_MAX in a live session: captured in upper and diff modes',
  { skip: skipRoot },
  () => {
    const s = liveSession();
    try {
      sessionChanges(s.merged);
      dir(join(s.merged, 'home/user'));
      deepFile(join(s.merged, 'home/user'), 20, 250, 'deep in the session');
      for (const mode of ['upper', 'diff']) {
        const img = join(s.t, `${mode}.sqfs`);
        const r = cli(['--root', s.merged, '--mode', mode, img, '-q']);
        assert.equal(r.status, 0, `${mode}: ${r.stderr}`);
        assert.doesNotMatch(r.stderr, /replaced|deep-file/, r.stderr);
        assert.match(unsquashfsList(img), /\/deep-file$/m, mode);
      }
    } finally {
      s.cleanup();
    }
  },
);

test(
  "point 4: another user's FUSE mount (no allow_other: EACCES even on lstat) is a warning, never fatal (--source, --one-file-system)",
  { skip: needs('root', 'squashfs-tools') || attackerMissing() },
  async (t) => {
    const tmp = tempDir('cs-fuse-');
    chmodSync(tmp, 0o755);
    try {
      const src = join(tmp, 'src');
      file(join(src, 'before'), 'kept');
      file(join(src, 'zafter/kept'), 'kept');
      const mnt = attackerDir(join(src, 'mnt'));
      const content = join(tmp, 'fuse-content');
      file(join(content, 'inside'), 'served by nobody');
      const unmount = await attackerFuseMount(mnt, content, tmp);
      if (typeof unmount === 'string') return t.skip(unmount);
      try {
        assert.throws(() => statSync(mnt), /EACCES/, 'root can stat the FUSE mount: the test proves nothing');
        for (const extra of [[], ['--one-file-system']]) {
          const img = join(tmp, 'o.sqfs');
          const r = cli(['--source', src, img, '-q', ...extra]);
          assert.equal(r.status, 3, `${extra.join(' ')}: ${r.stderr}`);
          assert.match(r.stderr, /warning: .*unreadable \(EACCES\).*left out: .*\/src\/mnt\n/);
          const list = unsquashfsList(img);
          assert.match(list, /\/before$/m);
          assert.match(list, /\/zafter\/kept$/m);
          assert.doesNotMatch(list, /inside/);
          rmSync(img);
        }
      } finally {
        unmount();
      }
    } finally {
      run('rm', ['-rf', tmp]);
    }
  },
);

test(
  "point 4: another user's FUSE mount appearing over a directory after the walk: its files are left out with a warning, never fatal",
  { skip: needs('root', 'squashfs-tools') || attackerMissing() },
  async (t) => {
    const tmp = tempDir('cs-fuse-');
    chmodSync(tmp, 0o755);
    try {
      const src = join(tmp, 'src');
      slowSource(src);
      const sub = attackerDir(join(src, 'zz-sub'));
      file(join(sub, 'listed-then-covered'), 'walked, then a FUSE mount covers its directory');
      const content = join(tmp, 'fuse-content');
      file(join(content, 'inside'), 'served by nobody');
      let unmount: (() => void) | string | undefined;
      let mounting: Promise<void> | undefined;
      try {
        const r = await runActingDuringData(['--source', src, join(tmp, 'o.sqfs'), '-j', '1'], () => {
          mounting = attackerFuseMount(sub, content, tmp).then((u) => void (unmount = u));
        });
        await mounting;
        if (typeof unmount === 'string') return t.skip(unmount);
        assert.equal(r.code, 3, r.stderr);
        assert.match(r.stderr, /unreadable \(EACCES\), left out: .*\/zz-sub\/listed-then-covered\n/);
      } finally {
        if (typeof unmount === 'function') unmount();
      }
    } finally {
      run('rm', ['-rf', tmp]);
    }
  },
);

test(
  "point 4: another user's FUSE mount in a live session: diff and full mode warn and write the image",
  { skip: needs('root', 'loop', 'squashfs-tools') || attackerMissing() },
  async (t) => {
    const s = liveSession();
    try {
      sessionChanges(s.merged);
      const mnt = attackerDir(join(s.merged, 'home/user/sshfs'));
      const content = join(s.t, 'fuse-content');
      file(join(content, 'remote-file'), 'served by nobody');
      const unmount = await attackerFuseMount(mnt, content, s.t);
      if (typeof unmount === 'string') return t.skip(unmount);
      try {
        for (const mode of ['diff', 'full']) {
          const img = join(s.t, `${mode}.sqfs`);
          const r = cli(['--root', s.merged, '--mode', mode, img, '-q']);
          assert.equal(r.status, 3, `${mode}: ${r.stderr}`);
          assert.match(r.stderr, /unreadable \(EACCES\).*left out: .*\/home\/user\/sshfs\n/, mode);
          const list = unsquashfsList(img);
          assert.match(list, /\/home\/user\/notes\.txt$/m, mode);
          assert.doesNotMatch(list, /remote-file/, mode);
        }
      } finally {
        unmount();
      }
    } finally {
      s.cleanup();
    }
  },
);

/** Every line a run printed on stderr: it must be one of ours, with no terminal escape and no byte lost to U+FFFD. */
function assertCleanLines(stderr: string, what: string): void {
  for (const line of stderr.split('\n').filter((l) => l !== '')) {
    assert.match(line, /^casper-snapshot: /, `${what}: a line that is not the tool's: ${JSON.stringify(line)}`);
    assert.doesNotMatch(
      line,
      /^casper-snapshot: (warning: )?FORGED/,
      `${what}: a forged line: ${JSON.stringify(line)}`,
    );
    assert.doesNotMatch(
      line,
      /[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]/,
      `${what}: a control character reached the terminal: ${JSON.stringify(line)}`,
    );
    assert.doesNotMatch(line, /\ufffd/, `${what}: a byte of a name was lost (U+FFFD): ${JSON.stringify(line)}`);
  }
}

test(
  'point 8: names are escaped in every message: warnings and errors naming a file called "…\\ncasper-snapshot: FORGED…\\e[31m\\xff"',
  { skip: needs('root', 'squashfs-tools') || attackerMissing() },
  () => {
    const t = tempDir('cs-names-');
    chmodSync(t, 0o777);
    try {
      const src = join(t, 'src');
      dir(src);
      // A newline and a forged line, a terminal escape, and bytes that are not UTF-8.
      const evil = Buffer.concat([
        Buffer.from('a\ncasper-snapshot: FORGED everything is fine\x1b[31m'),
        Buffer.from([0xff, 0xfe]),
        Buffer.from('\\z'),
      ]);
      const evilPath = Buffer.concat([Buffer.from(src + '/'), evil]);
      writeFileSync(evilPath, 'x');
      utimesSync(evilPath, new Date('1960-01-01'), new Date('1960-01-01')); // 1960: SquashFS cannot store it, a warning names the first such file
      file(join(src, 'plain'), 'y');
      const shown = /a\\ncasper-snapshot: FORGED everything is fine\\033\[31m\\377\\376\\\\z/;
      // A warning naming it (as root).
      const w = cli(['--source', src, join(t, 'w.sqfs'), '-q', '-e', 'no\nsuch\x1b[0m']);
      assert.equal(w.status, 0, w.stderr);
      assertCleanLines(w.stderr, 'warnings');
      assert.match(w.stderr, shown);
      assert.match(w.stderr, /exclude 'no\\nsuch\\033\[0m' \(-e\) matched nothing/);
      // An error naming it (as nobody, the file is unreadable).
      chmodSync(evilPath, 0o600);
      const e = run(
        'setpriv',
        [
          '--reuid=65534',
          '--regid=65534',
          '--clear-groups',
          process.execPath,
          cliPath,
          '--source',
          src,
          join(t, 'e.sqfs'),
          '-q',
        ],
        { env: attackerEnv() },
      );
      assert.equal(e.status, 2, e.stderr);
      assertCleanLines(e.stderr, 'error');
      assert.match(e.stderr, shown);
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  },
);
