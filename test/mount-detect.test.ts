// mountinfo and overlay option parsing, and live-system detection for every live layout (casper, live-boot, Slax, overlayroot, aufs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  parseMountinfo,
  parseMountinfoLenient,
  parseMountinfoLine,
  MountinfoError,
  unescapeOctal,
} from '../src/mount/mountinfo.js';
import { parseAufsOptions, parseOverlayOptions, splitLowerdir } from '../src/mount/overlay-options.js';
import { detectLiveSystem, type DetectOptions } from '../src/mount/detect.js';
import { CasperError, UsageError } from '../src/errors.js';
import { fuzzCases } from './helpers/fuzz.js';
import { needs } from './helpers/capabilities.js';
import { tempDir } from './helpers/image-check.js';
import { dir } from './helpers/make-tree.js';
import { run } from './helpers/tools.js';

const fixture = (name: string) =>
  readFileSync(new URL(`../../test/fixtures/mountinfo/${name}.mountinfo`, import.meta.url), 'utf8');
const existing =
  (...paths: string[]) =>
  (p: string) =>
    paths.includes(p);
const detect = (name: string, o: DetectOptions = {}) =>
  detectLiveSystem({ mountinfo: fixture(name), exists: existing(), readLoopBacking: () => null, ...o });

test('mountinfo: fields, optional fields, super options', () => {
  const [m] = parseMountinfo(
    '36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 shared:7 - ext3 /dev/root rw,errors=continue\n',
  );
  assert.deepEqual(m, {
    line: 1,
    mountId: 36,
    parentId: 35,
    major: 98,
    minor: 0,
    root: '/mnt1',
    mountPoint: '/mnt2',
    mountOptions: ['rw', 'noatime'],
    optionalFields: ['master:1', 'shared:7'],
    fsType: 'ext3',
    source: '/dev/root',
    superOptions: ['rw', 'errors=continue'],
  });
  const none = parseMountinfoLine('1 0 0:1 / / rw - rootfs  rw', 1);
  assert.equal(none.source, '');
  assert.deepEqual(none.optionalFields, []);
});

test('mountinfo: octal escapes in paths, sources and option values; commas split before unescaping', () => {
  const ms = parseMountinfo(fixture('escapes'));
  const at = (p: string) => ms.find((m) => m.mountPoint === p)!;
  assert.ok(at('/tmp/mi-test/m p'));
  assert.equal(at('/tmp/mi-test/t\tab').source, 'my src');
  assert.ok(at('/tmp/mi-test/n\nl'));
  assert.ok(at('/tmp/mi-test/b\\sl'));
  assert.equal(at('/tmp/mi-test/bind').root, '/sub');
  const esc = at('/tmp/tmp.HgLxJWVpXw/m');
  assert.equal(esc.superOptions[1], 'lowerdir=lo\\:w1:lo\\,w2:lo w3:lo\\\\w4');
  assert.deepEqual(parseOverlayOptions(esc.superOptions).lowerdirs, ['lo:w1', 'lo,w2', 'lo w3', 'lo\\w4']);
  assert.equal(unescapeOctal('a\\040b\\9\\'), 'a b\\9\\');
});

test('mountinfo: malformed lines name their line number; lenient parse keeps the rest', () => {
  const text =
    '22 27 0:21 / /proc rw - proc proc rw\n\n23 27 0:22 / /sys rw sysfs sysfs rw\n24 27 x / /dev rw - devtmpfs udev rw\n';
  assert.throws(
    () => parseMountinfo(text),
    (e: unknown) =>
      e instanceof MountinfoError &&
      e.line === 3 &&
      /line 3: no ' - ' separator/.test(e.message) &&
      e.code === 'EMOUNTINFO',
  );
  const { mounts, errors } = parseMountinfoLenient(text);
  assert.equal(mounts.length, 1);
  assert.deepEqual(
    errors.map((e) => e.line),
    [3, 4],
  );
  for (const bad of [
    '1 2 0:1 / rel rw - ext4 /dev/sda rw', // relative mount point
    '1 2 0:1 / / rw - ext4 /dev/sda', // too few after separator
    '1 2 0:1 / / rw - ext4 /dev/sda rw extra',
    'a 2 0:1 / / rw - ext4 /dev/sda rw',
    '1 2 0:1 / / rw  - ext4 /dev/sda rw', // empty optional field
    '1 2 0:1 / / rw - ',
  ])
    assert.throws(
      () => parseMountinfoLine(bad, 7),
      (e: unknown) => e instanceof MountinfoError && e.line === 7,
      bad,
    );
});

