// The shutdown unit: systemd-analyze verify accepts it, and it keeps the ordering that makes the snapshot
// run while its target filesystem is still mounted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync, chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { has, repoRoot, run } from './helpers/tools.js';
import { tempDir } from './helpers/image-check.js';

const unit = join(repoRoot, 'systemd', 'casper-snapshot.service');

test(
  'systemd-analyze verify accepts the shutdown unit',
  { skip: has('systemd-analyze') ? false : 'systemd-analyze is not installed' },
  () => {
    const t = tempDir();
    try {
      // verify checks that ExecStop's binary exists: point it at a stand-in with the same arguments.
      const bin = join(t, 'casper-snapshot');
      writeFileSync(bin, '#!/bin/sh\nexit 0\n');
      chmodSync(bin, 0o755);
      mkdirSync(join(t, 'units'));
      const text = readFileSync(unit, 'utf8').replace('/usr/bin/casper-snapshot', bin);
      writeFileSync(join(t, 'units', 'casper-snapshot.service'), text);
      const r = run('systemd-analyze', ['verify', '--man=no', join(t, 'units', 'casper-snapshot.service')]);
      const problems = (r.stdout + r.stderr).split('\n').filter((l) => l.includes('casper-snapshot.service'));
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(problems, []);
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  },
);

test('the unit works at stop time, before its mounts go, with a raised timeout', () => {
  const text = readFileSync(unit, 'utf8');
  for (const line of [
    'DefaultDependencies=no',
    'Type=oneshot',
    'RemainAfterExit=yes',
    'ExecStart=/bin/true',
    'After=local-fs.target display-manager.service',
    'Before=shutdown.target reboot.target halt.target poweroff.target',
    'Conflicts=shutdown.target',
    'RequiresMountsFor=/run/live/medium /cdrom',
    'StandardError=journal+console',
    'TimeoutStopSec=1h',
    'SuccessExitStatus=3',
  ])
    assert.ok(text.split('\n').includes(line), `missing: ${line}`);
  assert.match(text, /^ExecStop=\/usr\/bin\/casper-snapshot --config \/etc\/casper.conf --plymouth$/m);
});

test(
  '--plymouth sends progress through plymouth message when plymouthd answers',
  { skip: process.getuid?.() === 0 ? false : 'needs root' },
  async () => {
    const { cli } = await import('./helpers/tools.js');
    const t = tempDir();
    try {
      const bin = join(t, 'bin');
      mkdirSync(bin);
      const log = join(t, 'plymouth.log');
      writeFileSync(join(bin, 'plymouth'), `#!/bin/sh\necho "$@" >> '${log}'\nexit 0\n`);
      chmodSync(join(bin, 'plymouth'), 0o755);
      mkdirSync(join(t, 'src'));
      writeFileSync(join(t, 'src', 'f'), 'x');
      const r = cli(['--source', join(t, 'src'), join(t, 'o.sqfs'), '-q', '--plymouth'], {
        PATH: `${bin}:${process.env.PATH}`,
      });
      assert.equal(r.status, 0, r.stderr);
      const calls = readFileSync(log, 'utf8');
      assert.match(calls, /^--ping$/m);
      assert.match(calls, /^message --text=Saving the live session: scanning files…$/m);
      assert.match(calls, /^message --text=Live session saved/m);
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  },
);
