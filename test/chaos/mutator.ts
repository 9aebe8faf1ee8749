// The chaos mutator: a separate process that keeps changing a source tree while a snapshot of it runs, the
// way a busy system or a hostile local user would — renames, directories and files swapped for symlinks to a
// decoy tree outside the source, in-place rewrites (same size, shorter, longer), atomic replacement, deletion,
// FIFOs and sockets in place of files; files renamed to hostile names; the chain deeper than PATH_MAX rewritten
// and swapped for a symlink; and, with a FUSE image, another user's FUSE mount (root cannot even stat it)
// appearing and vanishing. Usage: node mutator.js SEED SRC DECOY [FUSE_IMAGE FUSE_MOUNT_POINT]. Stops on
// SIGTERM and prints {"ops": N, "byKind": {...}} on stdout.
import {
  closeSync,
  ftruncateSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { DIRTY, HEADER, body, content, header } from './content.js';
import { DEEP_LEVELS, HOSTILE_NAMES, at, deepName, openChain } from './hostile.js';
import { Rng } from '../helpers/random-tree.js';
import { attackerFuseMountImage } from '../helpers/attacker.js';

const [seedArg, src, decoy, fuseImage, fuseAt] = process.argv.slice(2);
let unmountFuse: (() => void) | null = null;
let fuseBusy = false;
const rng = new Rng(Number(seedArg));
const byKind: Record<string, number> = {};
const servers: Server[] = [];
let stopped = false;
let nextId = 1_000_000;

function list(dir: string, out: { files: string[]; dirs: string[] }): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) {
    const p = join(dir, n);
    try {
      const st = lstatSync(p);
      if (st.isDirectory()) {
        out.dirs.push(p);
        list(p, out);
      } else if (st.isFile()) out.files.push(p);
    } catch {
      /* changed meanwhile */
    }
  }
}

function decoyFile(): string {
  return join(decoy, rng.pick(readdirSync(decoy).filter((n) => n.startsWith('decoy-canary'))));
}

/** Rewrites a file in place: the header marked dirty first, so a copy taken mid-write is recognisable. */
function rewriteInPlace(p: string, newLength: number): void {
  const fd = openSync(p, 'r+');
  try {
    const version = rng.int(1, 0x7fffffff);
    const id = nextId++;
    writeSync(fd, header(id, (version | DIRTY) >>> 0, newLength), 0, HEADER, 0);
    ftruncateSync(fd, newLength);
    const chunk = 65536;
    for (let off = HEADER; off < newLength; off += chunk) {
      const end = Math.min(newLength, off + chunk);
      writeSync(fd, body(id, version, off, end), 0, end - off, off);
    }
    writeSync(fd, header(id, version, newLength), 0, HEADER, 0);
  } finally {
    closeSync(fd);
  }
}