test('overlay options: lowerdir escapes, data-only layers, flags', () => {
  assert.deepEqual(splitLowerdir('/a\\:b:/c::/d:/e'), { layers: ['/a:b', '/c'], dataLayers: ['/d', '/e'] });
  assert.deepEqual(splitLowerdir('/x'), { layers: ['/x'], dataLayers: [] });
  const o = parseOverlayOptions([
    'rw',
    'lowerdir=/l1:/l2',
    'upperdir=/u\\:p',
    'workdir=/w',
    'userxattr',
    'redirect_dir=on',
    'metacopy=on',
    'xino=off',
    'index=off',
    'uuid=on',
    'volatile',
  ]);
  assert.deepEqual(
    [
      o.lowerdirs,
      o.upperdir,
      o.workdir,
      o.userxattr,
      o.redirectDir,
      o.metacopy,
      o.xino,
      o.index,
      o.uuid,
      o.volatile,
      o.other,
    ],
    [['/l1', '/l2'], '/u:p', '/w', true, 'on', true, 'off', false, 'on', true, ['rw']],
  );
  assert.equal(parseOverlayOptions(['userxattr', 'nouserxattr']).userxattr, false);
  assert.deepEqual(parseOverlayOptions(['lowerdir+=/a', 'lowerdir+=/b', 'datadir+=/d']).lowerdirs, ['/a', '/b']);
});

test('aufs options: br: and dirs= lists with permissions, si=', () => {
  const a = parseAufsOptions(['rw', 'si=abc', 'br:/run/live/overlay/rw=rw:/run/live/rootfs/filesystem.squashfs=rr+wh']);
  assert.equal(a.si, 'abc');
  assert.deepEqual(a.branches, [
    { path: '/run/live/overlay/rw', perm: 'rw', writable: true },
    { path: '/run/live/rootfs/filesystem.squashfs', perm: 'rr+wh', writable: false },
  ]);
  assert.deepEqual(
    parseAufsOptions(['dirs=/cow:/rofs=ro']).branches.map((b) => [b.path, b.writable]),
    [
      ['/cow', true],
      ['/rofs', false],
    ],
  );
});

test('casper 20.04: old // lowerdir, upper hidden in the initramfs, base at /rofs → diff', () => {
  const l = detect('casper-20.04');
  assert.equal(l.kind, 'casper');
  assert.equal(l.mount?.source, '/cow');
  assert.deepEqual(l.upper, { shownAs: '/cow/upper', path: null, reachable: false });
  assert.equal(l.work, '/cow/work');
  assert.deepEqual(l.lowers, [{ shownAs: '//filesystem.squashfs', reachableAt: '/rofs', image: null, backing: null }]);
  assert.equal(l.medium, '/cdrom');
  assert.deepEqual(l.base, ['/rofs']);
  assert.equal(l.defaultMode, 'diff');
  assert.equal(l.persistence, null);
  assert.ok(l.livePaths.includes('/cow') && l.livePaths.includes('/rofs') && l.livePaths.includes('/cdrom'));
});

test('casper 22.04: xino=off, vfat medium, image found on the medium', () => {
  const l = detect('casper-22.04', { exists: existing('/cdrom/casper/filesystem.squashfs') });
  assert.equal(l.kind, 'casper');
  assert.equal(l.flags.xino, 'off');
  assert.deepEqual(l.lowers, [
    {
      shownAs: '/filesystem.squashfs',
      reachableAt: '/rofs',
      image: '/cdrom/casper/filesystem.squashfs',
      backing: null,
    },
  ]);
  assert.equal(l.defaultMode, 'diff');
});

test('casper 22.04: a /cow/upper created inside the merged root is not taken for the upper dir', () => {
  const l = detect('casper-22.04', { exists: existing('/cow/upper') });
  assert.equal(l.upper?.reachable, false);
});

