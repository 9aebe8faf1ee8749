// The three capture modes on a real overlayfs session: a squashfs medium (loop-mounted), a tmpfs upper,
// the session's changes, then the snapshot re-layered over the medium must give the live view back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { needs } from './helpers/capabilities.js';
import { tempDir } from './helpers/image-check.js';
import { describeTree, diffTrees } from './helpers/tree-compare.js';
import { dir, file } from './helpers/make-tree.js';
import { excludedBelow, liveSession, sessionChanges, skipExcluded, type Session } from './helpers/live-session.js';
import { cli, cliPath, has, must, run } from './helpers/tools.js';

const skip = needs('root', 'loop', 'squashfs-tools', 'squashfs-tools-ng') || overlaySupport();

function overlaySupport(): string | false {
  const r = run('sh', ['-c', 'grep -qw overlay /proc/filesystems || modprobe overlay']);
  return r.status === 0 ? false : 'the kernel has no overlayfs';
}

/** Mounts the snapshot over the medium (as persistence would) and compares that view with the live one. */
function relayerMatchesLive(s: Session, img: string): void {
  const snap = join(s.t, 'snap');
  const view = join(s.t, 'view');
  mkdirSync(snap);
  mkdirSync(view);
  must('mount', ['-t', 'squashfs', '-o', 'loop,ro', img, snap]);
  try {
    must('mount', ['-t', 'overlay', 'overlay', '-o', `ro,lowerdir=${snap}:${s.rofs}`, view]);
    try {
      const want = describeTree(s.merged, { skip: skipExcluded });
      const got = describeTree(view, { skip: skipExcluded });
      const diffs = diffTrees(want, got, { ignore: ['mtime'] });
      assert.deepEqual(diffs.slice(0, 40), [], `re-layered view differs from the live view (${diffs.length})`);
      // Excluded directories hold only what the medium had.
      assert.deepEqual(readdirSync(join(view, 'tmp')), []);
      assert.deepEqual(readdirSync(join(view, 'var/cache/apt')), ['pkgcache.bin']);
    } finally {
      run('umount', [view]);
    }
  } finally {
    run('umount', [snap]);
  }
  rmSync(snap, { recursive: true, force: true });
  rmSync(view, { recursive: true, force: true });
}

test('upper mode: the upper layer re-layers over the medium to the live view', { skip }, () => {
  const s = liveSession();
  try {
    sessionChanges(s.merged);
    const img = join(s.t, 'upper.squashfs');
    const r = cli(['--root', s.merged, '--mode', 'upper', img, '-q', '-d']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /mode: upper/);
    must('unsquashfs', ['-lls', '-n', '-d', '', img]);
    must('rdsquashfs', ['--describe', img]);
    const listing = must('unsquashfs', ['-lls', '-n', '-d', '', img]);
    assert.match(
      listing,
      /crw-r--r-- .* 0,\s*0 .*etc\/to-delete|c--------- .* 0,\s*0 .*etc\/to-delete|0,\s+0 .*\/etc\/to-delete/,
      'whiteout kept',
    );
    relayerMatchesLive(s, img);
  } finally {
    s.cleanup();
  }
});

test('diff mode: the same delta rebuilt from the merged and lower views re-layers to the live view', { skip }, () => {
  const s = liveSession();
  try {
    sessionChanges(s.merged);
    const img = join(s.t, 'diff.squashfs');
    const r = cli(['--root', s.merged, '--mode', 'diff', img, '-q', '-d']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /mode: diff/);
    must('rdsquashfs', ['--describe', img]);
    relayerMatchesLive(s, img);
    // Only the changes are in it: the unchanged medium files are not.
    const listing = must('unsquashfs', ['-lls', '-n', '-d', '', img]);
    assert.doesNotMatch(listing, /^-\S+ .* \/usr\/bin\/tool$/m);
    assert.doesNotMatch(listing, /\/etc\/hostname$/m);
    assert.match(listing, /home\/user\/notes\.txt/);
  } finally {
    s.cleanup();
  }
});

test(
  'full mode: the merged system as a new live filesystem, excluded dirs kept empty; matches mksquashfs',
  { skip },
  () => {
    const s = liveSession();
    try {
      sessionChanges(s.merged);
      const img = join(s.t, 'full.squashfs');
      const r = cli(['--root', s.merged, '--mode', 'full', img, '-q']);
      assert.equal(r.status, 0, r.stderr);
      const ref = join(s.t, 'ref.squashfs');
      must('mksquashfs', [
        s.merged,
        ref,
        '-noappend',
        '-quiet',
        '-no-progress',
        '-wildcards',
        ...excludedBelow.flatMap((p) => ['-e', `${p.slice(1)}/*`]),
      ]);
      const d = run('sqfsdiff', ['-a', ref, '-b', img]);
      assert.equal(d.status, 0, `sqfsdiff: ${d.stdout}${d.stderr}`);
    } finally {
      s.cleanup();
    }
  },
);

