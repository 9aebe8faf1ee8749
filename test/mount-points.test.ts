// Mount points inside the captured root (diff mode, full mode, --one-file-system): what is mounted there is
// never captured. A directory mount point (another filesystem, or a bind of the same one) is kept as an empty
// directory; a file mount point (a file bind-mounted over a name) is left out with a warning, as what lies
// under it cannot be read from this mount namespace (mksquashfs -one-file-system ignores it too).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { needs } from './helpers/capabilities.js';
import { tempDir, unsquashfsList } from './helpers/image-check.js';
import { liveSessionOf, type LiveSession } from './helpers/live-session.js';
import { dir, file } from './helpers/make-tree.js';
import { cli, must, run } from './helpers/tools.js';

const skip =
  needs('root', 'loop', 'squashfs-tools') ||
  (run('sh', ['-c', 'grep -qw overlay /proc/filesystems || modprobe overlay']).status === 0
    ? false
    : 'the kernel has no overlayfs');

/** A session whose root has a file bound over a medium file, one over a session file, and two directory mounts. */
function sessionWithMounts(): LiveSession {
  const t = tempDir('cs-mounts-');
  const medium = join(t, 'medium-tree');
  file(join(medium, 'etc/resolv.conf'), 'nameserver 10.0.0.1 (medium)\n');
  file(join(medium, 'etc/hostname'), 'live\n');
  dir(join(medium, 'srv/data'));
  dir(join(medium, 'opt/bound'));
  dir(join(medium, 'usr/share'));
  file(join(medium, 'usr/share/readme'), 'docs\n');
  const s = liveSessionOf(t, [medium]);
  const m = s.merged;
  file(join(m, 'home/user/notes'), 'written in the session, then mounted over\n');
  file(join(m, 'etc/hostname'), 'changed in the session\n');
  // What gets mounted: files and a directory on a tmpfs of their own.
  const other = join(t, 'other');
  mkdirSync(other);
  must('mount', ['-t', 'tmpfs', 'tmpfs', other]);
  s.mounts.push(other);
  file(join(other, 'resolv'), 'MOUNTED resolv.conf\n');
  file(join(other, 'notes'), 'MOUNTED notes\n');
  file(join(other, 'dir/secret'), 'MOUNTED dir\n');
  for (const [from, to] of [
    ['resolv', 'etc/resolv.conf'],
    ['notes', 'home/user/notes'],
    ['dir', 'srv/data'],
  ]) {
    must('mount', ['--bind', join(other, from), join(m, to)]);
    s.mounts.push(join(m, to));
  }
  must('mount', ['--bind', join(m, 'usr'), join(m, 'opt/bound')]); // a bind of the root's own filesystem
  s.mounts.push(join(m, 'opt/bound'));
  return s;
}

/** The image's file contents by path (regular files only), read with unsquashfs -cat. */
function contents(img: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of unsquashfsList(img).split('\n')) {
    const m = /^-\S+ .*? (\/.*)$/.exec(line);
    if (m) out.set(m[1], must('unsquashfs', ['-cat', img, m[1]]));
  }
  return out;
}

function sha(p: string): string {
  return createHash('sha256').update(readFileSync(p)).digest('hex');
}

