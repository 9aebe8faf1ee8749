// The parts of remaster (src/remaster/), each on its own: the package list against dpkg-query, xorriso's file
// list with awkward names, the boot configuration's kernels and initrds, kernel versions, checksum files,
// where the base comes from on a live system, the replaced image's codec, Joliet, and filesystem.size's rule.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { manifestLines, parseDpkgStatus, keepInstalled } from '../src/remaster/manifest.js';
import { parseFileList, readBaseMedium } from '../src/remaster/base-medium.js';
import { bootFiles } from '../src/remaster/boot-config.js';
import { checkKernel, compareVersions, kernelVersionOf, rootKernels } from '../src/remaster/kernel.js';
import { editChecksums } from '../src/remaster/checksums.js';
import { checkNotOnMedium, liveMediumSource } from '../src/remaster/medium-source.js';
import { recogniseLayout } from '../src/remaster/layout.js';
import { squashfsCodec } from '../src/remaster/squashfs-codec.js';
import { readIsoVolume } from '../src/remaster/iso9660.js';
import { checkIsoTarget } from '../src/remaster/output-iso.js';
import { verify } from '../src/api/verify.js';
import { UsageError } from '../src/errors.js';
import { has, must } from './helpers/tools.js';
import { fakeKernel, makeRoot } from './helpers/medium-iso.js';
import { readFileSync } from 'node:fs';

const tmp = () => mkdtempSync(join(tmpdir(), 'casper-remaster-parts-'));

test(
  "manifest: the lines dpkg-query -W prints for this machine's own dpkg database, read without dpkg",
  { skip: existsSync('/var/lib/dpkg/status') && has('dpkg-query') ? false : 'no dpkg database here' },
  () => {
    const mine = manifestLines(parseDpkgStatus(readFileSync('/var/lib/dpkg/status', 'utf8')));
    const dpkg = must('dpkg-query', ['-W']).split('\n').filter(Boolean);
    assert.ok(dpkg.length > 50);
    assert.deepEqual(mine, dpkg);
  },
);

test('manifest: binary:Package names (Multi-Arch: same, foreign architectures), purged entries left out, -remove lists kept to installed packages', () => {
  const status = [
    'Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nMulti-Arch: same\nVersion: 2.36-9\n',
    'Package: dpkg\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.21.22\n',
    'Package: libfoo1\nStatus: install ok installed\nArchitecture: i386\nVersion: 1.0\n',
    'Package: gone\nStatus: purge ok not-installed\nArchitecture: amd64\n',
    'Package: conf-only\nStatus: deinstall ok config-files\nArchitecture: all\nVersion: 3\nDescription: x\n continued: not a field\n',
  ].join('\n');
  assert.deepEqual(manifestLines(parseDpkgStatus(status)), [
    'conf-only\t3',
    'dpkg\t1.21.22',
    'libc6:amd64\t2.36-9',
    'libfoo1:i386\t1.0',
  ]);
  assert.deepEqual(keepInstalled('casper\nubiquity\nlibc6:amd64\n', new Set(['casper', 'libc6'])), {
    text: 'casper\nlibc6:amd64\n',
    dropped: ['ubiquity'],
  });
});