test(
  'default mode is diff when the upper is unreachable (its mount detached in a private namespace)',
  { skip: skip || (run('sh', ['-c', 'command -v unshare']).status === 0 ? false : 'unshare (util-linux) is missing') },
  () => {
    const s = liveSession();
    try {
      sessionChanges(s.merged);
      const img = join(s.t, 'auto.squashfs');
      const cow = join(s.t, 'cow');
      // In a new mount namespace the tmpfs holding the upper is detached, as casper's /cow is after boot.
      const script = `umount -l '${cow}' && exec '${process.execPath}' '${cliPath}' --root '${s.merged}' '${img}' -q -d`;
      const r = run('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /mode: diff/);
      relayerMatchesLive(s, img);
    } finally {
      s.cleanup();
    }
  },
);

test(
  'aufs: .wh. whiteouts and opaque markers are translated to the overlayfs form, bookkeeping dropped',
  { skip: needs('root', 'loop', 'squashfs-tools') },
  async () => {
    const { snapshotWith } = await import('../src/api/snapshot.js');
    const { withMount } = await import('./helpers/image-check.js');
    const t = tempDir('cs-aufs-');
    try {
      const rw = join(t, 'rw');
      const merged = join(t, 'merged');
      dir(merged);
      file(join(rw, 'home/user/new.txt'), 'new');
      file(join(rw, 'etc/.wh.removed.conf'), '');
      file(join(rw, 'opt/app/.wh..wh..opq'), '');
      file(join(rw, 'opt/app/fresh'), 'only this');
      file(join(rw, '.wh..wh.aufs'), '');
      dir(join(rw, '.wh..wh.plnk'));
      dir(join(rw, '.wh..wh.orph'));
      const mountinfo = `1 0 0:1 / / rw - ext4 /dev/vda rw\n90 1 0:90 / ${merged} rw,relatime - aufs none rw,si=4f2a,br:${rw}=rw:${join(t, 'ro')}=rr\n`;
      const img = join(t, 'aufs.squashfs');
      const report = await snapshotWith(
        { root: merged, mode: 'upper', filesystem: 'aufs', output: img },
        { mountinfo },
      );
      assert.equal(report.mode, 'upper');
      withMount(img, (mnt) => {
        assert.deepEqual(readdirSync(mnt).sort(), ['etc', 'home', 'opt']);
        const wh = describeTree(mnt).nodes.get('/etc/removed.conf');
        assert.equal(wh?.type, 'chardev');
        assert.equal(wh?.rdev, 0);
        assert.deepEqual(readdirSync(join(mnt, 'opt/app')), ['fresh']);
        assert.equal(describeTree(mnt).nodes.get('/opt/app')?.xattrs['trusted.overlay.opaque'], '0x79');
      });
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  },
);

test(
  "xattrs SquashFS cannot store: journald's ACLs on /var/log/journal are a -d note, any other is a warning naming the path",
  { skip: skip || (has('setfacl') ? false : 'setfacl is not installed (package acl)') },
  () => {
    const s = liveSession();
    try {
      mkdirSync(join(s.merged, 'var/log/journal/abc'), { recursive: true });
      file(join(s.merged, 'var/log/journal/abc/system.journal'), 'journal');
      must('setfacl', ['-m', 'g:adm:rx', join(s.merged, 'var/log/journal'), join(s.merged, 'var/log/journal/abc')]);
      must('setfacl', ['-m', 'g:adm:r', join(s.merged, 'var/log/journal/abc/system.journal')]);
      const quiet = cli(['--root', s.merged, '--mode', 'upper', join(s.t, 'a.squashfs'), '-q', '-d']);
      assert.equal(quiet.status, 0, quiet.stderr);
      assert.doesNotMatch(quiet.stderr, /warning: .*xattr/);
      assert.match(
        quiet.stderr,
        /3 xattr\(s\) SquashFS cannot store .* skipped where they are expected \(\/var\/log\/journal/,
      );
      file(join(s.merged, 'home/user/shared.txt'), 'x');
      must('setfacl', ['-m', 'u:nobody:r', join(s.merged, 'home/user/shared.txt')]);
      const loud = cli(['--root', s.merged, '--mode', 'upper', join(s.t, 'b.squashfs'), '-q']);
      assert.equal(loud.status, 0, loud.stderr);
      assert.match(
        loud.stderr,
        /warning: 1 xattr\(s\) outside the user, trusted and security namespaces .* skipped \(on '\/home\/user\/shared.txt'\)/,
      );
    } finally {
      s.cleanup();
    }
  },
);
