// Persistence across real reboots (issues 14 and 19): a Debian bookworm root with systemd, squashed into a
// medium, booted with systemd-nspawn on a casper-like and a live-boot-like live layout (squashfs lowers, tmpfs
// upper); a unit makes a session's changes; SIGTERM to systemd-nspawn halts the container in order, which runs
// casper-snapshot.service's ExecStop=. Three boots per layout, each stacking the medium's images as that
// initramfs does (casper: casper/*.squashfs in glob order, live-boot: live/*.squashfs in reverse sort order;
// the last name on top), the unit saving to the same path each time: boot 1 makes the changes A; boot 2 sees
// A, deletes part of it, adds B; boot 3 must see A minus the deleted part plus B; after each save the next
// boot's stack must equal the session's view at shutdown. Also: a save replaces the image atomically; a full
// output filesystem and the stop timeout leave the previous image alone and show the failure in the journal.
// Run alone: scripts/boot-cycle.sh.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import {
  assemble,
  bookwormRoot,
  bootAndHalt,
  bootCapability,
  casperLayers,
  liveBootLayers,
  makeMedium,
  nspawnProbe,
  removeTree,
  WORK,
  type LayoutKind,
  type Stage,
} from './helpers/boot.js';
import { writeMediumExtra, BIND_EXCLUDES, SEEN_PATHS, SHARED, type MediumConfig } from './helpers/boot-medium.js';
import { kernelMounts } from './helpers/capabilities.js';
import { describeTree, describeView, diffTrees, ghostLines } from './helpers/tree-compare.js';
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
const VOLATILE = [
  'var/log/journal',
  'opt/node',
  'opt/casper-snapshot',
  'proc',
  'sys',
  'dev',
  'run',
  'tmp',
  'var/tmp',
  'var/cache',
  'mnt',
  'media',
  'cdrom',
  'rofs',
  'persist',
  SHARED.slice(1),
  'lost+found',
];
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
    return {
      path: view,
      cleanup: () => {
        for (const m of mounts.reverse()) run('umount', [m]);
      },
    };
  } catch (err) {
    for (const m of mounts.reverse()) run('umount', [m]);
    throw err;
  }
}

/**
 * What a boot must see (record_seen in SESSION_SCRIPT), line by line: after session 1 (the changes A), or after
 * session 2 too (A minus what session 2 deleted or undid, plus its own changes B).
 */
function expectedSeen(after: 1 | 2): string[] {
  const two = after === 2;
  const presence: [string, boolean][] = [
    ['/home/alice/Documents/notes/todo.txt', !two], // made in session 1, deleted in session 2
    ['/srv/data/new.txt', true],
    ['/etc/motd', false],
    ['/etc/debian_version', false],
    ['/etc/host.conf', false],
    ['/etc/host.conf.renamed', true],
    ['/usr/share/doc/dbus', false],
    ['/usr/share/doc/attr-renamed/copyright', true],
    ['/usr/share/doc/hostname/only-this', true],
    ['/usr/share/doc/hostname/copyright', false], // the opaque directory of session 1
    ['/opt/casper-demo/bin/casper-demo', !two], // made in session 1, deleted in session 2
    ['/srv/data/b.txt', two],
    ['/var/lib/b-state/state', two],
    ['/etc/shells', !two], // a medium file deleted in session 2
  ];
  assert.deepEqual(
    presence.map(([p]) => p),
    SEEN_PATHS,
    'the expectations list the paths record_seen prints',
  );
  return [
    ...presence.map(([p, present]) => `${present ? 'present' : 'absent'} ${p}`),
    'nlink 2',
    'xattr session session',
    'xattr-medium on-a-medium-file',
    `issue-tail ${two ? 'changed in session 2' : 'changed in the session'}`,
    `mode-issue.net ${two ? '644' : '600'}`, // session 2 undid session 1's chmod
    `owner ${two ? 'missing' : 'alice'}`,
    `demo ${two ? 'missing' : 'casper-demo'}`,
    'dpkg 1.0',
    `users ${two ? 'alice bob ' : 'alice '}`,
  ];
}

