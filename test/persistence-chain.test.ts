// Persistence over a chain of five sessions on plain overlay mounts (no VM): a medium squashed to an
// image and loop-mounted read-only; session k boots from [the image saved by session k-1 (if any), the
// medium] as lower layers and a fresh tmpfs upper, makes its changes through the merged mount, and is
// saved by casper-snapshot (diff or upper mode) to the SAME path as the image that is one of its lower
// layers (still loop-mounted), as a shutdown unit with one configured output does. After every session the
// next boot's stack, [new image, medium], must show exactly everything every session so far made and kept:
// compared with a model (a plain directory that got the same changes) and with the session's merged view at
// save time. A whiteout and an opaque directory are made in session 1, a file deleted in session 2 is made
// again in session 3.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  appendFileSync,
  chmodSync,
  chownSync,
  existsSync,
  linkSync,
  mkdirSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { needs } from './helpers/capabilities.js';
import { tempDir } from './helpers/image-check.js';
import { skipExcluded } from './helpers/live-session.js';
import { bytes, dir, file, setXattr } from './helpers/make-tree.js';
import { describeTree, describeView, diffTrees, ghostLines, type TreeDescription } from './helpers/tree-compare.js';
import { cli, must, run } from './helpers/tools.js';

const SESSIONS = 5;
const skip = needs('root', 'loop', 'squashfs-tools') || overlaySupport();

function overlaySupport(): string | false {
  return run('sh', ['-c', 'grep -qw overlay /proc/filesystems || modprobe overlay']).status === 0
    ? false
    : 'the kernel has no overlayfs';
}

/** The medium's tree: what the sessions edit, delete, rename and make again. */
function mediumTree(root: string): void {
  for (const d of ['tmp', 'var/cache', 'home', 'srv']) dir(join(root, d));
  dir(join(root, 'tmp'), 0o1777);
  file(join(root, 'etc/motd'), 'The programs included with this system are free software.\n');
  file(join(root, 'etc/issue'), 'Debian GNU/Linux 12 \\n \\l\n');
  file(join(root, 'etc/issue.net'), 'Debian GNU/Linux 12\n');
  file(join(root, 'etc/hostname'), 'medium\n');
  file(join(root, 'etc/gone-in-1'), 'deleted in session 1\n');
  file(join(root, 'etc/gone-in-2'), 'deleted in session 2, made again in session 3\n');
  file(join(root, 'usr/bin/tool'), bytes(300000, 1, 64), 0o755);
  for (const n of ['copyright', 'changelog']) {
    file(join(root, 'usr/share/doc/pkg-a', n), `pkg-a ${n}\n`);
    file(join(root, 'usr/share/doc/pkg-b', n), `pkg-b ${n}\n`);
    file(join(root, 'usr/share/doc/pkg-c', n), `pkg-c ${n}\n`);
  }
  file(join(root, 'var/cache/medium.bin'), bytes(4000, 2));
}

/** `mv` (overlayfs without redirect_dir refuses rename(2) of a lower directory with EXDEV; mv then copies). */
const mv = (a: string, b: string) => must('mv', [a, b]);

/**
 * Session k's changes under `root` (the session's merged mount, or the model). `live` adds what a session
 * does that the default excludes keep out of the image (/tmp, /var/cache), so the model never gets it.
 */
function sessionChanges(k: number, root: string, live: boolean): void {
  const p = (rel: string) => join(root, rel);
  if (live) {
    file(p(`tmp/scratch-${k}`), 'never captured\n');
    file(p(`var/cache/new-${k}.bin`), 'never captured\n');
  }
  switch (k) {
    case 1:
      writeFileSync(p('etc/motd'), 'edited in session 1\n');
      unlinkSync(p('etc/gone-in-1')); // a whiteout
      rmSync(p('usr/share/doc/pkg-a'), { recursive: true }); // a directory whiteout
      rmSync(p('usr/share/doc/pkg-b'), { recursive: true }); // an opaque directory
      file(p('usr/share/doc/pkg-b/only-this'), 'pkg-b made again in session 1\n');
      mv(p('usr/share/doc/pkg-c'), p('usr/share/doc/pkg-c-renamed'));
      chmodSync(p('etc/issue.net'), 0o600);
      file(p('home/user/notes.txt'), 'notes of session 1\n');
      file(p('home/user/made-in-1.txt'), 'made in session 1, deleted in session 2, made again in session 3\n');
      file(p('home/user/big.bin'), bytes(700000, 3, 32));
      // A hard-linked pair that later sessions leave alone: overlayfs (without index=on) copies up one name of
      // a hard-linked lower file alone, splitting the pair in the session itself.
      file(p('home/user/shared.txt'), 'one file, two names\n');
      linkSync(p('home/user/shared.txt'), p('home/user/shared-link'));
      symlinkSync('notes.txt', p('home/user/link-to-notes'));
      file(p('srv/s1/a'), 'a\n');
      file(p('srv/s1/b'), 'b\n');
      setXattr(p('home/user/notes.txt'), 'user.session', '1');
      setXattr(p('etc/hostname'), 'user.session', 'on a medium file');
      break;
    case 2:
      unlinkSync(p('home/user/made-in-1.txt')); // made in session 1
      unlinkSync(p('etc/gone-in-2')); // a medium file
      writeFileSync(p('etc/motd'), 'The programs included with this system are free software.\n'); // session 1's edit undone
      appendFileSync(p('etc/issue'), 'edited in session 2\n');
      file(p('srv/s2.txt'), 'new in session 2\n');
      setXattr(p('home/user/notes.txt'), 'user.session', '2');
      break;
    case 3:
      file(p('etc/gone-in-2'), 'made again in session 3\n');
      file(p('home/user/made-in-1.txt'), 'made again in session 3\n');
      file(p('usr/share/doc/pkg-b/more'), 'added to the opaque directory in session 3\n');
      rmSync(p('srv/s1'), { recursive: true });
      break;
    case 4:
      file(p('usr/share/doc/pkg-a/readme'), 'pkg-a made again in session 4\n'); // deleted in session 1
      mv(p('home/user'), p('home/alice'));
      chownSync(p('home/alice/notes.txt'), 1000, 1000);
      chmodSync(p('usr/bin/tool'), 0o700);
      break;
    case 5:
      rmSync(p('usr/share/doc/pkg-b'), { recursive: true }); // the opaque directory of session 1
      unlinkSync(p('home/alice/made-in-1.txt'));
      file(p('home/alice/s5.bin'), bytes(1 << 20, 5, 16));
      writeFileSync(p('etc/motd'), 'edited in session 5\n');
      break;
  }
}

