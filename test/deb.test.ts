// The .deb from `npm run package` (built once for the current sources: helpers/project-deb.ts) on a system with no Node and no compiler: a Debian bullseye minbase root
// (debootstrap, cached by scripts/debian-root.sh), used through an overlay so the cached root stays clean.
// There: dpkg -i, `casper-snapshot -v`, a --source snapshot the kernel mounts and that equals its source,
// and a live-mode (upper) snapshot of an overlay session mounted inside the root.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { basename, join } from 'node:path';
import { needs } from './helpers/capabilities.js';
import { projectDeb } from './helpers/project-deb.js';
import { tempDir } from './helpers/image-check.js';
import { bytes, file, symlink } from './helpers/make-tree.js';
import { describeTree, diffTrees } from './helpers/tree-compare.js';
import { has, must, repoRoot, run } from './helpers/tools.js';
import { spawn } from 'node:child_process';

function existsLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

function skipReason(): string | false {
  if (process.env.CASPER_SANITIZE)
    return 'packaging builds and tests its own addon: not run again under scripts/sanitize.sh';
  const base = needs('root', 'loop');
  if (base) return base;
  if (process.arch !== 'x64') return 'the .deb is built for amd64 only';
  for (const t of ['debootstrap', 'dpkg-deb', 'chroot', 'strip'])
    if (!has(t)) return `${t} is not installed (scripts/install-system-deps.sh)`;
  if (run('sh', ['-c', 'grep -qw overlay /proc/filesystems || modprobe overlay']).status !== 0)
    return 'the kernel has no overlayfs';
  return false;
}