test('casper 24.04 layered: three lowerdirs, only the base at /rofs, the rest as images; snap bind mount', () => {
  const layers = ['minimal.standard.live.squashfs', 'minimal.standard.squashfs', 'minimal.squashfs'];
  const l = detect('casper-24.04-layered', { exists: existing(...layers.map((n) => `/cdrom/casper/${n}`)) });
  assert.equal(l.kind, 'casper');
  assert.deepEqual(
    l.lowers.map((x) => x.shownAs),
    layers.map((n) => '/' + n),
  );
  assert.deepEqual(
    l.lowers.map((x) => x.reachableAt),
    [null, null, '/rofs'],
  );
  assert.deepEqual(
    l.lowers.map((x) => x.image),
    layers.map((n) => `/cdrom/casper/${n}`),
  );
  assert.equal(l.flags.userxattr, false);
  assert.equal(l.xattrPrefix, 'trusted.overlay.');
  assert.equal(l.mount?.mountPoint, '/');
  assert.deepEqual(l.bindMounts, [
    { mountPoint: '/var/snap/firefox/common/host-hunspell', root: '/usr/share/hunspell' },
  ]);
  assert.equal(l.defaultMode, 'diff');
  // without the images on the medium the upper layers cannot be diffed against
  const bare = detect('casper-24.04-layered');
  assert.equal(bare.defaultMode, 'full');
  assert.match(bare.notes.join('\n'), /not reachable: \/minimal.standard.live.squashfs, \/minimal.standard.squashfs/);
});

test('casper with the upper exposed (showmounts-style bind of /cow) → upper', () => {
  const text = fixture('casper-22.04') + '90 29 0:40 / /cow rw,noatime shared:50 - ext4 /dev/sdb3 rw\n';
  const l = detectLiveSystem({ mountinfo: text, exists: existing('/cow/upper') });
  assert.deepEqual(l.upper, { shownAs: '/cow/upper', path: '/cow/upper', reachable: true });
  assert.equal(l.persistence, true);
  assert.equal(l.defaultMode, 'upper');
});

test('live-boot: upper in /run/live/overlay/rw, lower squashfs mounted, medium → upper', () => {
  const l = detect('live-boot', {
    exists: existing('/run/live/overlay/rw', '/run/live/overlay/work', '/run/live/medium/live/filesystem.squashfs'),
  });
  assert.equal(l.kind, 'live-boot');
  assert.deepEqual(l.upper, { shownAs: '/run/live/overlay/rw', path: '/run/live/overlay/rw', reachable: true });
  assert.equal(l.work, '/run/live/overlay/work');
  assert.deepEqual(l.lowers, [
    {
      shownAs: '/run/live/rootfs/filesystem.squashfs/',
      reachableAt: '/run/live/rootfs/filesystem.squashfs',
      image: '/run/live/medium/live/filesystem.squashfs',
      backing: null,
    },
  ]);
  assert.equal(l.medium, '/run/live/medium');
  assert.deepEqual(l.base, ['/run/live/rootfs/filesystem.squashfs']);
  assert.equal(l.persistence, false);
  assert.equal(l.defaultMode, 'upper');
  assert.deepEqual(l.bindMounts, []);
  for (const p of ['/run/live', '/lib/live/mount', '/usr/lib/live/mount']) assert.ok(l.livePaths.includes(p), p);
  // upper gone (e.g. another namespace): the lower is mounted, so diff
  assert.equal(detect('live-boot').defaultMode, 'diff');
});

test('live-boot with / union persistence → upper on the persistence volume', () => {
  const l = detect('live-boot-persistence', { exists: existing('/run/live/persistence/sdb2/rw') });
  assert.equal(l.kind, 'live-boot');
  assert.equal(l.upper?.path, '/run/live/persistence/sdb2/rw');
  assert.equal(l.work, '/run/live/persistence/sdb2/work');
  assert.equal(l.persistence, true);
  assert.equal(l.defaultMode, 'upper');
});

test('live-boot VyOS-style deep persistence path', () => {
  const text =
    '24 1 0:22 / / rw,noatime - overlay overlay rw,lowerdir=/run/live/rootfs/1.3.squashfs/,upperdir=/run/live/persistence/sda2/boot/1.3/persistence/rw,workdir=/run/live/persistence/sda2/boot/1.3/persistence/work\n27 24 8:2 / /run/live/persistence/sda2 rw - ext4 /dev/sda2 rw\n';
  const l = detectLiveSystem({
    mountinfo: text,
    exists: existing('/run/live/persistence/sda2/boot/1.3/persistence/rw'),
  });
  assert.equal(l.kind, 'live-boot');
  assert.equal(l.persistence, true);
  assert.equal(l.defaultMode, 'upper');
});

