// --verify's restore proof on a real overlayfs session (a loop-mounted squashfs medium, a tmpfs upper): the new
// image stacked over the medium in a private mount namespace must give the live view back. A snapshot made to
// miss entries (snapshotWith's dropAfterWalk: a valid image lacking them) must be reported, entry by entry.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { snapshotWith } from '../src/api/snapshot.js';
import type { RestoreCheck } from '../src/api/restore-check.js';
import { needs } from './helpers/capabilities.js';
import { liveSession, sessionChanges, type Session } from './helpers/live-session.js';
import { cli, must, run } from './helpers/tools.js';

const skip =
  needs('root', 'loop', 'squashfs-tools') ||
  (run('sh', ['-c', 'grep -qw overlay /proc/filesystems || modprobe overlay']).status === 0
    ? false
    : 'the kernel has no overlayfs') ||
  (run('sh', ['-c', 'command -v unshare && command -v nsenter']).status === 0
    ? false
    : "util-linux's unshare and nsenter are missing");

/** The session's changes, a name that is not UTF-8 (with a newline), an excluded file and a mount point. */
function session(): Session & { mounted: string } {
  const s = liveSession();
  sessionChanges(s.merged);
  writeFileSync(Buffer.from(join(s.merged, 'home/user/caf\xe9\nx'), 'latin1'), 'odd name');
  writeFileSync(join(s.merged, 'home/user/secret'), 'excluded by the user');
  const mounted = join(s.merged, 'srv-mount');
  mkdirSync(mounted);
  must('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mounted]);
  writeFileSync(join(mounted, 'on-another-fs'), 'not the session');
  const cleanup = s.cleanup;
  return {
    ...s,
    mounted,
    cleanup: () => {
      run('umount', ['-l', mounted]);
      cleanup();
    },
  };
}

async function snap(s: Session, mode: 'upper' | 'diff', name: string, drop?: string[]) {
  const phases = new Set<string>();
  let restoreEntries = 0;
  const output = join(s.t, name);
  const report = await snapshotWith(
    {
      root: s.merged,
      mode,
      output,
      verify: true,
      exclude: ['/home/user/secret'],
      onProgress: (p) => {
        phases.add(p.phase);
        restoreEntries = Math.max(restoreEntries, p.restoreEntries ?? 0);
      },
    },
    { dropAfterWalk: drop },
  );
  return { report, rc: report.restoreCheck as RestoreCheck, phases, restoreEntries, output };
}

for (const mode of ['upper', 'diff'] as const) {
  test(
    `${mode} mode: --verify proves the image stacked over the medium gives the live session back`,
    { skip },
    async () => {
      const s = session();
      try {
        const { report, rc, phases, restoreEntries, output } = await snap(s, mode, `${mode}.squashfs`);
        assert.equal(rc.skipped, undefined);
        assert.deepEqual(rc.differences, []);
        assert.equal(rc.layers.length, 1);
        if (mode === 'upper') assert.deepEqual(rc.layers, [s.rofs]);
        assert.deepEqual(rc.mountPoints, ['/srv-mount']);
        assert.ok(
          rc.entries > 20 && restoreEntries === rc.entries,
          `entries ${rc.entries}, progress ${restoreEntries}`,
        );
        assert.ok(phases.has('verify'));
        assert.ok(report.verified && report.verified.files > 0);
        assert.deepEqual(
          report.warnings.filter((w) => w.includes('--verify')),
          [],
        );
        assert.ok(existsSync(output));
        // Nothing of the proof is left: no mount, no directory.
        assert.doesNotMatch(must('cat', ['/proc/self/mountinfo']), /casper-restore/);
        assert.deepEqual(
          readdirSync(s.t).filter((n) => n.includes('.tmp-')),
          [],
        );
      } finally {
        s.cleanup();
      }
    },
  );
}

test(
  'upper mode: an image missing a whiteout and a new file is reported (extra, missing), and still written',
  { skip },
  async () => {
    const s = session();
    try {
      const { report, rc, output } = await snap(s, 'upper', 'broken.squashfs', [
        '/etc/to-delete',
        '/home/user/notes-link',
        '/usr/bin/tool-link',
      ]);
      const kinds = rc.differences.map((d) => `${d.kind} ${d.path}`);
      assert.ok(kinds.includes('extra /etc/to-delete'), kinds.join('\n'));
      assert.ok(kinds.includes('missing /home/user/notes-link'), kinds.join('\n'));
      assert.ok(kinds.includes('missing /usr/bin/tool-link'), kinds.join('\n'));
      const extra = rc.differences.find((d) => d.path === '/etc/to-delete')!;
      assert.equal(extra.line, 'Only in restored:/etc: to-delete');
      assert.ok(report.warnings.some((w) => /differs from the live session in \d+ place/.test(w)));
      assert.ok(report.warnings.includes('--verify: restore: Only in restored:/etc: to-delete'));
      assert.ok(existsSync(output), 'the image is written (exit 3 from the CLI), not removed');
    } finally {
      s.cleanup();
    }
  },
);

test('diff mode: an image missing a mode change and a new symlink is reported (mode, missing)', { skip }, async () => {
  const s = session();
  try {
    const { rc } = await snap(s, 'diff', 'broken.squashfs', ['/etc/to-chmod', '/usr/bin/tool-link']);
    const byPath = new Map(rc.differences.map((d) => [d.path, d]));
    assert.equal(byPath.get('/usr/bin/tool-link')?.kind, 'missing');
    assert.equal(byPath.get('/usr/bin/tool-link')?.line, `Only in ${s.merged}/usr/bin: tool-link`);
    const mode = byPath.get('/etc/to-chmod');
    assert.deepEqual([mode?.kind, mode?.restored, mode?.live], ['mode', '0644', '0600']);
    assert.equal(rc.differences.length, 2, rc.differences.map((d) => d.line).join('\n'));
  } finally {
    s.cleanup();
  }
});

test(
  'casper-snapshot --verify: the summary says the session is restored, --json has restoreCheck; a --source run says the proof was skipped',
  { skip },
  () => {
    const s = session();
    try {
      const img = join(s.t, 'cli.squashfs');
      const r = cli(['--root', s.merged, '--mode', 'upper', '--verify', img]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(
        r.stdout,
        /restore proof {2}the image over 1 lower layer\(s\) gives the live view back: \d+ entries compared, 1 mount point\(s\) left out/,
      );
      const j = cli(['--root', s.merged, '--mode', 'diff', '--verify', '--json', join(s.t, 'cli2.squashfs')]);
      assert.equal(j.status, 0, j.stderr);
      const rc = JSON.parse(j.stdout).restoreCheck as RestoreCheck;
      assert.deepEqual(rc.differences, []);
      assert.ok(rc.entries > 0);
      const src = cli(['--source', join(s.t, 'medium-tree'), '--verify', join(s.t, 'src.squashfs')]);
      assert.equal(src.status, 0, src.stderr);
      assert.match(
        src.stderr,
        /warning: --verify: the proof that the snapshot restores the session was skipped: a plain directory \(--source\) has no live session to restore/,
      );
      assert.match(src.stdout, /restore proof {2}skipped: /);
    } finally {
      s.cleanup();
    }
  },
);

test(
  'casper-snapshot --verify exits 3 when the restored view differs: a 1960 mtime, which SquashFS stores clamped to 1970',
  { skip },
  () => {
    const s = session();
    try {
      const old = join(s.merged, 'home/user/old');
      writeFileSync(old, 'from 1960');
      must('touch', ['-d', '1960-01-01 00:00:00 UTC', old]);
      for (const mode of ['upper', 'diff']) {
        const img = join(s.t, `old-${mode}.squashfs`);
        const r = cli(['--root', s.merged, '--mode', mode, '--verify', img, '-q']);
        assert.equal(r.status, 3, r.stderr);
        assert.ok(
          r.stderr.includes(
            `warning: --verify: restore: Modification times differ: restored:/home/user/old 0, ${old} -315619200\n`,
          ),
          r.stderr,
        );
        assert.ok(existsSync(img), 'the image is written');
      }
    } finally {
      s.cleanup();
    }
  },
);
