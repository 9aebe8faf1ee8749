// The README's live-boot route, followed as written, over three sessions: live-boot's own layout rebuilt in a
// private mount namespace per boot (the medium a read-only ext4 at /run/live/medium, every live/*.squashfs
// loop-mounted at /run/live/rootfs/NAME and stacked in reverse sort order — or in a module file's order —,
// a tmpfs upper at /run/live/overlay/rw), /etc/casper.conf with CASPER_SNAPSHOT_PERSISTENCE_NAME, and the
// CLI run as the shutdown unit runs it. Each next "boot" stacks what the last one saved: the sessions
// accumulate (a second save keeps the first session), the medium is read-only again after each save, and a
// medium that cannot be made writable fails loudly with nothing written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './helpers/image-check.js';
import { cliPath, has, must, run } from './helpers/tools.js';

const cannot =
  process.getuid?.() !== 0
    ? 'needs root (mounts, loop devices)'
    : !has('unshare') || !has('mke2fs')
      ? 'unshare or mke2fs is not installed'
      : false;

interface Boot {
  rc: number;
  stderr: string;
  /** The merged view before the session's changes: "path type mode content" lines. */
  before: string[];
  mediumOptions: string;
  live: string[];
  lowerdir: string;
}

/** One boot: live-boot's layout in a private namespace, `changes` run in the merged root ($M), then the save. */
function boot(t: string, dev: string, changes: string, k: number): Boot {
  const out = join(t, `boot${k}`);
  mkdirSync(out);
  const conf = join(t, 'casper.conf');
  const script = `
set -eu
M=${t}/merged
mkdir -p "$M"
mount -t tmpfs tmpfs /run
mkdir -p /run/live/medium /run/live/rootfs /run/live/overlay
mount -o ro,noatime ${dev} /run/live/medium
cd /run/live/medium/live
if [ -e filesystem.module ]; then names=$(cat filesystem.module); else names=$(ls | grep -E '\\.squashfs$' | LC_ALL=C sort); fi
lowers=""
for n in $names; do
  mkdir -p /run/live/rootfs/$n
  mount -t squashfs -o ro,noatime,loop /run/live/medium/live/$n /run/live/rootfs/$n
  lowers="/run/live/rootfs/$n/\${lowers:+:$lowers}"
done
cd /
mount -t tmpfs -o mode=755 tmpfs /run/live/overlay
mkdir /run/live/overlay/rw /run/live/overlay/work
mount -t overlay overlay -o noatime,lowerdir=$lowers,upperdir=/run/live/overlay/rw,workdir=/run/live/overlay/work "$M"
echo "$lowers" > ${out}/lowerdir
(cd "$M" && find . -path ./proc -prune -o -path ./run -prune -o -print | LC_ALL=C sort | while read -r p; do
  if [ -f "$p" ] && [ ! -L "$p" ]; then echo "$p f $(stat -c %a "$p") $(tr '\\n' '|' < "$p")"; elif [ -d "$p" ]; then echo "$p d $(stat -c %a "$p")"; else echo "$p o"; fi
done) > ${out}/before
cd "$M"
${changes}
cd /
set +e
${JSON.stringify(process.execPath)} ${cliPath} --root "$M" --config ${conf} --verify -d > ${out}/stdout 2> ${out}/stderr
echo $? > ${out}/rc
findmnt -n -o OPTIONS /run/live/medium > ${out}/medium
ls -a /run/live/medium/live > ${out}/live
`;
  const r = run('unshare', ['--mount', '--propagation', 'private', 'bash', '-c', script]);
  if (r.status !== 0) throw new Error(`boot ${k} failed to set up: ${r.stderr}`);
  const read = (f: string) => readFileSync(join(out, f), 'utf8');
  return {
    rc: Number(read('rc').trim()),
    stderr: read('stderr'),
    before: read('before').split('\n').filter(Boolean),
    mediumOptions: read('medium').trim(),
    live: read('live').split('\n').filter(Boolean),
    lowerdir: read('lowerdir').trim(),
  };
}