test(
  "base medium: xorriso's file list read back with quotes, spaces and newlines in names",
  { skip: has('xorriso') ? false : 'xorriso is not installed' },
  async () => {
    const d = tmp();
    try {
      const tree = join(d, 'tree');
      mkdirSync(join(tree, 'a b'), { recursive: true });
      writeFileSync(join(tree, "a b/it's"), 'x\n');
      writeFileSync(join(tree, 'new\nline'), 'yy');
      writeFileSync(join(tree, 'star*'), 'zzz\n');
      must('xorriso', ['-as', 'mkisofs', '-r', '-V', 'NAMES', '-o', join(d, 'n.iso'), tree]);
      const base = await readBaseMedium('xorriso', join(d, 'n.iso'));
      assert.deepEqual([...base.files].sort(), [
        ["/a b/it's", 2],
        ['/new\nline', 2],
        ['/star*', 4],
      ]);
      assert.equal(base.volume.volumeId, 'NAMES');
      assert.deepEqual(base.bootEntries, []);
      assert.ok(base.bytes > 0);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
    assert.deepEqual([...parseFileList("-r--r--r--    1 0        0           10 Dec  6  2025 '/x'\n")], [['/x', 10]]);
  },
);

test('boot configuration: GRUB and SYSLINUX kernels and initrds, ($root) and relative paths resolved, variables not followed', () => {
  const b = bootFiles(
    new Map([
      [
        '/boot/grub/grub.cfg',
        'menuentry x {\n  linux ($root)/casper/vmlinuz boot=casper\n  initrd /casper/initrd /casper/extra.img\n}\n# linux /commented\nlinuxefi ${root}/casper/vmlinuz.efi\nlinux $kernel\n',
      ],
      ['/isolinux/txt.cfg', 'label live\n  kernel vmlinuz\n  append initrd=/casper/initrd,ucode.img boot=casper\n'],
    ]),
  );
  assert.deepEqual([...b.kernels.keys()].sort(), ['/casper/vmlinuz', '/casper/vmlinuz.efi', '/isolinux/vmlinuz']);
  assert.deepEqual([...b.initrds.keys()].sort(), ['/casper/extra.img', '/casper/initrd', '/isolinux/ucode.img']);
  assert.deepEqual(b.initrds.get('/casper/initrd'), ['/boot/grub/grub.cfg', '/isolinux/txt.cfg']);
});

test('kernel: versions read from a bzImage header, ordered as sort -V does; what is copied, kept or reported', () => {
  assert.equal(
    kernelVersionOf(fakeKernel('6.1.0-28-amd64 (debian-kernel@lists.debian.org) #1 SMP')),
    '6.1.0-28-amd64 (debian-kernel@lists.debian.org) #1 SMP',
  );
  assert.equal(kernelVersionOf(Buffer.alloc(4096)), null);
  assert.ok(compareVersions('6.1.0-10-amd64', '6.1.0-9-amd64') > 0);
  assert.ok(compareVersions('5.15.0-91-generic', '6.1.0-1-amd64') < 0);
  assert.equal(compareVersions('6.1.0-9-amd64', '6.1.0-9-amd64'), 0);
  const d = tmp();
  try {
    makeRoot(d, { kernel: '6.1.0-2-amd64' });
    makeRoot(d, { kernel: '6.1.0-10-amd64', initrd: false });
    const root = rootKernels(d);
    assert.deepEqual(
      root.map((k) => [k.release, k.initrd !== null]),
      [
        ['6.1.0-10-amd64', false],
        ['6.1.0-2-amd64', true],
      ],
    );
    const medium = [{ path: '/live/vmlinuz', full: '6.1.0-1-amd64 (tests@casper-snapshot) #1 SMP' }];
    // The newest has no initrd: reported, nothing copied.
    const noInitrd = checkKernel(medium, ['/live/initrd.img'], root);
    assert.equal(noInitrd.verdict, 'kept');
    assert.match(noInitrd.note, /no \/boot\/initrd\.img-6\.1\.0-10-amd64.*update-initramfs -c -k 6\.1\.0-10-amd64/);
    const updated = checkKernel(medium, ['/live/initrd.img'], root.slice(1));
    assert.equal(updated.verdict, 'updated');
    assert.deepEqual(
      updated.copies.map((c) => c.to),
      ['/live/vmlinuz', '/live/initrd.img'],
    );
    const same = checkKernel([{ path: '/live/vmlinuz', full: root[1].full }], ['/live/initrd.img'], root.slice(1));
    assert.equal(same.verdict, 'same');
    assert.equal(checkKernel([], [], root).verdict, 'unknown');
    assert.equal(checkKernel(medium, [], []).verdict, 'unknown');
    const two = checkKernel(
      [medium[0], { path: '/live/vmlinuz2', full: '5.10.0-1-amd64 x' }],
      ['/live/initrd.img'],
      root.slice(1),
    );
    assert.match(two.note, /more than one kernel release/);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('checksums: lines of changed files get the new hash, left-out files lose theirs, added files get one, the rest is kept byte for byte', () => {
  const text = `${'a'.repeat(32)}  ./casper/filesystem.squashfs\n${'b'.repeat(32)}  ./casper/zz-session.squashfs\n${'c'.repeat(32)}  ./boot/grub/grub.cfg\nnot a checksum line\n`;
  const e = editChecksums(
    text,
    new Map([
      ['/casper/filesystem.squashfs', 'd'.repeat(32)],
      ['/casper/filesystem.size', 'e'.repeat(32)],
    ]),
    new Set(['/casper/zz-session.squashfs']),
  );
  assert.equal(
    e.text,
    `${'d'.repeat(32)}  ./casper/filesystem.squashfs\n${'c'.repeat(32)}  ./boot/grub/grub.cfg\nnot a checksum line\n${'e'.repeat(32)}  ./casper/filesystem.size\n`,
  );
  assert.deepEqual(
    [e.updated, e.dropped, e.added],
    [['/casper/filesystem.squashfs'], ['/casper/zz-session.squashfs'], ['/casper/filesystem.size']],
  );
});

test('layout: casper and live-boot recognised, persistence layers and kept-linked images left out, a layered casper medium refused', () => {
  const files = (paths: string[]) => new Map(paths.map((p) => [p, 1]));
  const c = recogniseLayout(
    files([
      '/casper/filesystem.squashfs',
      '/casper/zz-s.squashfs',
      '/casper/.zz-s.squashfs.prev-77',
      '/casper/filesystem.squashfs.gpg',
      '/casper/filesystem.manifest',
      '/md5sum.txt',
      '/boot/grub/grub.cfg',
    ]),
    'x',
  );
  assert.equal(c.family, 'casper');
  assert.equal(c.size, '/casper/filesystem.size', 'casper always gets a filesystem.size');
  assert.deepEqual(
    c.leftOut.map((l) => l.path),
    ['/casper/.zz-s.squashfs.prev-77', '/casper/filesystem.squashfs.gpg', '/casper/zz-s.squashfs'],
  );
  assert.deepEqual(c.checksums, [{ path: '/md5sum.txt', algorithm: 'md5' }]);
  const l = recogniseLayout(
    files([
      '/live/filesystem.squashfs',
      '/live/zz-session.squashfs',
      '/live/extra.ext4',
      '/live/filesystem.module',
      '/live/vmlinuz',
      '/sha256sum.txt',
    ]),
    'x',
  );
  assert.equal(l.family, 'live-boot');
  assert.equal(l.size, null);
  assert.deepEqual(
    l.leftOut.map((x) => x.path),
    ['/live/extra.ext4', '/live/zz-session.squashfs'],
  );
  assert.deepEqual(l.moduleFiles, ['/live/filesystem.module']);
  assert.throws(
    () => recogniseLayout(files(['/casper/minimal.squashfs', '/casper/minimal.standard.squashfs']), 'BASE'),
    /layered casper medium \(minimal\.squashfs, minimal\.standard\.squashfs/,
  );
  assert.throws(() => recogniseLayout(files(['/EFI/boot/bootx64.efi']), 'BASE'), /not a casper or live-boot medium/);
});

const mountinfo = (lines: string[]) => lines.map((l, i) => `${20 + i} 1 ${l}`).join('\n') + '\n';

test("live medium as the base: the device behind /cdrom or /run/live/medium, the whole disk of a hybrid stick, a loop device's file; refusals name --from-iso", () => {
  const iso = (p: string) => ['/dev/sr0', '/dev/sdb', '/srv/live.iso'].includes(p);
  const cd = mountinfo(['11:0 / /cdrom ro,noatime - iso9660 /dev/sr0 ro']);
  assert.deepEqual(liveMediumSource({ mountinfo: cd, isIso: iso, loopBacking: () => null, parentDisk: () => null }), {
    iso: '/dev/sr0',
    from: 'live medium',
    mountPoint: '/cdrom',
  });
  const stick = mountinfo(['8:17 / /run/live/medium ro,noatime - iso9660 /dev/sdb1 ro']);
  assert.equal(
    liveMediumSource({
      mountinfo: stick,
      isIso: iso,
      loopBacking: () => null,
      parentDisk: (d) => (d === '/dev/sdb1' ? '/dev/sdb' : null),
    }).iso,
    '/dev/sdb',
  );
  const loop = mountinfo(['7:0 / /run/live/medium ro - iso9660 /dev/loop0 ro']);
  assert.equal(
    liveMediumSource({
      mountinfo: loop,
      isIso: iso,
      loopBacking: (d) => (d === '/dev/loop0' ? '/srv/live.iso' : null),
      parentDisk: () => null,
    }).iso,
    '/srv/live.iso',
  );
  const ext4 = mountinfo(['254:1 / /run/live/medium ro,noatime - ext4 /dev/vda1 ro']);
  assert.throws(
    () => liveMediumSource({ mountinfo: ext4, isIso: iso }),
    (e: Error) =>
      e instanceof UsageError && /ext4 on \/dev\/vda1\) is not an ISO 9660 image.*--from-iso/.test(e.message),
  );
  assert.throws(
    () => liveMediumSource({ mountinfo: mountinfo(['8:1 / / rw - ext4 /dev/sda1 rw']) }),
    /no live medium is mounted here.*--from-iso/,
  );
  const base = { iso: '/srv/base.iso', from: 'iso file' as const, mountPoint: null };
  assert.throws(
    () =>
      checkNotOnMedium(
        '/run/live/medium/new.iso',
        base,
        mountinfo(['8:1 / / rw - ext4 /dev/sda1 rw', '11:0 / /run/live/medium rw - vfat /dev/sdb1 rw']),
      ),
    /on the live medium \(\/run\/live\/medium\): a remaster never writes there/,
  );
  checkNotOnMedium(
    '/home/user/new.iso',
    base,
    mountinfo(['8:1 / / rw - ext4 /dev/sda1 rw', '11:0 / /run/live/medium rw - vfat /dev/sdb1 rw']),
  );
});

test(
  "the replaced image's codec from its superblock; Joliet and the volume id from the volume descriptors",
  { skip: has('xorriso') ? false : 'xorriso is not installed' },
  () => {
    const d = tmp();
    try {
      makeRoot(join(d, 'r'), {});
      must('mksquashfs', [
        join(d, 'r'),
        join(d, 'i.sqfs'),
        '-noappend',
        '-quiet',
        '-no-progress',
        '-comp',
        'lz4',
        '-b',
        '65536',
      ]);
      assert.deepEqual(squashfsCodec(readFileSync(join(d, 'i.sqfs')).subarray(0, 96)), {
        compressor: 'lz4',
        blockSize: 65536,
      });
      assert.equal(squashfsCodec(Buffer.alloc(96)), null);
      must('xorriso', ['-as', 'mkisofs', '-r', '-J', '-V', 'WITH_J', '-o', join(d, 'j.iso'), join(d, 'r')]);
      must('xorriso', ['-as', 'mkisofs', '-r', '-V', 'NO_J', '-o', join(d, 'n.iso'), join(d, 'r')]);
      assert.deepEqual(readIsoVolume(join(d, 'j.iso')), { volumeId: 'WITH_J', joliet: true });
      assert.deepEqual(readIsoVolume(join(d, 'n.iso')), { volumeId: 'NO_J', joliet: false });
      assert.equal(readIsoVolume(join(d, 'i.sqfs')), null);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  },
);

test(
  "filesystem.size's rule (verify's installedBytes): files and directories in whole 4 KiB blocks, hard links once, long symlinks one block",
  { skip: has('mksquashfs') ? false : 'mksquashfs is not installed' },
  async () => {
    const d = tmp();
    try {
      const r = join(d, 'r');
      mkdirSync(join(r, 'sub'), { recursive: true });
      writeFileSync(join(r, 'empty'), '');
      writeFileSync(join(r, 'one'), 'x');
      writeFileSync(join(r, 'block'), Buffer.alloc(4096, 1));
      writeFileSync(join(r, 'sub/more'), Buffer.alloc(4097, 2));
      must('ln', [join(r, 'sub/more'), join(r, 'sub/more-link')]);
      must('ln', ['-s', 'x'.repeat(70), join(r, 'long-link')]);
      must('ln', ['-s', 'short', join(r, 'short-link')]);
      must('mksquashfs', [r, join(d, 'i.sqfs'), '-noappend', '-quiet', '-no-progress']);
      const counts = (await verify(join(d, 'i.sqfs'), { data: false })).counts;
      // files 0 + 4096 + 4096 + 8192 (the hard link once), 2 directories of a block each, one long symlink
      assert.equal(counts.installedBytes, 0 + 4096 + 4096 + 8192 + 2 * 4096 + 4096);
      assert.deepEqual(readdirSync(r).length, 6);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  },
);

test("the ISO's path: nothing, an empty file or (with --force) another file may be replaced; a directory, symlink or missing directory is a usage error naming it", () => {
  const t = mkdtempSync(join(tmpdir(), 'cs-iso-target-'));
  try {
    assert.equal(checkIsoTarget(join(t, 'new.iso'), false), 'none');
    writeFileSync(join(t, 'empty.iso'), '');
    assert.equal(checkIsoTarget(join(t, 'empty.iso'), false), 'empty file');
    writeFileSync(join(t, 'notes.txt'), 'not an ISO');
    assert.throws(() => checkIsoTarget(join(t, 'notes.txt'), false), {
      name: 'UsageError',
      message: /is not an ISO 9660 image: not replaced/,
    });
    assert.equal(checkIsoTarget(join(t, 'notes.txt'), true), 'file (--force)');
    mkdirSync(join(t, 'dir.iso'));
    assert.throws(
      () => checkIsoTarget(join(t, 'dir.iso'), true),
      (e: Error) =>
        e instanceof UsageError &&
        e.message ===
          `output '${join(t, 'dir.iso')}' is a directory: remaster writes only regular files (name a file path)`,
    );
    symlinkSync(join(t, 'empty.iso'), join(t, 'link.iso'));
    assert.throws(() => checkIsoTarget(join(t, 'link.iso'), true), {
      message: /is a symbolic link: remaster writes only regular files/,
    });
    assert.throws(() => checkIsoTarget(join(t, 'missing', 'x.iso'), false), {
      message: new RegExp(`output directory '${t}/missing' does not exist`),
    });
  } finally {
    rmSync(t, { recursive: true, force: true });
  }
});
