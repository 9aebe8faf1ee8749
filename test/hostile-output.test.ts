// The output's own files against an ordinary user who can write the output's directory (nobody, through
// setpriv): the lock is never followed, never obeyed when another user owns it, never captured; the replaced
// image keeps its mode and owner and the temporary file is private while written; any name that fits NAME_MAX
// can be written; a relative output works with --verify in upper and diff modes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { needs } from './helpers/capabilities.js';
import { tempDir, unsquashfsList } from './helpers/image-check.js';
import { runActingDuringData, slowSource } from './helpers/acting.js';
import { dir, file } from './helpers/make-tree.js';
import { cli, cliPath, run } from './helpers/tools.js';
import { ATTACKER, attackerDir, attackerMissing, attackerMust, attackerSpawn } from './helpers/attacker.js';
import { liveSession, sessionChanges } from './helpers/live-session.js';

const skipAttacker = needs('root', 'squashfs-tools') || attackerMissing();
const MAGIC = 0x73717368;

/** A world-traversable temporary directory (nobody must reach the attacker's directory inside it). */
function openTemp(): string {
  const t = tempDir('cs-hostile-out-');
  chmodSync(t, 0o755);
  return t;
}

test(
  'point 1: a lock file planted as a symlink is never followed: nothing is created where it points',
  { skip: skipAttacker },
  () => {
    const t = openTemp();
    try {
      file(join(t, 'src/f'), 'data');
      const shared = attackerDir(join(t, 'shared'));
      const victim = join(t, 'victim-nologin'); // where root must not create a file (think /etc/nologin)
      attackerMust('ln', ['-s', victim, join(shared, '.out.sqfs.lock')]);
      const r = cli(['-q', '--source', join(t, 'src'), join(shared, 'out.sqfs')]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(existsSync(victim), false, 'root created a file where the planted lock link pointed');
      assert.equal(readFileSync(join(shared, 'out.sqfs')).readUInt32LE(0), MAGIC);
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  },
);

test(
  'point 1: a lock file planted as a link to a file of the captured tree does not leave that file out',
  { skip: skipAttacker },
  () => {
    const t = openTemp();
    try {
      const src = join(t, 'src');
      file(join(src, 'secret-but-wanted'), 'must be in the image');
      file(join(src, 'other'), 'x');
      chmodSync(src, 0o755);
      const shared = attackerDir(join(t, 'shared'));
      attackerMust('ln', ['-s', join(src, 'secret-but-wanted'), join(shared, '.out.sqfs.lock')]);
      const r = cli(['-q', '--source', src, join(shared, 'out.sqfs')]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(unsquashfsList(join(shared, 'out.sqfs')), /secret-but-wanted/);
      assert.equal(readFileSync(join(src, 'secret-but-wanted'), 'utf8'), 'must be in the image');
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  },
);

test(
  "point 1: another user's lock file, held with flock, does not stop a root snapshot",
  { skip: skipAttacker || (!existsSync('/usr/bin/flock') && 'flock(1) is missing') },
  async () => {
    const t = openTemp();
    try {
      file(join(t, 'src/f'), 'data');
      const shared = attackerDir(join(t, 'shared'));
      const lock = join(shared, '.out.sqfs.lock');
      attackerMust('touch', [lock]);
      const holder = attackerSpawn('flock', ['-x', lock, 'sleep', '60']);
      try {
        await new Promise((r) => setTimeout(r, 400));
        assert.equal(lstatSync(lock).uid, ATTACKER.uid);
        const r = cli(['-q', '--source', join(t, 'src'), join(shared, 'out.sqfs')]);
        assert.equal(r.status, 0, `root obeyed a lock nobody holds: ${r.stderr}`);
        assert.equal(readFileSync(join(shared, 'out.sqfs')).readUInt32LE(0), MAGIC);
      } finally {
        holder.kill('SIGKILL');
      }
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  },
);

test(
  'point 1: upper mode with the output inside the live root: the lock file is not captured',
  { skip: needs('root', 'loop', 'squashfs-tools') },
  () => {
    const s = liveSession();
    try {
      sessionChanges(s.merged);
      dir(join(s.merged, 'srv/images'));
      const img = join(s.merged, 'srv/images/session.sqfs');
      const r = cli(['--root', s.merged, '--mode', 'upper', img, '-q', '--verify']);
      assert.ok(r.status === 0 || r.status === 3, r.stderr);
      const list = unsquashfsList(img);
      assert.doesNotMatch(list, /\.lock/, 'the lock file is in the image');
      assert.doesNotMatch(list, /\.tmp-/, 'the temporary file is in the image');
      assert.doesNotMatch(r.stderr, /\.lock/, r.stderr);
    } finally {
      s.cleanup();
    }
  },
);

test(
  'point 2: a replaced image keeps its mode and owner; the temporary file is 0600 while it is written',
  { skip: needs('root', 'squashfs-tools') },
  async () => {
    const t = openTemp();
    try {
      slowSource(join(t, 'src'));
      const out = join(t, 'out.sqfs');
      const first = cli(['-q', '--source', join(t, 'src'), out]);
      assert.equal(first.status, 0, first.stderr);
      chmodSync(out, 0o640);
      chownSync(out, 0, 4242);
      let tempModes: number[] = [];
      const r = await runActingDuringData(['--source', join(t, 'src'), out, '-j', '1', '--no-base'], () => {
        tempModes = readdirSync(t)
          .filter((n) => n.includes('.tmp-'))
          .map((n) => statSync(join(t, n)).mode & 0o7777);
      });
      assert.equal(r.code, 0, r.stderr);
      assert.ok(tempModes.length > 0, 'no temporary file seen during the data phase');
      for (const m of tempModes) assert.equal(m, 0o600, `the temporary file was ${m.toString(8)} while written`);
      const st = statSync(out);
      assert.equal(st.mode & 0o7777, 0o640, `mode after the run: ${(st.mode & 0o7777).toString(8)}`);
      assert.equal(st.gid, 4242);
      assert.equal(st.uid, 0);
      // A new output gets the usual mode (0666 less the umask), not the temporary file's 0600.
      const fresh = join(t, 'fresh.sqfs');
      assert.equal(cli(['-q', '--source', join(t, 'src'), fresh]).status, 0);
      assert.equal(statSync(fresh).mode & 0o777, 0o666 & ~process.umask());
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  },
);

test(
  'point 10: an output name of 255 bytes is written (temporary and lock names fit NAME_MAX)',
  { skip: needs('root', 'squashfs-tools') },
  () => {
    const t = openTemp();
    try {
      file(join(t, 'src/f'), 'data');
      for (const name of ['n'.repeat(255), 'é'.repeat(127) + 'x', 'n'.repeat(240)]) {
        const out = join(t, name);
        const r = cli(['-q', '--source', join(t, 'src'), out]);
        assert.equal(r.status, 0, `${Buffer.byteLength(name)}-byte name: ${r.stderr}`);
        assert.equal(readFileSync(out).readUInt32LE(0), MAGIC);
        // Written again: the stale-temporary clean-up and the lock work with the shortened names too.
        writeFileSync(join(t, 'marker'), '');
        const again = cli(['-q', '--source', join(t, 'src'), out]);
        assert.equal(again.status, 0, again.stderr);
        rmSync(out);
      }
      assert.deepEqual(
        readdirSync(t).filter((n) => n.includes('.tmp-') || n.includes('.lock')),
        [],
      );
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  },
);

test(
  'point 1: a non-root run locks beside the output, and refuses a symlink planted there',
  { skip: skipAttacker },
  () => {
    const t = openTemp();
    try {
      const own = attackerDir(join(t, 'own'));
      attackerMust('mkdir', [join(own, 'src')]);
      attackerMust('sh', ['-c', `echo data > '${join(own, 'src/f')}'`]);
      const out = join(own, 'out.sqfs');
      const ok = run('setpriv', [
        '--reuid',
        String(ATTACKER.uid),
        '--regid',
        String(ATTACKER.gid),
        '--clear-groups',
        '--',
        process.execPath,
        cliPath,
        '-q',
        '--source',
        join(own, 'src'),
        out,
      ]);
      assert.equal(ok.status, 0, ok.stderr);
      assert.deepEqual(
        readdirSync(own).filter((n) => n.startsWith('.')),
        [],
        'no lock or temporary file left',
      );
      // A symlink planted as the lock (by someone else: root here) is not followed, whoever runs.
      const victim = join(own, 'victim-file');
      symlinkSync(victim, join(own, '.out.sqfs.lock'));
      const r = run('setpriv', [
        '--reuid',
        String(ATTACKER.uid),
        '--regid',
        String(ATTACKER.gid),
        '--clear-groups',
        '--',
        process.execPath,
        cliPath,
        '-q',
        '--source',
        join(own, 'src'),
        out,
      ]);
      assert.equal(existsSync(victim), false);
      assert.equal(r.status, 0, r.stderr);
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  },
);

test(
  'point 9: --verify with a relative output path in upper and diff modes',
  { skip: needs('root', 'loop', 'squashfs-tools') },
  () => {
    const s = liveSession();
    try {
      sessionChanges(s.merged);
      const outDir = join(s.t, 'out');
      dir(outDir);
      for (const mode of ['upper', 'diff']) {
        const r = spawnSync(
          process.execPath,
          [cliPath, '--root', s.merged, '--mode', mode, '--verify', '-q', `${mode}.sqfs`],
          { cwd: outDir, encoding: 'utf8' },
        );
        assert.ok(r.status === 0 || r.status === 3, `${mode}: exit ${r.status}: ${r.stderr}`);
        assert.doesNotMatch(r.stderr, /skipped/, r.stderr);
        assert.equal(readFileSync(join(outDir, `${mode}.sqfs`)).readUInt32LE(0), MAGIC);
      }
    } finally {
      s.cleanup();
    }
  },
);

test(
  'point 8: a byte that is not UTF-8 in CASPER_SNAPSHOT_OUTPUT or in an argument is refused clearly, never written under another name',
  { skip: needs('root', 'squashfs-tools') },
  () => {
    const t = openTemp();
    try {
      file(join(t, 'src/f'), 'data');
      const conf = join(t, 'casper.conf');
      writeFileSync(
        conf,
        Buffer.concat([
          Buffer.from(`# comment\nCASPER_SNAPSHOT_OUTPUT=${t}/out`),
          Buffer.from([0xe9]),
          Buffer.from('.sqfs\n'),
        ]),
      );
      const r = cli(['--config', conf, '--source', join(t, 'src'), '-q']);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /casper\.conf:2: CASPER_SNAPSHOT_OUTPUT: .*not UTF-8/);
      assert.deepEqual(
        readdirSync(t).filter((n) => n.startsWith('out')),
        [],
        'an image was written under another name',
      );
      // The same byte in the output argument (a shell passes bytes as they are).
      const a = run('sh', [
        '-c',
        `exec '${process.execPath}' '${cliPath}' --source '${join(t, 'src')}' -q "$(printf '${t}/arg\\351.sqfs')"`,
      ]);
      assert.equal(a.status, 1, a.stderr);
      assert.match(a.stderr, /not UTF-8/);
      assert.match(a.stderr, /arg\\351\.sqfs/);
      assert.deepEqual(
        readdirSync(t).filter((n) => n.startsWith('arg')),
        [],
        'an image was written under another name',
      );
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  },
);