/** A medium disk: ext4 holding live/filesystem.squashfs (and `extra` files in live/), on a read-write loop device. */
function medium(t: string, extra: Record<string, string> = {}): string {
  const tree = join(t, 'medium-tree');
  const root = join(t, 'root');
  for (const d of ['etc', 'd1', 'd2', 'home/u', 'proc', 'run', 'tmp']) mkdirSync(join(root, d), { recursive: true });
  writeFileSync(join(root, 'etc/motd'), 'medium motd\n');
  writeFileSync(join(root, 'etc/issue.net'), 'medium issue\n');
  writeFileSync(join(root, 'd1/a'), 'a\n');
  writeFileSync(join(root, 'd2/b'), 'b\n');
  mkdirSync(join(tree, 'live'), { recursive: true });
  must('mksquashfs', [root, join(tree, 'live/filesystem.squashfs'), '-noappend', '-quiet', '-no-progress']);
  for (const [name, text] of Object.entries(extra)) writeFileSync(join(tree, 'live', name), text);
  const disk = join(t, 'disk.img');
  must('mke2fs', ['-q', '-t', 'ext4', '-d', tree, disk, '64M']);
  return must('losetup', ['--find', '--show', disk]).trim();
}

const session1 = `echo 'session 1 motd' > etc/motd; rm etc/issue.net; echo one > home/u/one; echo kept > home/u/kept
rm -rf d1; mkdir d1; echo c > d1/c; setfattr -n trusted.note -v s1 home/u/kept; chmod 600 home/u/kept`;
const session2 = 'rm home/u/one; echo two > home/u/two; rm d2/b; echo "session 2" >> etc/motd';
const session3 = 'echo three > home/u/three; echo one-again > home/u/one';

