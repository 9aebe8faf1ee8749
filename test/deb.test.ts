// The .deb from `npm run package` (built once for the current sources: helpers/project-deb.ts) on a system with no Node and no compiler: a Debian bullseye minbase root
// (debootstrap, cached by scripts/debian-root.sh), used through an overlay so the cached root stays clean.
// There: dpkg -i, `casper-snapshot -v`, a --source snapshot the kernel mounts and that equals its source,
// and a live-mode (upper) snapshot of an overlay session mounted inside the root.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { needs } from './helpers/capabilities.js';
import { projectDeb } from './helpers/project-deb.js';
import { tempDir } from './helpers/image-check.js';
import { bytes, file, symlink } from './helpers/make-tree.js';
import { describeTree, diffTrees } from './helpers/tree-compare.js';
import { has, must, repoRoot, run } from './helpers/tools.js';

function skipReason(): string | false {
  if (process.env.CASPER_SANITIZE) return 'packaging builds and tests its own addon: not run again under scripts/sanitize.sh';
  const base = needs('root', 'loop');
  if (base) return base;
  if (process.arch !== 'x64') return 'the .deb is built for amd64 only';
  for (const t of ['debootstrap', 'dpkg-deb', 'chroot', 'strip']) if (!has(t)) return `${t} is not installed (scripts/install-system-deps.sh)`;
  if (run('sh', ['-c', 'grep -qw overlay /proc/filesystems || modprobe overlay']).status !== 0) return 'the kernel has no overlayfs';
  return false;
}

test('the .deb installs on a bare bullseye and snapshots there (plain directory and live overlay)', { skip: skipReason() }, (t) => {
  const built = projectDeb();
  if ('skip' in built) return t.skip(built.skip);
  const deb = basename(built.deb);
  const contents = must('dpkg-deb', ['-c', join(repoRoot, 'dist-bin', deb)]);
  for (const f of ['./usr/bin/casper-snapshot', './usr/share/man/man1/casper-snapshot.1.gz', './lib/systemd/system/casper-snapshot.service', './usr/share/doc/casper-snapshot/examples/casper.conf'])
    assert.ok(contents.includes(f), `${f} missing from the .deb`);
  assert.match(must('dpkg-deb', ['-f', join(repoRoot, 'dist-bin', deb), 'Depends']), /^libc6 \(>= 2\.31\), libstdc\+\+6, libgcc-s1\s*$/);

  const made = run('bash', [join(repoRoot, 'scripts', 'debian-root.sh'), 'bullseye-minbase']);
  if (made.status === 3) return t.skip(made.stderr.trim());
  assert.equal(made.status, 0, made.stderr);
  const base = made.stdout.trim();

  const dir = tempDir('cs-deb-');
  const root = join(dir, 'root');
  const mounts: string[] = [];
  const mount = (args: string[], at: string) => (must('mount', [...args, at]), mounts.push(at));
  try {
    for (const d of ['u', 'w', 'root']) mkdirSync(join(dir, d));
    mount(['-t', 'overlay', 'overlay', '-o', `lowerdir=${base},upperdir=${dir}/u,workdir=${dir}/w`], root);
    mount(['-t', 'proc', 'proc'], join(root, 'proc'));
    const inRoot = (cmd: string) => run('chroot', [root, '/bin/sh', '-c', cmd], { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C' } });
    assert.notEqual(inRoot('command -v node || command -v nodejs || command -v cc || command -v g++').status, 0, 'the test root has Node or a compiler');

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
    const ov = inRoot('mount -t overlay overlay -o lowerdir=/live/lower,upperdir=/live/upper,workdir=/live/work /live/merged');
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
  } finally {
    for (const m of mounts.reverse()) run('umount', ['-l', m]);
    rmSync(dir, { recursive: true, force: true });
  }
});
