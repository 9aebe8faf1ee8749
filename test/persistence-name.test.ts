// Persistence naming for casper media, on the mountinfo fixtures of real layouts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { detectLiveSystem } from '../src/mount/index.js';
import { persistenceName } from '../src/live/persistence-name.js';

const fixture = (n: string) =>
  readFileSync(fileURLToPath(new URL(`../../test/fixtures/mountinfo/${n}.mountinfo`, import.meta.url)), 'utf8');
const exists =
  (...paths: string[]) =>
  (p: string) =>
    paths.includes(p);

test('layered casper (24.04): <top-layer>.<tag>.squashfs and the layerfs-path boot option', () => {
  const layers = ['minimal.standard.live.squashfs', 'minimal.standard.squashfs', 'minimal.squashfs'].map(
    (n) => `/cdrom/casper/${n}`,
  );
  const layout = detectLiveSystem({ mountinfo: fixture('casper-24.04-layered'), exists: exists(...layers) });
  assert.deepEqual(persistenceName(layout, 'mysession'), {
    output: '/cdrom/casper/minimal.standard.live.mysession.squashfs',
    bootOption: 'layerfs-path=minimal.standard.live.mysession.squashfs',
  });
});

test('non-layered casper (22.04): a name that sorts after filesystem.squashfs, no boot option', () => {
  const layout = detectLiveSystem({
    mountinfo: fixture('casper-22.04'),
    exists: exists('/cdrom/casper/filesystem.squashfs'),
  });
  assert.deepEqual(persistenceName(layout, 's1'), { output: '/cdrom/casper/zz-s1.squashfs', bootOption: null });
  assert.ok(['filesystem.squashfs', 'zz-s1.squashfs'].sort()[1] === 'zz-s1.squashfs');
});

test('layered casper booted from its snapshot: the same slot again, not a longer name', () => {
  const layers = [
    'minimal.standard.live.mysession.squashfs',
    'minimal.standard.live.squashfs',
    'minimal.standard.squashfs',
    'minimal.squashfs',
  ];
  const text = fixture('casper-24.04-layered').replace(
    'lowerdir=/minimal.standard.live.squashfs:',
    'lowerdir=/minimal.standard.live.mysession.squashfs:/minimal.standard.live.squashfs:',
  );
  const layout = detectLiveSystem({ mountinfo: text, exists: exists(...layers.map((n) => `/cdrom/casper/${n}`)) });
  assert.equal(layout.lowers[0].shownAs, '/minimal.standard.live.mysession.squashfs');
  assert.deepEqual(persistenceName(layout, 'mysession'), {
    output: '/cdrom/casper/minimal.standard.live.mysession.squashfs',
    bootOption: 'layerfs-path=minimal.standard.live.mysession.squashfs',
  });
});

test('non-layered casper booted from zz-TAG: the same name again; a later-sorting layer is refused', () => {
  const text = fixture('casper-22.04').replace(
    'lowerdir=/filesystem.squashfs',
    'lowerdir=/zz-s1.squashfs:/filesystem.squashfs',
  );
  const layout = detectLiveSystem({
    mountinfo: text,
    exists: exists('/cdrom/casper/filesystem.squashfs', '/cdrom/casper/zz-s1.squashfs'),
  });
  assert.deepEqual(persistenceName(layout, 's1', { list: () => ['filesystem.squashfs', 'zz-s1.squashfs'] }), {
    output: '/cdrom/casper/zz-s1.squashfs',
    bootOption: null,
  });
  assert.throws(
    () => persistenceName(layout, 's1', { list: () => ['filesystem.squashfs', 'zz-s1.squashfs', 'zzz.squashfs'] }),
    /'zzz.squashfs' .* sorts after 'zz-s1.squashfs'/,
  );
});

test('live-boot: live/zz-TAG.squashfs, which sorts after every medium layer; a module file orders instead', () => {
  const layout = detectLiveSystem({ mountinfo: fixture('live-boot'), exists: () => true, readLoopBacking: () => null });
  const noModule = { moduleFile: () => null };
  assert.deepEqual(
    persistenceName(layout, 'session', { ...noModule, list: () => ['filesystem.squashfs', 'vmlinuz', 'initrd.img'] }),
    {
      output: '/run/live/medium/live/zz-session.squashfs',
      bootOption: null,
    },
  );
  // An image that would be stacked above it (live-boot sorts every image type together) is refused by name.
  assert.throws(
    () => persistenceName(layout, 'session', { ...noModule, list: () => ['filesystem.squashfs', 'zzz-extra.ext4'] }),
    /live-boot stacks .*'zzz-extra.ext4'/,
  );
  // With a module file the order is the file's (the save makes the image its last entry): no sort check.
  assert.equal(
    persistenceName(layout, 'session', {
      moduleFile: () => '/run/live/medium/live/filesystem.module',
      list: () => ['zzz.squashfs'],
    }).output,
    '/run/live/medium/live/zz-session.squashfs',
  );
});

test('refused: other live systems, bad tags, media not found', () => {
  const generic = detectLiveSystem({ mountinfo: fixture('overlayroot'), exists: () => true });
  assert.throws(() => persistenceName(generic, 'x'), /for casper .* and live-boot/);
  const c = detectLiveSystem({ mountinfo: fixture('casper-22.04'), exists: () => false });
  assert.throws(() => persistenceName(c, 'x'), /medium/);
  assert.throws(() => persistenceName(c, 'a/b'), /tag/);
});