test('Slax: /memory paths from the initramfs are found under /run/initramfs/memory', () => {
  const l = detect('slax', {
    exists: existing('/run/initramfs/memory/changes/changes', '/run/initramfs/memory/changes/workdir'),
  });
  assert.equal(l.kind, 'slax');
  assert.deepEqual(l.upper, {
    shownAs: '/memory/changes/changes',
    path: '/run/initramfs/memory/changes/changes',
    reachable: true,
  });
  assert.equal(l.work, '/run/initramfs/memory/changes/workdir');
  assert.deepEqual(
    l.lowers.map((x) => x.reachableAt),
    ['04-apps', '03-desktop', '02-xorg', '01-core'].map((b) => `/run/initramfs/memory/bundles/${b}.sb`),
  );
  assert.equal(l.medium, '/run/initramfs/memory/data');
  assert.equal(l.persistence, false); // changes on the /run/initramfs tmpfs
  assert.equal(l.defaultMode, 'upper');
  assert.ok(l.livePaths.includes('/run/initramfs'));
});

test('Slax: options already naming /run/initramfs/memory', () => {
  const text =
    '15 1 0:17 / / rw - overlay overlay rw,lowerdir=/run/initramfs/memory/bundles/01-core.sb,upperdir=/run/initramfs/memory/changes/changes,workdir=/run/initramfs/memory/changes/workdir\n20 15 0:16 / /run/initramfs rw - tmpfs tmpfs rw\n';
  const l = detectLiveSystem({ mountinfo: text, exists: existing('/run/initramfs/memory/changes/changes') });
  assert.equal(l.kind, 'slax');
  assert.equal(l.defaultMode, 'upper');
});

test('overlayroot: upper on the /media/root-rw tmpfs, lower the real root at /media/root-ro', () => {
  const l = detect('overlayroot', { exists: existing('/media/root-rw/overlay') });
  assert.equal(l.kind, 'overlayroot');
  assert.equal(l.upper?.path, '/media/root-rw/overlay');
  assert.equal(l.work, '/media/root-rw/overlay-workdir/_');
  assert.deepEqual(l.lowers, [
    { shownAs: '/media/root-ro', reachableAt: '/media/root-ro', image: null, backing: null },
  ]);
  assert.deepEqual(l.base, ['/media/root-ro']);
  assert.equal(l.persistence, false);
  assert.equal(l.defaultMode, 'upper');
});

test('aufs: branches from sysfs (casper union=aufs), base at /rofs', () => {
  let asked = '';
  const l = detect('aufs', {
    readAufsBranches: (si) => {
      asked = si;
      return ['/cow/upper=rw', '/filesystem.squashfs=rr'];
    },
  });
  assert.equal(asked, '9c3fa7bf8c2a5c1a');
  assert.equal(l.kind, 'aufs');
  assert.equal(l.family, 'casper');
  assert.equal(l.upper?.shownAs, '/cow/upper');
  assert.equal(l.upper?.reachable, false);
  assert.deepEqual(
    l.lowers.map((x) => x.reachableAt),
    ['/rofs'],
  );
  assert.equal(l.defaultMode, 'diff');
  assert.match(l.notes.join('\n'), /\.wh\./);
  // branches hidden and unreadable
  const hidden = detect('aufs', { readAufsBranches: () => null });
  assert.equal(hidden.upper, null);
  assert.equal(hidden.defaultMode, 'full');
});

test('aufs: br: list in the options (live-boot ≤ jessie)', () => {
  const text =
    '17 1 0:18 / / rw - aufs aufs rw,br:/run/live/overlay/rw=rw:/run/live/rootfs/filesystem.squashfs=rr+wh\n19 17 0:19 / /run rw - tmpfs tmpfs rw\n';
  const l = detectLiveSystem({
    mountinfo: text,
    exists: existing('/run/live/overlay/rw', '/run/live/rootfs/filesystem.squashfs'),
  });
  assert.equal(l.kind, 'aufs');
  assert.equal(l.family, 'live-boot');
  assert.equal(l.defaultMode, 'upper');
});

test('plain installed system: no union → no default mode (a snapshot needs mode full or a source)', () => {
  const l = detect('plain');
  assert.equal(l.kind, 'none');
  assert.equal(l.fsType, 'ext4');
  assert.equal(l.upper, null);
  assert.equal(l.defaultMode, null);
  assert.match(l.notes[0], /ext4 \(\/dev\/sda1\), not a union mount/);
  // a directory on another mount is looked up on that mount
  assert.equal(detect('plain', { root: '/home/user' }).mount?.mountPoint, '/home');
});