for (const mode of ['diff', 'full'] as const) {
  test(
    `${mode} mode: a file bind-mounted into the root is left out, directory mounts (also same-filesystem binds) kept empty`,
    { skip },
    () => {
      const s = sessionWithMounts();
      try {
        const img = join(s.t, `${mode}.sqfs`);
        const r = cli(['--root', s.merged, '--mode', mode, img, '--json', '--no-default-excludes'], {
          SOURCE_DATE_EPOCH: '1700000000',
        });
        assert.equal(r.status, 0, r.stderr);
        const report = JSON.parse(r.stdout);
        const warned = (report.warnings as string[]).filter((w) => /has a file mounted over it/.test(w)).sort();
        assert.deepEqual(
          warned.map((w) => w.match(/'([^']*)'/)?.[1]),
          [join(s.merged, 'etc/resolv.conf'), join(s.merged, 'home/user/notes')],
        );
        const files = contents(img);
        for (const [p, data] of files) assert.doesNotMatch(data, /MOUNTED/, `${p} holds the mounted data`);
        assert.equal(files.has('/etc/resolv.conf'), false);
        assert.equal(files.has('/home/user/notes'), false);
        assert.equal(files.get('/etc/hostname'), 'changed in the session\n');
        const list = unsquashfsList(img);
        assert.match(list, /^d\S+ .* \/srv\/data$/m, 'a directory mount point is kept as a directory');
        assert.doesNotMatch(list, /\/srv\/data\/|\/opt\/bound\//, 'nothing below a directory mount point');
        if (mode === 'full') assert.match(list, /^d\S+ .* \/opt\/bound$/m);
        if (mode === 'diff') {
          // Re-layered over the medium, the unchanged medium file shows through where the mount was.
          const snap = join(s.t, 'snap');
          const view = join(s.t, 'view');
          mkdirSync(snap);
          mkdirSync(view);
          must('mount', ['-t', 'squashfs', '-o', 'loop,ro', img, snap]);
          s.mounts.push(snap);
          must('mount', ['-t', 'overlay', 'overlay', '-o', `ro,lowerdir=${snap}:${s.layers.join(':')}`, view]);
          s.mounts.push(view);
          assert.equal(readFileSync(join(view, 'etc/resolv.conf'), 'utf8'), 'nameserver 10.0.0.1 (medium)\n');
          assert.deepEqual(readdirSync(join(view, 'srv/data')), []);
          assert.deepEqual(readdirSync(join(view, 'opt/bound')), []);
        }
        // The fallback for kernels before 5.8 (mount ids from /proc/self/fdinfo) makes the same image.
        const img2 = join(s.t, `${mode}-fdinfo.sqfs`);
        const r2 = cli(['-q', '--root', s.merged, '--mode', mode, img2, '--no-default-excludes'], {
          SOURCE_DATE_EPOCH: '1700000000',
          CASPER_SNAPSHOT_NO_STATX_MOUNT_ROOT: '1',
        });
        assert.equal(r2.status, 0, r2.stderr);
        assert.equal(sha(img2), sha(img));
      } finally {
        s.cleanup();
      }
    },
  );
}

test(
  '--source DIR --one-file-system: a bind-mounted file is ignored, as by mksquashfs -one-file-system; a mounted directory kept empty',
  { skip: needs('root', 'loop', 'squashfs-tools', 'squashfs-tools-ng') },
  () => {
    const t = tempDir('cs-ofs-');
    const mounts: string[] = [];
    try {
      const src = join(t, 'src');
      file(join(src, 'f'), 'under the mount\n');
      file(join(src, 'keep'), 'kept\n');
      dir(join(src, 'mnt'));
      const other = join(t, 'other');
      mkdirSync(other);
      must('mount', ['-t', 'tmpfs', 'tmpfs', other]);
      mounts.push(other);
      writeFileSync(join(other, 'g'), 'mounted\n');
      must('mount', ['--bind', join(other, 'g'), join(src, 'f')]);
      mounts.push(join(src, 'f'));
      const img = join(t, 'ofs.sqfs');
      const r = cli(['--source', src, img, '--one-file-system']);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /'[^']*\/src\/f' has a file mounted over it/);
      const ref = join(t, 'ref.sqfs');
      must('mksquashfs', [src, ref, '-noappend', '-quiet', '-no-progress', '-one-file-system']);
      const d = run('sqfsdiff', ['-a', ref, '-b', img]);
      assert.equal(d.status, 0, `sqfsdiff: ${d.stdout}${d.stderr}`);
      // A directory mount point: mksquashfs 4.5 leaves it out, 4.6 and casper-snapshot keep it empty.
      must('mount', ['-t', 'tmpfs', 'tmpfs', join(src, 'mnt')]);
      mounts.push(join(src, 'mnt'));
      writeFileSync(join(src, 'mnt', 'inside'), 'on the tmpfs\n');
      const r2 = cli(['-q', '--source', src, img, '--one-file-system']);
      assert.equal(r2.status, 0, r2.stderr);
      const list = unsquashfsList(img);
      assert.match(list, /^d\S+ .* \/mnt$/m);
      assert.doesNotMatch(list, / \/f$| \/mnt\/inside$/m);
    } finally {
      for (const m of mounts.reverse()) run('umount', ['-l', m]);
      run('rm', ['-rf', t]);
    }
  },
);
