// Diff mode and hard links on a real overlay: a link the session made to a file it did not otherwise change
// must come back as one inode, and names whose inode is shared only within the lower layers stay out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, linkSync, lstatSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { needs } from './helpers/capabilities.js';
import { tempDir, unsquashfsList } from './helpers/image-check.js';
import { dir, file } from './helpers/make-tree.js';
import { cli, must, run } from './helpers/tools.js';

const skip =
  needs('root', 'loop', 'squashfs-tools') ||
  (run('sh', ['-c', 'grep -qw overlay /proc/filesystems || modprobe overlay']).status === 0
    ? false
    : 'the kernel has no overlayfs');

/** Hard-link groups of a tree: sorted lists of the paths that share an inode (only groups of two or more). */
function linkGroups(root: string): string[][] {
  const byIno = new Map<string, string[]>();
  const walk = (rel: string) => {
    for (const n of readdirSync(join(root, rel))) {
      const r = `${rel}/${n}`;
      const st = lstatSync(join(root, r));
      if (st.isDirectory()) walk(r);
      else if (st.isFile()) byIno.set(`${st.dev}:${st.ino}`, [...(byIno.get(`${st.dev}:${st.ino}`) ?? []), r]);
    }
  };
  walk('');
  return [...byIno.values()]
    .filter((g) => g.length > 1)
    .map((g) => g.sort())
    .sort();
}

for (const layers of [1, 3]) {
  test(
    `diff mode keeps the hard links a session made (${layers} lower layer${layers > 1 ? 's' : ''})`,
    { skip },
    () => {
      const t = tempDir('cs-hl-');
      const mounts: string[] = [];
      try {
        // Layer k is a directory on the same filesystem as the upper (overlayfs then reports one inode for
        // all names of a copied-up file); the base holds the files the session links to.
        const lowers: string[] = [];
        for (let k = 0; k < layers; k++) {
          const tree = join(t, `layer${k}-tree`);
          dir(tree);
          if (k === 0) {
            file(join(tree, 'f'), 'linked in the session\n');
            file(join(tree, 'h'), 'linked, then modified\n');
            file(join(tree, 'x'), 'linked across directories\n');
            dir(join(tree, 'sub'));
            file(join(tree, 'a1'), 'two names in the medium, untouched\n');
            linkSync(join(tree, 'a1'), join(tree, 'a2'));
          } else {
            file(join(tree, `only-in-layer${k}`), `layer ${k}\n`);
          }
          lowers.unshift(tree);
        }
        const upper = join(t, 'upper');
        const work = join(t, 'work');
        const merged = join(t, 'merged');
        for (const d of [upper, work, merged]) mkdirSync(d);
        must('mount', [
          '-t',
          'overlay',
          'overlay',
          '-o',
          `lowerdir=${lowers.join(':')},upperdir=${upper},workdir=${work}`,
          merged,
        ]);
        mounts.unshift(merged);
        linkSync(join(merged, 'f'), join(merged, 'g'));
        linkSync(join(merged, 'h'), join(merged, 'h2'));
        appendFileSync(join(merged, 'h'), 'modified after the link\n');
        linkSync(join(merged, 'x'), join(merged, 'sub/x-link'));

        const img = join(t, 'snap.squashfs');
        const r = cli(['-d', '--json', '--root', merged, '--mode', 'diff', img]);
        assert.equal(r.status, 0, r.stderr);
        // -d and --json say what the delta was computed against.
        const stack = JSON.parse(r.stdout).lowerStack;
        assert.deepEqual(
          stack.layers.map((l: { path: string; loopMounted: boolean }) => [l.path, l.loopMounted]),
          lowers.map((l) => [l, false]),
        );
        assert.equal(stack.stacked, layers > 1 ? 'overlay' : 'single');
        if (layers === 1) assert.equal(stack.view, lowers[0]);
        assert.match(
          r.stderr,
          new RegExp(
            `lower stack \\(topmost first\\), compared against as ${layers > 1 ? `a read-only overlay of ${layers} layers` : 'one layer'}`,
          ),
        );
        for (const l of lowers) assert.match(r.stderr, new RegExp(`reachable at ${l}\n`));
        const list = unsquashfsList(img);
        assert.doesNotMatch(list, / \/a[12]$/m, 'names linked only within the medium are not captured');

        // Restore as persistence would: the snapshot over the medium's layers.
        const snap = join(t, 'snapmnt');
        const check = join(t, 'check');
        mkdirSync(snap);
        mkdirSync(check);
        must('mount', ['-t', 'squashfs', '-o', 'loop,ro', img, snap]);
        mounts.unshift(snap);
        must('mount', ['-t', 'overlay', 'overlay', '-o', `ro,lowerdir=${[snap, ...lowers].join(':')}`, check]);
        mounts.unshift(check);
        const want = linkGroups(merged);
        assert.deepEqual(want, [
          ['/a1', '/a2'],
          ['/f', '/g'],
          ['/h', '/h2'],
          ['/sub/x-link', '/x'],
        ]);
        assert.deepEqual(linkGroups(check), want);
      } finally {
        for (const m of mounts) run('umount', ['-l', m]);
        rmSync(t, { recursive: true, force: true });
      }
    },
  );
}