interface Chain {
  t: string;
  mediumMnt: string;
  /** The one output path every session saves to. */
  image: string;
  /** A plain directory that gets every session's kept changes. */
  model: string;
}

function mountSquashfs(img: string, at: string): void {
  mkdirSync(at, { recursive: true });
  must('mount', ['-t', 'squashfs', '-o', 'loop,ro', img, at]);
}

/** Mount points made by fn, unmounted (in reverse) whatever happens. */
function withMounts<T>(fn: (track: (m: string) => string) => T): T {
  const mounts: string[] = [];
  try {
    return fn((m) => {
      mounts.push(m);
      return m;
    });
  } finally {
    for (const m of mounts.reverse()) run('umount', [m]);
  }
}

/** [image, medium] read-only, as the next boot stacks them. */
function nextBootView<T>(c: Chain, k: number, fn: (view: string) => T): T {
  return withMounts((track) => {
    const img = track(join(c.t, `check${k}`, 'image'));
    mountSquashfs(c.image, img);
    const view = join(c.t, `check${k}`, 'view');
    mkdirSync(view);
    must('mount', ['-t', 'overlay', 'casper-next-boot', '-o', `ro,lowerdir=${img}:${c.mediumMnt}`, track(view)]);
    return fn(view);
  });
}

/** One session: boot from the stack, make session k's changes, save to the one output path. */
function session(c: Chain, k: number, mode: 'diff' | 'upper'): TreeDescription {
  return withMounts((track) => {
    const s = join(c.t, `session${k}`);
    const lowers: string[] = [];
    if (existsSync(c.image)) {
      mountSquashfs(c.image, track(join(s, 'image')));
      lowers.push(join(s, 'image'));
    }
    lowers.push(c.mediumMnt);
    const cow = join(s, 'cow');
    const merged = join(s, 'merged');
    mkdirSync(cow, { recursive: true });
    mkdirSync(merged);
    must('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', track(cow)]);
    mkdirSync(join(cow, 'upper'));
    mkdirSync(join(cow, 'work'));
    must('mount', [
      '-t',
      'overlay',
      'overlay',
      '-o',
      `lowerdir=${lowers.join(':')},upperdir=${cow}/upper,workdir=${cow}/work`,
      track(merged),
    ]);
    sessionChanges(k, merged, true);
    const atSave = describeTree(merged, { skip: skipExcluded });
    const r = cli(['--root', merged, '--mode', mode, c.image, '-q']);
    assert.equal(
      r.status,
      0,
      `session ${k} of ${SESSIONS} (${mode} mode): casper-snapshot exited ${r.status}:\n${r.stderr}`,
    );
    return atSave;
  });
}

function chain(mode: 'diff' | 'upper'): void {
  const t = tempDir(`cs-chain-${mode}-`);
  try {
    const tree = join(t, 'medium-tree');
    mediumTree(tree);
    const model = join(t, 'model');
    must('cp', ['-a', tree, model]);
    const mediumImg = join(t, 'filesystem.squashfs');
    must('mksquashfs', [tree, mediumImg, '-noappend', '-quiet', '-no-progress']);
    const mediumMnt = join(t, 'medium');
    mountSquashfs(mediumImg, mediumMnt);
    try {
      mkdirSync(join(t, 'persist'));
      const c: Chain = { t, mediumMnt, image: join(t, 'persist', 'session.squashfs'), model };
      for (let k = 1; k <= SESSIONS; k++) {
        const atSave = session(c, k, mode);
        sessionChanges(k, model, false);
        const where = `session ${k} of ${SESSIONS} (${mode} mode), the next boot's stack [saved image, medium]`;
        nextBootView(c, k, (view) => {
          const { tree: got, ghosts } = describeView(view, { skip: skipExcluded });
          const listedOnly = ghostLines(ghosts);
          const vsModel = [
            ...listedOnly,
            ...diffTrees(describeTree(model, { skip: skipExcluded }), got, { ignore: ['mtime'] }),
          ];
          assert.deepEqual(
            vsModel.slice(0, 40),
            [],
            `${where} differs from every session's kept changes (first: expected, second: seen; ${vsModel.length} difference(s))`,
          );
          const vsSession = [...listedOnly, ...diffTrees(atSave, got, { ignore: ['mtime'] })];
          assert.deepEqual(
            vsSession.slice(0, 40),
            [],
            `${where} differs from the session's view at save time (${vsSession.length} difference(s))`,
          );
        });
      }
    } finally {
      run('umount', [mediumMnt]);
    }
  } finally {
    rmSync(t, { recursive: true, force: true });
  }
}

test(
  'five sessions in diff mode, each saved over the image it booted from: every boot sees every kept change',
  { skip },
  () => {
    chain('diff');
  },
);

test(
  'five sessions in upper mode, each saved over the image it booted from: every boot sees every kept change',
  { skip },
  () => {
    chain('upper');
  },
);