test('--root: a test overlay elsewhere, a subdirectory of it, and a bind of a subtree', () => {
  const text = fixture('escapes');
  const l = detectLiveSystem({
    mountinfo: text,
    root: '/tmp/x/merged/',
    exists: existing('/tmp/x/upper', '/tmp/x/l1', '/tmp/x/l2'),
  });
  assert.equal(l.kind, 'generic-overlay');
  assert.equal(l.root, '/tmp/x/merged');
  assert.equal(l.upper?.path, '/tmp/x/upper');
  assert.deepEqual(
    l.lowers.map((x) => x.reachableAt),
    ['/tmp/x/l1', '/tmp/x/l2'],
  );
  assert.deepEqual([l.flags.redirectDir, l.flags.metacopy, l.flags.index], ['on', true, true]);
  assert.equal(l.defaultMode, 'upper');

  const sub = detectLiveSystem({ mountinfo: text, root: '/tmp/x/merged/etc', exists: existing('/tmp/x/upper/etc') });
  assert.equal(sub.within, '/etc');
  assert.equal(sub.upper?.path, '/tmp/x/upper/etc');

  // relative layer paths (as the mounter typed them) cannot be resolved; userxattr → user.overlay.*
  const rel = detectLiveSystem({ mountinfo: text, root: '/tmp/mi-test/bind', exists: () => true });
  assert.equal(rel.within, '/sub');
  assert.equal(rel.xattrPrefix, 'user.overlay.');
  assert.equal(rel.upper?.reachable, false);
  assert.equal(rel.defaultMode, 'full');
  assert.deepEqual(rel.bindMounts, [{ mountPoint: '/tmp/mi-test/m p', root: '/' }]);
});

test('filesystem: a mismatch with the union type is a UsageError', () => {
  assert.throws(
    () => detect('plain', { filesystem: 'overlay' }),
    (e: unknown) => e instanceof UsageError && /\/ is on a ext4 mount, not overlay/.test((e as Error).message),
  );
  assert.equal(detect('live-boot', { filesystem: 'overlay' }).kind, 'live-boot');
  assert.throws(() => detect('live-boot', { filesystem: 'aufs' }), UsageError);
});

test('a real overlay mounted here, read from /proc/self/mountinfo', { skip: needs('root') }, (t) => {
  const base = tempDir();
  const [lower, upper, work, merged] = ['lower dir', 'upper', 'work', 'merged'].map((n) => join(base, n));
  for (const d of [lower, upper, work, merged]) dir(d);
  const r = run('mount', [
    '-t',
    'overlay',
    'overlay',
    '-o',
    `lowerdir=${lower},upperdir=${upper},workdir=${work}`,
    merged,
  ]);
  if (r.status !== 0) {
    rmSync(base, { recursive: true, force: true });
    t.skip(`cannot mount overlayfs here: ${r.stderr.trim()}`);
    return;
  }
  try {
    const l = detectLiveSystem({ root: merged });
    assert.equal(l.kind, 'generic-overlay');
    assert.equal(l.mount?.mountPoint, merged);
    assert.deepEqual(l.upper, { shownAs: upper, path: upper, reachable: true });
    assert.deepEqual(l.lowers, [{ shownAs: lower, reachableAt: lower, image: null, backing: null }]);
    assert.equal(l.defaultMode, 'upper');
  } finally {
    run('umount', [merged]);
    rmSync(base, { recursive: true, force: true });
  }
});

test('detects this machine without throwing', () => {
  const l = detectLiveSystem();
  // null: not a live system (snapshot() then asks for mode 'full' or a source)
  assert.ok(l.kind === 'none' ? l.defaultMode === null : ['upper', 'diff', 'full'].includes(l.defaultMode ?? ''));
});

test('fuzz: mutated mountinfo fixtures throw nothing but MountinfoError/UsageError', () => {
  const names = [
    'casper-20.04',
    'casper-22.04',
    'casper-24.04-layered',
    'live-boot',
    'live-boot-persistence',
    'slax',
    'overlayroot',
    'aufs',
    'plain',
    'escapes',
  ];
  fuzzCases('mountinfo', names.map(fixture), 3000, (text) => {
    try {
      parseMountinfoLenient(text);
      for (const root of ['/', '/tmp/x/merged', '/home'])
        detectLiveSystem({ mountinfo: text, root, exists: () => false, readAufsBranches: () => null });
    } catch (err) {
      if (err instanceof MountinfoError || err instanceof UsageError) return;
      throw err;
    }
  });
  assert.ok(new MountinfoError(1, 'x', 'y') instanceof CasperError);
});
