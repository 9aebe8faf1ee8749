// Persistence across a real reboot (issue 14): a Debian bookworm root with systemd, squashed into a medium,
// booted with systemd-nspawn on a casper-like and a live-boot-like live layout (squashfs lower, tmpfs upper);
// a unit makes a session's changes; SIGTERM to systemd-nspawn halts the container in order, which runs
// casper-snapshot.service's ExecStop=; then the saved image is stacked over the medium as the next boot
// would stack it, booted again, and the view compared with the first boot's view at shutdown.
// Also: a second shutdown replaces the image atomically; a full output filesystem and the stop timeout leave
// the previous image alone and show the failure in the journal. Run alone: scripts/boot-cycle.sh.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, readSync, rmSync, statSync, copyFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { assemble, bookwormRoot, bootAndHalt, bootCapability, casperLayers, makeMedium, nspawnProbe, removeTree, WORK, type LayoutKind, type Stage } from './helpers/boot.js';
import { writeMediumExtra, BIND_EXCLUDES, SHARED, type MediumConfig } from './helpers/boot-medium.js';
import { kernelMounts } from './helpers/capabilities.js';
import { describeTree, diffTrees } from './helpers/tree-compare.js';
import { must, run } from './helpers/tools.js';

const capability = bootCapability();
let rootOrSkip: { root: string } | { skip: string } | null = null;
function bookworm(): { root: string } | { skip: string } {
  if (rootOrSkip) return rootOrSkip;
  rootOrSkip = bookwormRoot();
  if ('root' in rootOrSkip) {
    const cannot = nspawnProbe(rootOrSkip.root);
    if (cannot) rootOrSkip = { skip: cannot };
  }
  return rootOrSkip;
}

/** What is not the session: the journal (written on after the snapshot, until the halt), the test's binds
 * (the tool and node bound in from the host; the shared and persistent directories), API filesystems, the
 * live machinery, and casper-snapshot's default excludes (README "What is never captured"), which keep the
 * medium's content at the next boot. */
const VOLATILE = ['var/log/journal', 'opt/node', 'opt/casper-snapshot', 'proc', 'sys', 'dev', 'run', 'tmp', 'var/tmp', 'var/cache', 'mnt', 'media', 'cdrom', 'rofs', 'persist', SHARED.slice(1), 'lost+found'];
const skipVolatile = (rel: string) => VOLATILE.some((v) => rel === '/' + v || rel.startsWith('/' + v + '/'));