test(
  'the .deb installs on a bare bullseye, snapshots there (plain directory and live overlay), removes and purges cleanly',
  { skip: skipReason() },
  (t) => {
    const built = projectDeb();
    if ('skip' in built) return t.skip(built.skip);
    const deb = basename(built.deb);
    const contents = must('dpkg-deb', ['-c', join(repoRoot, 'dist-bin', deb)]);
    for (const f of [
      './usr/bin/casper-snapshot',
      './usr/share/man/man1/casper-snapshot.1.gz',
      './lib/systemd/system/casper-snapshot.service',
      './usr/share/doc/casper-snapshot/examples/casper.conf',
    ])
      assert.ok(contents.includes(f), `${f} missing from the .deb`);
    assert.match(
      must('dpkg-deb', ['-f', join(repoRoot, 'dist-bin', deb), 'Depends']),
      /^libc6 \(>= 2\.31\), libstdc\+\+6, libgcc-s1\s*$/,
    );

    const made = run('bash', [join(repoRoot, 'scripts', 'debian-root.sh'), 'bullseye-minbase']);
    if (made.status === 3) return t.skip(made.stderr.trim());
    assert.equal(made.status, 0, made.stderr);
    const base = made.stdout.trim();

    const dir = tempDir('cs-deb-');
    const root = join(dir, 'root');
    const mounts: string[] = [];
    const mount = (args: string[], at: string) => {
      must('mount', [...args, at]);
      mounts.push(at);
    };
    try {
      for (const d of ['u', 'w', 'root']) mkdirSync(join(dir, d));
      mount(['-t', 'overlay', 'overlay', '-o', `lowerdir=${base},upperdir=${dir}/u,workdir=${dir}/w`], root);
      mount(['-t', 'proc', 'proc'], join(root, 'proc'));
      const inRoot = (cmd: string) =>
        run('chroot', [root, '/bin/sh', '-c', cmd], { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C' } });
      assert.notEqual(
        inRoot('command -v node || command -v nodejs || command -v cc || command -v g++').status,
        0,
        'the test root has Node or a compiler',
      );

      copyFileSync(join(repoRoot, 'dist-bin', deb), join(root, 'tmp', deb));
      const inst = inRoot(`dpkg -i /tmp/${deb}`);
      assert.equal(inst.status, 0, `dpkg -i failed:\n${inst.stderr}${inst.stdout}`);
      const v = inRoot('casper-snapshot -v');
      assert.equal(v.status, 0, v.stderr);
      assert.match(v.stdout, /standalone executable/);
      assert.match(v.stdout, /zstd\s+libzstd/);

      // A plain directory, with a file big enough to start the worker pool.
      const src = join(root, 'srv', 'data');
      file(join(src, 'etc', 'a.conf'), 'a = 1\n');
      file(join(src, 'big.bin'), bytes(10 * 1024 * 1024, 3, 40));
      file(join(src, 'usr', 'bin', 'tool'), bytes(200000, 4), 0o755);
      symlink('usr/bin/tool', join(src, 'tool-link'));
      const s = inRoot('casper-snapshot --source /srv/data --compressor zstd /root/src.squashfs -q');
      assert.equal(s.status, 0, `--source snapshot in the root failed:\n${s.stderr}`);
      const img = join(dir, 'img');
      mkdirSync(img);
      mount(['-t', 'squashfs', '-o', 'loop,ro', join(root, 'root', 'src.squashfs')], img);
      assert.deepEqual(diffTrees(describeTree(src), describeTree(img)), []);

      // A live session inside the root: lower tree, tmpfs upper, overlay mounted from within the chroot.
      const live = join(root, 'live');
      mkdirSync(live);
      mount(['-t', 'tmpfs', '-o', 'size=64m', 'tmpfs'], live);
      for (const d of ['lower', 'upper', 'work', 'merged']) mkdirSync(join(live, d));
      file(join(live, 'lower', 'etc', 'hostname'), 'medium\n');
      file(join(live, 'lower', 'etc', 'gone.conf'), 'removed in the session\n');
      file(join(live, 'lower', 'usr', 'share', 'doc', 'readme'), 'docs\n');
      const ov = inRoot(
        'mount -t overlay overlay -o lowerdir=/live/lower,upperdir=/live/upper,workdir=/live/work /live/merged',
      );
      assert.equal(ov.status, 0, `mount in the root failed: ${ov.stderr}`);
      mounts.push(join(live, 'merged'));
      const merged = join(live, 'merged');
      writeFileSync(join(merged, 'etc', 'hostname'), 'session\n');
      unlinkSync(join(merged, 'etc', 'gone.conf'));
      file(join(merged, 'home', 'user', 'notes.txt'), 'written in the session\n');
      const l = inRoot('casper-snapshot --root /live/merged /root/live.squashfs -q -d');
      assert.equal(l.status, 0, `live snapshot in the root failed:\n${l.stderr}`);
      assert.match(l.stderr, /mode: upper/);
      // The snapshot laid over the lower tree gives the session's view back.
      const snap = join(dir, 'snap');
      const view = join(dir, 'view');
      mkdirSync(snap);
      mkdirSync(view);
      mount(['-t', 'squashfs', '-o', 'loop,ro', join(root, 'root', 'live.squashfs')], snap);
      mount(['-t', 'overlay', 'overlay', '-o', `lowerdir=${snap}:${join(live, 'lower')}`], view);
      assert.deepEqual(diffTrees(describeTree(merged), describeTree(view)), []);
      assert.ok(!existsSync(join(view, 'etc', 'gone.conf')));

      // A minbase root has no man: --help carries the settings and the shutdown unit's steps.
      const help = inRoot('casper-snapshot --help');
      assert.match(help.stdout, /CASPER_SNAPSHOT_VERIFY=/);
      assert.match(help.stdout, /RequiresMountsFor=<the directory of CASPER_SNAPSHOT_OUTPUT>/);
      assert.match(help.stdout, /CASPER_SNAPSHOT_PERSISTENCE_NAME=session in \/etc\/casper\.conf/);
      assert.equal(inRoot('command -v man').status === 0, false, 'the test root has man');

      // Maintainer scripts, no systemd in the root (a chroot): an enabled unit's link goes with remove, and
      // purge leaves nothing of the package (the administrator's drop-in included).
      const unitDir = join(root, 'etc', 'systemd', 'system');
      const enable = () => {
        mkdirSync(join(unitDir, 'multi-user.target.wants'), { recursive: true });
        symlinkSync(
          '/lib/systemd/system/casper-snapshot.service',
          join(unitDir, 'multi-user.target.wants', 'casper-snapshot.service'),
        ); // as systemctl enable
        file(join(unitDir, 'casper-snapshot.service.d', 'override.conf'), '[Unit]\nRequiresMountsFor=/srv\n'); // as systemctl edit
      };
      const wantsLink = join(unitDir, 'multi-user.target.wants', 'casper-snapshot.service');
      enable();
      let r = inRoot('dpkg -r casper-snapshot');
      assert.equal(r.status, 0, `dpkg -r failed:\n${r.stderr}${r.stdout}`);
      assert.ok(!existsLink(wantsLink), 'remove left the enable link dangling');
      assert.ok(
        existsSync(join(unitDir, 'casper-snapshot.service.d', 'override.conf')),
        'remove took the drop-in (only purge should)',
      );
      r = inRoot('dpkg -P casper-snapshot');
      assert.equal(r.status, 0, `dpkg -P failed:\n${r.stderr}${r.stdout}`);
      assert.ok(!existsSync(join(unitDir, 'casper-snapshot.service.d')), 'purge left the drop-in');
      assert.notEqual(inRoot('dpkg -s casper-snapshot').status, 0, 'still known to dpkg after purge');
      assert.deepEqual(
        readdirSync(join(root, 'var', 'lib', 'dpkg', 'info')).filter((f) => f.startsWith('casper-snapshot.')),
        [],
      );
      assert.ok(!existsSync(join(root, 'usr', 'bin', 'casper-snapshot')));

      // The same with systemd running (seen by the scripts as /run/systemd/system), through a systemctl that logs
      // its calls: install reloads; remove stops the active unit with ExecStop= replaced by /bin/true for that
      // stop (stopping it must not take a snapshot), disables it; purge reloads and forgets it.
      mkdirSync(join(root, 'run', 'systemd', 'system'), { recursive: true });
      file(
        join(root, 'usr', 'bin', 'systemctl'),
        '#!/bin/sh\necho "systemctl $*" >>/tmp/systemctl.log\n' +
          'case "$1" in stop) cat /run/systemd/system/casper-snapshot.service.d/*.conf >>/tmp/systemctl.log 2>/dev/null ;; ' +
          'disable) rm -f /etc/systemd/system/*.wants/casper-snapshot.service ;; esac\nexit 0\n',
        0o755,
      );
      r = inRoot(`dpkg -i /tmp/${deb}`);
      assert.equal(r.status, 0, r.stderr);
      enable();
      assert.equal(inRoot('dpkg -r casper-snapshot').status, 0);
      assert.equal(inRoot('dpkg -P casper-snapshot').status, 0);
      const log = readFileSync(join(root, 'tmp', 'systemctl.log'), 'utf8');
      assert.match(log, /^systemctl daemon-reload\n/, log);
      assert.match(
        log,
        /systemctl -q is-active casper-snapshot\.service\n.*systemctl daemon-reload\nsystemctl stop casper-snapshot\.service\n\[Service\]\nExecStop=\nExecStop=\/bin\/true\n/s,
        log,
      );
      assert.match(log, /systemctl disable casper-snapshot\.service\n/, log);
      assert.match(log, /systemctl reset-failed casper-snapshot\.service\n$/, log);
      assert.doesNotMatch(log, /systemctl (start|restart|enable)/, 'the scripts started or enabled the unit');
      assert.ok(
        !existsSync(join(root, 'run', 'systemd', 'system', 'casper-snapshot.service.d')),
        'the runtime drop-in stayed',
      );
    } finally {
      for (const m of mounts.reverse()) run('umount', ['-l', m]);
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

/** dist-bin/casper-snapshot as the test above built it, or why it is not there. */
function executable(): string | { skip: string } {
  const exe = join(repoRoot, 'dist-bin', 'casper-snapshot');
  return existsSync(exe)
    ? exe
    : { skip: 'dist-bin/casper-snapshot was not built (the .deb test above did not run here)' };
}

const unpacked = (versionText: string) => /unpacked in (\S+)\)/.exec(versionText)?.[1];

test(
  'the standalone executable runs with TMPDIR on a noexec mount and leaves no unpack folder',
  { skip: skipReason() },
  (t) => {
    const exe = executable();
    if (typeof exe !== 'string') return t.skip(exe.skip);
    const dir = tempDir('cs-noexec-');
    const noexec = join(dir, 'tmp');
    mkdirSync(noexec);
    must('mount', ['-t', 'tmpfs', '-o', 'noexec,size=64m', 'tmpfs', noexec]);
    try {
      const env = { ...process.env, TMPDIR: noexec };
      const v = run(exe, ['-v'], { env });
      assert.equal(v.status, 0, v.stderr);
      const at = unpacked(v.stdout);
      assert.ok(at && !at.startsWith(noexec), `unpacked in ${at}`);
      assert.ok(!existsSync(at!), `${at} stayed after exit`);
      // A job that starts worker threads (they load the addon from the same folder).
      file(join(dir, 'src', 'big'), bytes(12 << 20, 5, 40));
      file(join(dir, 'src', 'small'), 'small\n');
      const s = run(exe, ['--source', join(dir, 'src'), join(dir, 'o.sqfs'), '-comp', 'zstd', '--jobs', '4', '-q'], {
        env,
      });
      assert.equal(s.status, 0, s.stderr);
      assert.deepEqual(readdirSync(noexec), [], 'something was left in the noexec TMPDIR');
    } finally {
      run('umount', [noexec]);
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test('kill -9 leaves an unpack folder that the next run removes', { skip: skipReason() }, async (t) => {
  const exe = executable();
  if (typeof exe !== 'string') return t.skip(exe.skip);
  const dir = tempDir('cs-kill9-');
  const tmp = join(dir, 'tmp');
  mkdirSync(tmp);
  const env = { ...process.env, TMPDIR: tmp };
  for (let i = 0; i < 4; i++) file(join(dir, 'src', `f${i}`), bytes(8 << 20, i + 1, 64));
  const child = spawn(exe, ['--source', join(dir, 'src'), join(dir, 'o.sqfs'), '-comp', 'xz', '--jobs', '1', '-q'], {
    env,
    stdio: 'ignore',
  });
  try {
    for (let i = 0; i < 100 && readdirSync(tmp).length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(readdirSync(tmp).length, 1, 'the executable did not unpack into TMPDIR');
    child.kill('SIGKILL');
    await new Promise((r) => child.on('close', r));
    const stale = readdirSync(tmp);
    assert.match(stale[0], /^casper-snapshot-/);
    // The next run removes it (its owner is gone) and its own folder at exit.
    const v = run(exe, ['-v'], { env });
    assert.equal(v.status, 0, v.stderr);
    assert.deepEqual(readdirSync(tmp), []);
  } finally {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test(
  'with nowhere to map the addon from, the executable says what to do (no npm advice)',
  { skip: skipReason() || (!has('unshare') && 'unshare (util-linux) is not installed') },
  (t) => {
    const exe = executable();
    if (typeof exe !== 'string') return t.skip(exe.skip);
    // Outside /tmp and /var/tmp, which the namespace covers.
    const dir = mkdtempSync(join(repoRoot, 'dist', 'nowhere-'));
    try {
      // In a mount namespace of its own: every candidate folder noexec, the executable on a read-only mount.
      mkdirSync(join(dir, 'bin'));
      copyFileSync(exe, join(dir, 'bin', 'casper-snapshot'));
      const script = [
        'set -e',
        `for d in /tmp /var/tmp /dev/shm /run; do mount -t tmpfs -o noexec,size=8m tmpfs "$d"; done`,
        `mount --bind ${dir}/bin ${dir}/bin && mount -o remount,bind,ro ${dir}/bin`,
        `exec env -i PATH=/usr/bin:/bin HOME=/tmp ${dir}/bin/casper-snapshot -v`,
      ].join('\n');
      const r = run('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script]);
      assert.equal(r.status, 2, `${r.stdout}\n${r.stderr}`);
      assert.match(
        r.stderr,
        /^casper-snapshot: the executable's built-in native addon cannot be loaded: no directory to unpack it to allows loading it \(tried .*\/tmp \(mounted noexec\).*\); set TMPDIR to a writable directory on a filesystem mounted without noexec/,
      );
      assert.doesNotMatch(r.stderr, /npm|cmake|g\+\+/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
