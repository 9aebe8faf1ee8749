// Persistence naming for casper media, on the mountinfo fixtures of real layouts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { detectLiveSystem } from '../src/mount/index.js';
import { casperPersistenceName } from '../src/live/persistence-name.js';

const fixture = (n: string) => readFileSync(fileURLToPath(new URL(`../../test/fixtures/mountinfo/${n}.mountinfo`, import.meta.url)), 'utf8');
const exists = (...paths: string[]) => (p: string) => paths.includes(p);

test('layered casper (24.04): <top-layer>.<tag>.squashfs and the layerfs-path boot option', () => {
  const layers = ['minimal.standard.live.squashfs', 'minimal.standard.squashfs', 'minimal.squashfs'].map((n) => `/cdrom/casper/${n}`);
  const layout = detectLiveSystem({ mountinfo: fixture('casper-24.04-layered'), exists: exists(...layers) });
  assert.deepEqual(casperPersistenceName(layout, 'mysession'), {
    output: '/cdrom/casper/minimal.standard.live.mysession.squashfs',
    bootOption: 'layerfs-path=minimal.standard.live.mysession.squashfs',
  });
});

test('non-layered casper (22.04): a name that sorts after filesystem.squashfs, no boot option', () => {
  const layout = detectLiveSystem({ mountinfo: fixture('casper-22.04'), exists: exists('/cdrom/casper/filesystem.squashfs') });
  assert.deepEqual(casperPersistenceName(layout, 's1'), { output: '/cdrom/casper/zz-s1.squashfs', bootOption: null });
  assert.ok(['filesystem.squashfs', 'zz-s1.squashfs'].sort()[1] === 'zz-s1.squashfs');
});

test('refused: other live systems, bad tags, media not found', () => {
  const lb = detectLiveSystem({ mountinfo: fixture('live-boot'), exists: () => true });
  assert.throws(() => casperPersistenceName(lb, 'x'), /for casper/);
  const c = detectLiveSystem({ mountinfo: fixture('casper-22.04'), exists: () => false });
  assert.throws(() => casperPersistenceName(c, 'x'), /medium/);
  assert.throws(() => casperPersistenceName(c, 'a/b'), /tag/);
});