function sha(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

interface Run {
  w: string;
  medium: string;
  persist: string;
  shared: string;
  binds: string[];
}

/** A work directory with a medium for `kind` carrying `cfg`, a persistent directory, a shared directory. */
function prepare(kind: LayoutKind, root: string, cfg: MediumConfig): Run {
  mkdirSync(WORK, { recursive: true });
  const w = mkdtempSync(join(WORK, `run-${kind}-`));
  const medium = join(w, 'medium');
  const persist = join(w, 'persist');
  const shared = join(w, 'shared');
  for (const d of [medium, persist, shared]) mkdirSync(d);
  const extra = join(w, 'extra');
  const binds = writeMediumExtra(extra, cfg);
  const comp = kernelMounts('lz4') === true ? 'lz4' : 'gzip';
  makeMedium(root, extra, join(medium, kind === 'casper' ? 'casper' : 'live', 'filesystem.squashfs'), comp);
  return { w, medium, persist, shared, binds };
}

async function bootOnce(r: Run, stage: Stage, action: string, opts: { persist?: string; init?: string[] } = {}) {
  for (const f of ['ready', 'seen', 'units']) rmSync(join(r.shared, f), { force: true });
  writeFileSync(join(r.shared, 'action'), action + '\n');
  const res = await bootAndHalt(stage, {
    binds: [...r.binds, `--bind=${r.shared}:${SHARED}`, `--bind=${opts.persist ?? r.persist}:/persist`],
    readyFile: join(r.shared, 'ready'),
    init: opts.init,
  });
  const units = readFileSync(join(r.shared, 'units'), 'utf8');
  // CASPER_BOOT_CONSOLE_DIR=DIR keeps every boot's console output (systemd's status lines and the journal).
  const keep = process.env.CASPER_BOOT_CONSOLE_DIR;
  if (keep) writeFileSync(join(keep, `${stage.kind}-${action}-${Date.now()}.log`), res.console);
  return { ...res, units };
}

/** The image stacked over the medium read-only, as the next boot sees it (outside any container). */
function stackView(w: string, layers: string[]): { path: string; cleanup: () => void } {
  const dir = mkdtempSync(join(w, 'stack-'));
  const mounts: string[] = [];
  try {
    const paths = layers.map((img, i) => {
      const at = join(dir, `l${i}`);
      mkdirSync(at);
      must('mount', ['-t', 'squashfs', '-o', 'loop,ro', img, at]);
      mounts.push(at);
      return at;
    });
    const view = join(dir, 'view');
    mkdirSync(view);
    must('mount', ['-t', 'overlay', 'casper-next-boot', '-o', `ro,lowerdir=${paths.join(':')}`, view]);
    mounts.push(view);
    return { path: view, cleanup: () => mounts.reverse().forEach((m) => run('umount', [m])) };
  } catch (err) {
    mounts.reverse().forEach((m) => run('umount', [m]));
    throw err;
  }
}

function assertSessionSeen(seen: string, second = false): void {
  const lines = new Set(seen.trim().split('\n'));
  const want = [
    'present /home/alice/Documents/notes/todo.txt',
    'present /srv/data/new.txt',
    second ? 'present /srv/data/second.txt' : 'absent /srv/data/second.txt',
    'absent /etc/motd',
    'absent /etc/debian_version',
    'absent /etc/host.conf',
    'present /etc/host.conf.renamed',
    'absent /usr/share/doc/dbus',
    'present /usr/share/doc/attr-renamed/copyright',
    'present /usr/share/doc/hostname/only-this',
    'absent /usr/share/doc/hostname/copyright',
    'present /opt/casper-demo/bin/casper-demo',
    'nlink 2',
    `xattr session ${second ? 'session2' : 'session'}`,
    'xattr-medium on-a-medium-file',
    'issue-tail changed in the session',
    'mode-issue.net 600',
    'owner alice',
    'demo casper-demo',
    'dpkg 1.0',
  ];
  for (const w of want) assert.ok(lines.has(w), `the next boot should see "${w}"; it saw:\n${seen}`);
}

/** The sha256 of what an open descriptor reads from the start. */
function fdHash(fd: number): string {
  const h = createHash('sha256');
  const buf = Buffer.alloc(1 << 20);
  for (let pos = 0; ; ) {
    const n = readSync(fd, buf, 0, buf.length, pos);
    if (n === 0) return h.digest('hex');
    h.update(buf.subarray(0, n));
    pos += n;
  }
}

function noTempFiles(dir: string): void {
  const left = readdirSync(dir).filter((n) => n.startsWith('.'));
  assert.deepEqual(left, [], `temporary or lock files left beside the output in ${dir}`);
}

/** The first boot's shutdown snapshot and the second boot from it, for one layout. */
async function cycle(kind: LayoutKind, root: string): Promise<void> {
  const casper = kind === 'casper';
  // casper: diff mode (/cow is out of reach, /rofs is the base), the image named on the medium by
  // --persistence-name (non-layered medium: casper/zz-boot.squashfs, stacked after filesystem.squashfs).
  // live-boot: upper mode (/run/live/overlay/rw), the image written to a persistent directory.
  const cfg: MediumConfig = casper
    ? {
        casperConf: '# casper-snapshot boot test\nCASPER_SNAPSHOT_MODE=auto\n' + BIND_EXCLUDES,
        dropIn: '[Unit]\nRequiresMountsFor=/cdrom\n[Service]\nExecStop=\nExecStop=/usr/bin/casper-snapshot --config /etc/casper.conf --plymouth --persistence-name boot\n',
      }
    : { casperConf: '# casper-snapshot boot test\nCASPER_SNAPSHOT_OUTPUT=/persist/live-session.squashfs\n' + BIND_EXCLUDES, dropIn: '[Unit]\nRequiresMountsFor=/persist\n' };
  // No Plymouth on this medium: the unit's --plymouth must then be silent, not a failure.
  assert.ok(!existsSync(join(root, 'usr/bin/plymouth')), 'the test medium is meant to have no Plymouth');
  const r = prepare(kind, root, cfg);
  try {
    const image = casper ? join(r.medium, 'casper', 'zz-boot.squashfs') : join(r.persist, 'live-session.squashfs');
    const shownAs = casper ? '/cdrom/casper/zz-boot.squashfs' : '/persist/live-session.squashfs';

    // Boot 1: the session, then an orderly shutdown that saves it.
    const stage1 = assemble(kind, join(r.w, 'stage1'), r.medium, casper ? casperLayers(r.medium) : [join(r.medium, 'live', 'filesystem.squashfs')]);
    let view1;
    try {
      const b1 = await bootOnce(r, stage1, 'session');
      console.log(`# ${kind} boot 1: ready after ${b1.bootMs} ms, halted (with the snapshot) in ${b1.haltMs} ms`);
      assert.equal(b1.exitCode, 0, `systemd-nspawn exit status\n${b1.console.slice(-4000)}`);
      assert.match(b1.units, /ActiveState=active/, 'casper-snapshot.service was started at boot');
      assert.match(b1.units, /TimeoutStopUSec=1h/, 'the unit raises the stop timeout');
      assert.match(b1.units, new RegExp(`RequiresMountsFor=.*${casper ? '/cdrom' : '/persist'}`));
      // The journal (forwarded to the console) shows the tool's summary line, and no failure of the unit.
      assert.ok(b1.console.includes(`${shownAs}: SquashFS 4.0`), `no summary line in the journal:\n${b1.console.slice(-6000)}`);
      assert.doesNotMatch(b1.console, /casper-snapshot\.service: (Failed|Main process exited|Control process exited)/);
      assert.ok(existsSync(image), `${image} was not written`);
      // Stop order: the snapshot finished before the output's filesystem and the live mounts went away.
      const stopped = b1.console.indexOf('Stopped casper-snapshot.service');
      for (const m of [casper ? 'cdrom.mount' : 'persist.mount', casper ? 'rofs.mount' : 'run-live-overlay.mount'])
        assert.ok(stopped >= 0 && stopped < b1.console.indexOf(`Unmounted ${m}`), `casper-snapshot.service must stop before ${m} is unmounted`);
      noTempFiles(join(image, '..'));
      // Deleted medium files are 0:0 whiteouts in the image (diff mode rebuilds them, upper mode copies them).
      const listing = must('unsquashfs', ['-lls', '-d', '', image]);
      assert.match(listing, /^c-+ root\/root +0, +0 .* \/etc\/motd$/m, `no whiteout for /etc/motd in the image:\n${listing.slice(0, 3000)}`);
      assert.doesNotMatch(listing, / \/opt\/node\/node$/m, 'the bound-in node binary must not be captured');
      // The session's view at shutdown: the overlay, still mounted here after the container halted.
      view1 = describeTree(stage1.merged, { skip: skipVolatile });
    } finally {
      stage1.cleanup();
    }

    // The next boot's stack, mounted outside: it must show what the session showed at shutdown.
    const layers = casper ? casperLayers(r.medium) : [image, join(r.medium, 'live', 'filesystem.squashfs')];
    if (casper) assert.deepEqual(layers.map((l) => l.split('/').pop()), ['zz-boot.squashfs', 'filesystem.squashfs'], 'casper stacks the snapshot on top');
    const stack = stackView(r.w, layers);
    try {
      const view2 = describeTree(stack.path, { skip: skipVolatile });
      assert.deepEqual(diffTrees(view1, view2), [], 'the next boot differs from the session at shutdown');
    } finally {
      stack.cleanup();
    }

    // Boot 2 from that stack: the booted system sees the session (the shutdown snapshot masked this time).
    const stage2 = assemble(kind, join(r.w, 'stage2'), r.medium, layers);
    try {
      const b2 = await bootOnce(r, stage2, 'check', { init: ['systemd.mask=casper-snapshot.service'] });
      console.log(`# ${kind} boot 2: ready after ${b2.bootMs} ms, halted in ${b2.haltMs} ms`);
      assertSessionSeen(readFileSync(join(r.shared, 'seen'), 'utf8'));
    } finally {
      stage2.cleanup();
    }

    if (!casper) {
      // A second shutdown (another session from the same medium) replaces the image atomically: a reader of
      // the old image (held open here) keeps reading it whole, the path holds the new one, nothing is left.
      const fd = openSync(image, 'r');
      try {
        const oldIno = statSync(image).ino;
        const oldHash = sha(image);
        const stage3 = assemble(kind, join(r.w, 'stage3'), r.medium, [join(r.medium, 'live', 'filesystem.squashfs')]);
        try {
          const b3 = await bootOnce(r, stage3, 'session2');
          console.log(`# ${kind} second shutdown: ready after ${b3.bootMs} ms, halted (with the snapshot) in ${b3.haltMs} ms`);
          assert.ok(b3.console.includes(`${shownAs}: SquashFS 4.0`), `no summary line in the journal:\n${b3.console.slice(-6000)}`);
        } finally {
          stage3.cleanup();
        }
        assert.notEqual(statSync(image).ino, oldIno, 'the image is a new file renamed over the old one');
        assert.equal(fdHash(fd), oldHash, 'the old image, still open, is unchanged');
        assert.match(must('unsquashfs', ['-l', '-d', '', image]), /^\/srv\/data\/second\.txt$/m, 'the new image holds the second session');
        noTempFiles(r.persist);
      } finally {
        closeSync(fd);
      }
    }
  } finally {
    removeTree(r.w);
  }
}

/** A small image standing for the previous shutdown's snapshot. */
function oldImage(w: string, path: string): string {
  const src = mkdtempSync(join(w, 'old-'));
  writeFileSync(join(src, 'previous-session'), 'saved at an earlier shutdown\n');
  must('mksquashfs', [src, path, '-noappend', '-quiet', '-no-progress']);
  return sha(path);
}

/**
 * One boot of the live-boot layout whose shutdown snapshot must fail: the previous image at
 * /persist/live-session.squashfs stays as it was, nothing is left beside it, the failure is in the journal.
 */
async function failingShutdown(root: string, cfg: MediumConfig, action: string, persistOpts: string | null): Promise<string> {
  const r = prepare('live-boot', root, cfg);
  try {
    if (persistOpts) must('mount', ['-t', 'tmpfs', '-o', persistOpts, 'casper-small-output', r.persist]);
    const image = join(r.persist, 'live-session.squashfs');
    const before = oldImage(r.w, image);
    const stage = assemble('live-boot', join(r.w, 'stage'), r.medium, [join(r.medium, 'live', 'filesystem.squashfs')]);
    let b;
    try {
      b = await bootOnce(r, stage, action);
      console.log(`# live-boot, ${action}: ready after ${b.bootMs} ms, halted in ${b.haltMs} ms`);
    } finally {
      stage.cleanup();
    }
    assert.equal(b.exitCode, 0, 'the container still halts in order');
    assert.equal(sha(image), before, 'the previous image is untouched');
    noTempFiles(r.persist);
    assert.doesNotMatch(b.console, /\/persist\/live-session\.squashfs: SquashFS 4\.0/, 'no summary: the snapshot failed');
    return b.console;
  } finally {
    removeTree(r.w);
  }
}

const skip = capability || false;

test('boot cycle, casper layout: shutdown snapshot (diff mode, --persistence-name), next boot stacks it', { skip, timeout: 600_000 }, async (t) => {
  const b = bookworm();
  if ('skip' in b) return t.skip(b.skip);
  await cycle('casper', b.root);
});

test('boot cycle, live-boot layout: shutdown snapshot (upper mode), next boot stacks it', { skip, timeout: 600_000 }, async (t) => {
  const b = bookworm();
  if ('skip' in b) return t.skip(b.skip);
  await cycle('live-boot', b.root);
});

void statSync;
void openSync;
void readSync;
void closeSync;
void copyFileSync;

test('boot cycle, shutdown realities: a full output filesystem keeps the previous image, the error is in the journal', { skip, timeout: 600_000 }, async (t) => {
  const b = bookworm();
  if ('skip' in b) return t.skip(b.skip);
  // /persist is a 4 MiB tmpfs holding the previous image; the session made 24 MiB of incompressible data.
  const cfg = { casperConf: '# casper-snapshot boot test\nCASPER_SNAPSHOT_OUTPUT=/persist/live-session.squashfs\n' + BIND_EXCLUDES, dropIn: '[Unit]\nRequiresMountsFor=/persist\n' };
  const out = await failingShutdown(b.root, cfg, 'full', 'size=4m,mode=755');
  // The failure is said plainly at shutdown (the unit's stderr goes to the console too).
  assert.match(out, /casper-snapshot\[\d+\]: casper-snapshot: THE LIVE SESSION WAS NOT SAVED: not enough free space for '\/persist\/live-session\.squashfs'/, `the tool's error is not in the journal:\n${out.slice(-5000)}`);
  assert.match(out, /casper-snapshot\.service: Control process exited, code=exited, status=2/, 'the unit records the failure (exit status 2)');
  // Past the estimate (--no-space-check), the write itself meets ENOSPC: same outcome, the cause named.
  const noCheck = {
    ...cfg,
    dropIn: cfg.dropIn + '[Service]\nExecStop=\nExecStop=/usr/bin/casper-snapshot --config /etc/casper.conf --plymouth --no-space-check\n',
  };
  const out2 = await failingShutdown(b.root, noCheck, 'full', 'size=4m,mode=755');
  assert.match(out2, /casper-snapshot\[\d+\]: casper-snapshot: THE LIVE SESSION WAS NOT SAVED: .*(No space left on device|ENOSPC)/, `the tool's ENOSPC error is not in the journal:\n${out2.slice(-5000)}`);
  assert.match(out2, /casper-snapshot\.service: Control process exited, code=exited, status=2/, 'the unit records the failure (exit status 2)');
});

test('boot cycle, shutdown realities: the stop timeout stops the tool, the previous image is kept', { skip, timeout: 600_000 }, async (t) => {
  const b = bookworm();
  if ('skip' in b) return t.skip(b.skip);
  // A 2 s stop timeout (a drop-in) against 96 MiB of random data compressed with xz: systemd SIGTERMs the tool.
  const cfg = {
    casperConf: '# casper-snapshot boot test\nCASPER_SNAPSHOT_OUTPUT=/persist/live-session.squashfs\nCASPER_SNAPSHOT_COMPRESSOR=xz\n' + BIND_EXCLUDES,
    dropIn: '[Unit]\nRequiresMountsFor=/persist\n[Service]\nTimeoutStopSec=2s\n',
  };
  const out = await failingShutdown(b.root, cfg, 'big', null);
  assert.match(out, /casper-snapshot\.service: Stopping timed out\. Terminating\./, `no stop timeout in the journal:\n${out.slice(-5000)}`);
  assert.match(out, /casper-snapshot\.service: Control process exited, code=exited, status=143/, 'the tool exits 143 on SIGTERM (after removing its temporary file)');
});