function assertSeen(seen: string, want: string[], where: string): void {
  const lines = new Set(seen.split('\n'));
  const missing = want.filter((w) => !lines.has(w));
  assert.deepEqual(missing, [], `${where}: lines it should have seen are missing; it saw:\n${seen}`);
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

/**
 * Three boots of one layout, each next boot stacking the medium's images as that initramfs would, and the
 * shutdown unit saving to the same path every time (the image a later boot stacks is the one it replaces):
 * boot 1 makes the changes A and saves; boot 2 sees A, deletes part of it, adds B and saves again; boot 3 must
 * see A minus the deleted part plus B. After each save, the next boot's stack (mounted outside) must show
 * exactly the session's view at shutdown.
 */
async function cycle(kind: LayoutKind, root: string): Promise<void> {
  const casper = kind === 'casper';
  // casper: diff mode (/cow is out of reach, /rofs is the base), the image named on the medium by
  // --persistence-name (non-layered medium: casper/zz-boot.squashfs, stacked after filesystem.squashfs).
  // live-boot: upper mode (/run/live/overlay/rw), the image written beside the medium's own as
  // live/zz-session.squashfs (live-boot stacks every live/*.squashfs, the last name on top).
  const cfg: MediumConfig = casper
    ? {
        casperConf: '# casper-snapshot boot test\nCASPER_SNAPSHOT_MODE=auto\n' + BIND_EXCLUDES,
        dropIn:
          '[Unit]\nRequiresMountsFor=/cdrom\n[Service]\nExecStop=\nExecStop=/usr/bin/casper-snapshot --config /etc/casper.conf --plymouth --persistence-name boot\n',
      }
    : {
        casperConf:
          '# casper-snapshot boot test\nCASPER_SNAPSHOT_OUTPUT=/run/live/medium/live/zz-session.squashfs\n' +
          BIND_EXCLUDES,
        dropIn: '[Unit]\nRequiresMountsFor=/run/live/medium\n',
      };
  // No Plymouth on this medium: the unit's --plymouth must then be silent, not a failure.
  assert.ok(!existsSync(join(root, 'usr/bin/plymouth')), 'the test medium is meant to have no Plymouth');
  const r = prepare(kind, root, cfg);
  try {
    const image = casper ? join(r.medium, 'casper', 'zz-boot.squashfs') : join(r.medium, 'live', 'zz-session.squashfs');
    const shownAs = casper ? '/cdrom/casper/zz-boot.squashfs' : '/run/live/medium/live/zz-session.squashfs';
    const outputMount = casper ? 'cdrom.mount' : 'run-live-medium.mount';
    /** The stack the initramfs makes from the medium as it is now, topmost first. */
    const stackNow = () => (casper ? casperLayers(r.medium) : liveBootLayers(r.medium));

    /** Boot `n`, whose shutdown saves the session; returns the session's view at shutdown. */
    const savingBoot = async (n: number, action: string) => {
      const stage = assemble(kind, join(r.w, `stage${n}`), r.medium, stackNow());
      try {
        const b = await bootOnce(r, stage, action);
        console.log(`# ${kind} boot ${n}: ready after ${b.bootMs} ms, halted (with the snapshot) in ${b.haltMs} ms`);
        const where = `${kind} boot ${n}`;
        assert.equal(b.exitCode, 0, `${where}: systemd-nspawn exit status\n${b.console.slice(-4000)}`);
        assert.match(b.units, /ActiveState=active/, `${where}: casper-snapshot.service was started at boot`);
        assert.match(b.units, /TimeoutStopUSec=1h/, 'the unit raises the stop timeout');
        assert.match(b.units, new RegExp(`RequiresMountsFor=.*${casper ? '/cdrom' : '/run/live/medium'}`));
        // The journal (forwarded to the console) shows the tool's summary line, and no failure of the unit.
        const tool = b.console
          .split('\n')
          .filter((l) => /casper-snapshot(\[\d+\]|\.service)/.test(l))
          .join('\n');
        assert.doesNotMatch(
          b.console,
          /casper-snapshot\.service: (Failed|Main process exited|Control process exited)/,
          `${where}: the save at shutdown failed:\n${tool}`,
        );
        assert.ok(
          b.console.includes(`${shownAs}: SquashFS 4.0`),
          `${where}: no summary line for ${shownAs} in the journal; casper-snapshot's lines:\n${tool}`,
        );
        assert.ok(existsSync(image), `${where}: ${image} was not written`);
        // Stop order: the snapshot finished before the output's filesystem and the live mounts went away.
        const stopped = b.console.indexOf('Stopped casper-snapshot.service');
        for (const m of [outputMount, casper ? 'rofs.mount' : 'run-live-overlay.mount'])
          assert.ok(
            stopped >= 0 && stopped < b.console.indexOf(`Unmounted ${m}`),
            `${where}: casper-snapshot.service must stop before ${m} is unmounted`,
          );
        noTempFiles(join(image, '..'));
        // The session's view at shutdown: the overlay, still mounted here after the container halted.
        return describeTree(stage.merged, { skip: skipVolatile });
      } finally {
        stage.cleanup();
      }
    };

    /** The stack the boot after `n` gets, mounted outside: it must show what session `n` showed at shutdown. */
    const stackMatches = (n: number, viewAtShutdown: ReturnType<typeof describeTree>) => {
      const layers = stackNow();
      assert.deepEqual(
        layers.map((l) => l.split('/').pop()),
        casper ? ['zz-boot.squashfs', 'filesystem.squashfs'] : ['zz-session.squashfs', 'filesystem.squashfs'],
        `${kind}: the saved image is stacked on top of the medium`,
      );
      const stack = stackView(r.w, layers);
      try {
        const next = describeView(stack.path, { skip: skipVolatile });
        const diffs = [...ghostLines(next.ghosts), ...diffTrees(viewAtShutdown, next.tree)];
        assert.deepEqual(
          diffs.slice(0, 60),
          [],
          `${kind} boot ${n + 1}'s stack [${layers.map((l) => l.split('/').pop()).join(', ')}] differs from boot ${n}'s view at shutdown (first: boot ${n} at shutdown, second: boot ${n + 1}'s stack; ${diffs.length} difference(s))`,
        );
      } finally {
        stack.cleanup();
      }
    };

    // Boot 1: the changes A, then an orderly shutdown that saves them.
    const view1 = await savingBoot(1, 'session');
    // Deleted medium files are 0:0 whiteouts in the image (diff mode rebuilds them, upper mode copies them).
    const listing = must('unsquashfs', ['-lls', '-d', '', image]);
    assert.match(
      listing,
      /^c-+ root\/root +0, +0 .* \/etc\/motd$/m,
      `no whiteout for /etc/motd in the image:\n${listing.slice(0, 3000)}`,
    );
    assert.doesNotMatch(listing, / \/opt\/node\/node$/m, 'the bound-in node binary must not be captured');
    stackMatches(1, view1);

    // Boot 2 from that stack: it sees A, deletes part of it, adds B; its shutdown saves to the same path. The
    // old image is replaced atomically: a reader of it (held open here) keeps reading it whole.
    const fd = openSync(image, 'r');
    let view2: Awaited<ReturnType<typeof savingBoot>>;
    try {
      const oldIno = statSync(image).ino;
      const oldHash = sha(image);
      view2 = await savingBoot(2, 'second');
      assertSeen(
        readFileSync(join(r.shared, 'seen'), 'utf8'),
        expectedSeen(1),
        `${kind} boot 2 (before its own changes)`,
      );
      assert.notEqual(statSync(image).ino, oldIno, 'the image is a new file renamed over the old one');
      assert.equal(fdHash(fd), oldHash, 'the old image, still open, is unchanged');
    } finally {
      closeSync(fd);
    }
    stackMatches(2, view2);

    // Boot 3 from the new stack (the shutdown snapshot masked): A minus what boot 2 deleted, plus B.
    const stage3 = assemble(kind, join(r.w, 'stage3'), r.medium, stackNow());
    try {
      const b3 = await bootOnce(r, stage3, 'check', { init: ['systemd.mask=casper-snapshot.service'] });
      console.log(`# ${kind} boot 3: ready after ${b3.bootMs} ms, halted in ${b3.haltMs} ms`);
      assertSeen(readFileSync(join(r.shared, 'seen'), 'utf8'), expectedSeen(2), `${kind} boot 3`);
    } finally {
      stage3.cleanup();
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
async function failingShutdown(
  root: string,
  cfg: MediumConfig,
  action: string,
  persistOpts: string | null,
): Promise<string> {
  const r = prepare('live-boot', root, cfg);
  try {
    if (persistOpts) must('mount', ['-t', 'tmpfs', '-o', persistOpts, 'casper-small-output', r.persist]);
    const image = join(r.persist, 'live-session.squashfs');
    const before = oldImage(r.w, image);
    const stage = assemble('live-boot', join(r.w, 'stage'), r.medium, [join(r.medium, 'live', 'filesystem.squashfs')]);
    let b: Awaited<ReturnType<typeof bootOnce>>;
    try {
      b = await bootOnce(r, stage, action);
      console.log(`# live-boot, ${action}: ready after ${b.bootMs} ms, halted in ${b.haltMs} ms`);
    } finally {
      stage.cleanup();
    }
    assert.equal(b.exitCode, 0, 'the container still halts in order');
    assert.equal(sha(image), before, 'the previous image is untouched');
    noTempFiles(r.persist);
    assert.doesNotMatch(
      b.console,
      /\/persist\/live-session\.squashfs: SquashFS 4\.0/,
      'no summary: the snapshot failed',
    );
    return b.console;
  } finally {
    removeTree(r.w);
  }
}

const skip = capability || false;

test(
  'boot cycle, casper layout: three boots, each shutdown saved (diff mode, --persistence-name) to the image the next boot stacks on top: every kept change survives',
  { skip, timeout: 600_000 },
  async (t) => {
    const b = bookworm();
    if ('skip' in b) return t.skip(b.skip);
    await cycle('casper', b.root);
  },
);

test(
  'boot cycle, live-boot layout: three boots, each shutdown saved (upper mode) to live/zz-session.squashfs, stacked on top: every kept change survives',
  { skip, timeout: 600_000 },
  async (t) => {
    const b = bookworm();
    if ('skip' in b) return t.skip(b.skip);
    await cycle('live-boot', b.root);
  },
);

test(
  'boot cycle, shutdown realities: a full output filesystem keeps the previous image, the error is in the journal',
  { skip, timeout: 600_000 },
  async (t) => {
    const b = bookworm();
    if ('skip' in b) return t.skip(b.skip);
    // /persist is a 4 MiB tmpfs holding the previous image; the session made 24 MiB of incompressible data.
    const cfg = {
      casperConf:
        '# casper-snapshot boot test\nCASPER_SNAPSHOT_OUTPUT=/persist/live-session.squashfs\n' + BIND_EXCLUDES,
      dropIn: '[Unit]\nRequiresMountsFor=/persist\n',
    };
    const out = await failingShutdown(b.root, cfg, 'full', 'size=4m,mode=755');
    // The failure is said plainly at shutdown (the unit's stderr goes to the console too).
    assert.match(
      out,
      /casper-snapshot\[\d+\]: casper-snapshot: THE LIVE SESSION WAS NOT SAVED: not enough free space for '\/persist\/live-session\.squashfs'/,
      `the tool's error is not in the journal:\n${out.slice(-5000)}`,
    );
    assert.match(
      out,
      /casper-snapshot\.service: Control process exited, code=exited, status=2/,
      'the unit records the failure (exit status 2)',
    );
    // Past the estimate (--no-space-check), the write itself meets ENOSPC: same outcome, the cause named.
    const noCheck = {
      ...cfg,
      dropIn:
        cfg.dropIn +
        '[Service]\nExecStop=\nExecStop=/usr/bin/casper-snapshot --config /etc/casper.conf --plymouth --no-space-check\n',
    };
    const out2 = await failingShutdown(b.root, noCheck, 'full', 'size=4m,mode=755');
    assert.match(
      out2,
      /casper-snapshot\[\d+\]: casper-snapshot: THE LIVE SESSION WAS NOT SAVED: .*(No space left on device|ENOSPC)/,
      `the tool's ENOSPC error is not in the journal:\n${out2.slice(-5000)}`,
    );
    assert.match(
      out2,
      /casper-snapshot\.service: Control process exited, code=exited, status=2/,
      'the unit records the failure (exit status 2)',
    );
  },
);

test(
  'boot cycle, shutdown realities: the stop timeout stops the tool, the previous image is kept',
  { skip, timeout: 600_000 },
  async (t) => {
    const b = bookworm();
    if ('skip' in b) return t.skip(b.skip);
    // A 2 s stop timeout (a drop-in) against 96 MiB of random data compressed with xz: systemd SIGTERMs the tool.
    const cfg = {
      casperConf:
        '# casper-snapshot boot test\nCASPER_SNAPSHOT_OUTPUT=/persist/live-session.squashfs\nCASPER_SNAPSHOT_COMPRESSOR=xz\n' +
        BIND_EXCLUDES,
      dropIn: '[Unit]\nRequiresMountsFor=/persist\n[Service]\nTimeoutStopSec=2s\n',
    };
    const out = await failingShutdown(b.root, cfg, 'big', null);
    assert.match(
      out,
      /casper-snapshot\.service: Stopping timed out\. Terminating\./,
      `no stop timeout in the journal:\n${out.slice(-5000)}`,
    );
    assert.match(
      out,
      /casper-snapshot\.service: Control process exited, code=exited, status=143/,
      'the tool exits 143 on SIGTERM (after removing its temporary file)',
    );
  },
);