/** Runs three boots, checking what each saw, and the medium after each save. */
function threeBoots(t: string, dev: string, expectFirstLowers: string[]): void {
  writeFileSync(join(t, 'casper.conf'), 'CASPER_SNAPSHOT_PERSISTENCE_NAME=session\n');
  const b1 = boot(t, dev, session1, 1);
  assert.equal(b1.rc, 0, `save 1 failed: ${b1.stderr}`);
  assert.equal(b1.lowerdir, expectFirstLowers.map((n) => `/run/live/rootfs/${n}/`).join(':'));
  assert.match(b1.mediumOptions, /^ro\b/, 'the medium is read-only again after the save');
  assert.ok(b1.live.includes('zz-session.squashfs'), `live/: ${b1.live.join(' ')}`);

  const b2 = boot(t, dev, session2, 2);
  assert.equal(b2.rc, 0, `save 2 failed: ${b2.stderr}`);
  assert.match(b2.lowerdir, /^\/run\/live\/rootfs\/zz-session\.squashfs\//, 'the saved image is stacked on top');
  for (const line of [
    './etc/motd f 644 session 1 motd|',
    './home/u/one f 644 one|',
    './home/u/kept f 600 kept|',
    './d1/c f 644 c|',
    './d2/b f 644 b|',
  ])
    assert.ok(b2.before.includes(line), `boot 2 lacks ${line}`);
  for (const gone of ['./etc/issue.net', './d1/a'])
    assert.ok(!b2.before.some((l) => l.startsWith(gone + ' ')), `boot 2 still has ${gone}`);
  assert.match(
    b2.stderr,
    /cumulative save: the image replaces the lower layer \/run\/live\/rootfs\/zz-session\.squashfs\//,
  );
  assert.match(b2.mediumOptions, /^ro\b/);

  const b3 = boot(t, dev, session3, 3);
  assert.equal(b3.rc, 0, `save 3 failed: ${b3.stderr}`);
  const view = (b: Boot) => b.before.filter((l) => /^\.\/(etc|home|d1|d2)\/\S+ f /.test(l));
  // Exactly boot 1's changes minus what boot 2 undid, plus boot 2's.
  assert.deepEqual(view(b3), [
    './d1/c f 644 c|',
    './etc/motd f 644 session 1 motd|session 2|',
    './home/u/kept f 600 kept|',
    './home/u/two f 644 two|',
  ]);
  const b4 = boot(t, dev, 'true', 4);
  assert.equal(b4.rc, 0, b4.stderr);
  assert.deepEqual(view(b4), [
    './d1/c f 644 c|',
    './etc/motd f 644 session 1 motd|session 2|',
    './home/u/kept f 600 kept|',
    './home/u/one f 644 one-again|',
    './home/u/three f 644 three|',
    './home/u/two f 644 two|',
  ]);
}

test(
  'live-boot, as the README says: every save keeps every earlier session; the medium is read-only again after each',
  { skip: cannot },
  () => {
    const t = tempDir('cs-lbroute-');
    let dev = '';
    try {
      dev = medium(t);
      threeBoots(t, dev, ['filesystem.squashfs']);
      const live = run('debugfs', ['-R', 'ls -l /live', join(t, 'disk.img')]).stdout;
      // Replaced images that were loop-mounted are kept only until a later save finds them unused.
      assert.ok((live.match(/\.zz-session\.squashfs\.prev-/g) ?? []).length <= 1, live);
    } finally {
      if (dev) run('losetup', ['-d', dev]);
      if (!process.env.CS_KEEP) run('rm', ['-rf', t]);
    }
  },
);

test('live-boot with a module file: the image is made its last (topmost) entry', { skip: cannot }, () => {
  const t = tempDir('cs-lbmodule-');
  let dev = '';
  try {
    dev = medium(t, { 'filesystem.module': 'filesystem.squashfs\n' });
    threeBoots(t, dev, ['filesystem.squashfs']);
    const r = run('debugfs', ['-R', 'cat /live/filesystem.module', join(t, 'disk.img')]);
    assert.equal(r.stdout, 'filesystem.squashfs\nzz-session.squashfs\n');
  } finally {
    if (dev) run('losetup', ['-d', dev]);
    if (!process.env.CS_KEEP) run('rm', ['-rf', t]);
  }
});

test(
  'a live medium that cannot be remounted read-write fails the save loudly, and nothing is written',
  { skip: cannot },
  () => {
    const t = tempDir('cs-lbro-');
    try {
      // A squashfs medium (like an ISO 9660 disc) cannot be made writable.
      const tree = join(t, 'medium-tree');
      const root = join(t, 'root');
      mkdirSync(join(root, 'etc'), { recursive: true });
      writeFileSync(join(root, 'etc/motd'), 'm\n');
      mkdirSync(join(tree, 'live'), { recursive: true });
      must('mksquashfs', [root, join(tree, 'live/filesystem.squashfs'), '-noappend', '-quiet', '-no-progress']);
      must('mksquashfs', [tree, join(t, 'medium.sqfs'), '-noappend', '-quiet', '-no-progress']);
      writeFileSync(join(t, 'casper.conf'), 'CASPER_SNAPSHOT_PERSISTENCE_NAME=session\n');
      const b = boot(t, join(t, 'medium.sqfs'), 'echo x > etc/x', 1);
      assert.equal(b.rc, 2);
      assert.match(
        b.stderr,
        /the live medium at '\/run\/live\/medium' is mounted read-only and cannot be remounted read-write/,
      );
      assert.doesNotMatch(b.stderr, /\n\s+at /, 'no stack trace for an expected failure under -d');
      assert.match(b.mediumOptions, /^ro\b/);
      assert.deepEqual(b.live, ['.', '..', 'filesystem.squashfs']);
    } finally {
      if (!process.env.CS_KEEP) run('rm', ['-rf', t]);
    }
  },
);