const ops: Record<string, (t: { files: string[]; dirs: string[] }) => boolean> = {
  'rewrite-same-size': (t) => {
    const f = rng.pick(t.files);
    rewriteInPlace(f, lstatSync(f).size);
    return true;
  },
  truncate: (t) => {
    const f = rng.pick(t.files);
    rewriteInPlace(f, Math.max(HEADER, Math.floor(lstatSync(f).size / rng.int(2, 8))));
    return true;
  },
  grow: (t) => {
    const f = rng.pick(t.files);
    rewriteInPlace(f, lstatSync(f).size + rng.int(1, 300_000));
    return true;
  },
  'atomic-replace': (t) => {
    const f = rng.pick(t.files);
    const tmp = `${f}.new-${rng.int(0, 1e9)}`;
    writeFileSync(tmp, content(nextId++, rng.int(1, 0x7fffffff), rng.int(HEADER, 400_000)));
    renameSync(tmp, f);
    return true;
  },
  rename: (t) => {
    const all = [...t.files, ...t.dirs];
    const from = rng.pick(all);
    const to = join(rng.pick([src, ...t.dirs.filter((d) => !d.startsWith(from))]), `renamed-${rng.int(0, 1e9)}`);
    renameSync(from, to);
    return true;
  },
  'dir-to-symlink': (t) => {
    if (!t.dirs.length) return false;
    const d = rng.pick(t.dirs);
    renameSync(d, `${d}.real-${rng.int(0, 1e9)}`);
    symlinkSync(decoy, d);
    return true;
  },
  'file-to-symlink': (t) => {
    const f = rng.pick(t.files);
    renameSync(f, `${f}.real-${rng.int(0, 1e9)}`);
    symlinkSync(decoyFile(), f);
    return true;
  },
  delete: (t) => {
    unlinkSync(rng.pick(t.files));
    return true;
  },
  'delete-dir': (t) => {
    if (!t.dirs.length) return false;
    rmSync(rng.pick(t.dirs), { recursive: true, force: true });
    return true;
  },
  'file-to-fifo': (t) => {
    const f = rng.pick(t.files);
    unlinkSync(f);
    return spawnSync('mkfifo', [f]).status === 0;
  },
  'file-to-socket': (t) => {
    const f = rng.pick(t.files);
    unlinkSync(f);
    const s = createServer();
    s.on('error', () => {});
    s.listen(f);
    servers.push(s);
    return true;
  },
  'hostile-rename': (t) => {
    const f = rng.pick(t.files);
    const name = rng.pick(HOSTILE_NAMES);
    const suffix = Buffer.from(`-${rng.int(0, 1e6)}`);
    renameSync(
      f,
      Buffer.concat([
        Buffer.from(join(f, '..') + '/'),
        name.length + suffix.length <= 255 ? Buffer.concat([name, suffix]) : name,
      ]),
    );
    return true;
  },
  'deep-rewrite': () => {
    const fds = openChain(
      join(src, 'deep'),
      Array.from({ length: DEEP_LEVELS }, (_, k) => deepName(k)),
    );
    if (!fds) return false;
    try {
      const bottom = fds[fds.length - 1];
      const name = rng.pick(readdirSync(at(bottom, '.')).filter((n) => n.startsWith('deep-')));
      if (!name) return false;
      const p = at(bottom, name) as string;
      rewriteInPlace(p, rng.chance(0.5) ? lstatSync(p).size : rng.int(HEADER, 200_000));
      return true;
    } finally {
      for (const fd of fds) closeSync(fd);
    }
  },
  'deep-swap': () => {
    const k = rng.int(0, DEEP_LEVELS - 1);
    const fds = openChain(
      join(src, 'deep'),
      Array.from({ length: k }, (_, i) => deepName(i)),
    );
    if (!fds) return false;
    try {
      const parent = fds[fds.length - 1];
      renameSync(at(parent, deepName(k)), at(parent, `${deepName(k).slice(0, 200)}.real-${rng.int(0, 1e9)}`));
      symlinkSync(decoy, at(parent, deepName(k)));
      return true;
    } finally {
      for (const fd of fds) closeSync(fd);
    }
  },
  'fuse-toggle': () => {
    if (!fuseImage || fuseBusy) return false;
    if (unmountFuse) {
      unmountFuse();
      unmountFuse = null;
      return true;
    }
    fuseBusy = true;
    void attackerFuseMountImage(fuseAt, fuseImage).then((u) => {
      fuseBusy = false;
      if (typeof u === 'string') return;
      if (stopped) u();
      else unmountFuse = u;
    });
    return true;
  },
  'new-file': (t) => {
    const d = rng.pick([src, ...t.dirs]);
    mkdirSync(d, { recursive: true });
    writeFileSync(
      join(d, `new-${rng.int(0, 1e9)}`),
      content(nextId++, rng.int(1, 0x7fffffff), rng.int(HEADER, 300_000)),
    );
    return true;
  },
};
const kinds = Object.keys(ops);

async function main(): Promise<void> {
  const stop = new Promise<void>((resolve) =>
    process.on('SIGTERM', () => {
      stopped = true;
      resolve();
    }),
  );
  let n = 0;
  while (!stopped) {
    const t = { files: [] as string[], dirs: [] as string[] };
    list(src, t);
    if (t.files.length < 3) break;
    const kind = rng.pick(kinds);
    try {
      if (ops[kind](t)) {
        byKind[kind] = (byKind[kind] ?? 0) + 1;
        n++;
      }
    } catch {
      /* the tree changed under the mutator itself: try another */
    }
    await new Promise((r) => setTimeout(r, rng.int(0, 4))); // random pacing varies the interleaving on purpose
  }
  // Wait for the stop signal if the tree ran out of files first.
  await stop;
  while (fuseBusy) await new Promise((r) => setTimeout(r, 5)); // a mount still being made is unmounted once it is
  unmountFuse?.();
  for (const s of servers) s.close();
  process.stdout.write(JSON.stringify({ ops: n, byKind }) + '\n');
}

void main();
