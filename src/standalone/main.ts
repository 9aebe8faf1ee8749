// Entry point of the single executable (Node SEA, `npm run package`): the bundled CLI, with the addon, the
// worker and piscina's worker shell carried as assets. A .node file must be a file to be loaded (and a Worker
// needs a script file), so they are written to a private directory at start and removed at exit.
//
// The directory must allow executable mappings: hardened systems mount /tmp (and often /dev/shm) noexec, where
// loading the addon fails ("failed to map segment"). The candidates are tried in turn until the addon loads
// from one. (A memfd would need no directory, but Node has no memfd_create, and a helper to make one would be
// a native module itself.) Directories left by a run that was killed (kill -9 runs no exit handler) are
// removed by the next run: each holds its owner's pid.
import { getAsset, isSea } from 'node:sea';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { runtime, type Addon } from '../native/addon.js';
import { main } from '../cli/main.js';

declare const __CASPER_VERSION__: string;

const PREFIX = 'casper-snapshot-';
const ADDON = 'casper_snapshot.node';

/** Where to unpack, in order: the user's choice, the usual temporary places, then places that are rarely noexec. */
function candidates(): string[] {
  const list = [
    process.env.TMPDIR,
    tmpdir(),
    process.env.XDG_RUNTIME_DIR,
    '/dev/shm',
    '/run',
    '/var/tmp',
    process.env.HOME,
    // The executable's own directory: it runs from there, so that filesystem allows executing.
    dirname(process.execPath),
  ];
  return [...new Set(list.filter((d): d is string => !!d && d.startsWith('/')))];
}

/** Removes unpack directories of runs that are gone (killed with SIGKILL, or a power cut during a snapshot). */
function removeStale(dir: string): void {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.startsWith(PREFIX));
  } catch {
    return;
  }
  const uid = process.getuid?.();
  for (const n of names) {
    const d = join(dir, n);
    try {
      if (uid !== undefined && statSync(d).uid !== uid) continue;
      const pid = Number(readFileSync(join(d, 'pid'), 'utf8'));
      if (Number.isInteger(pid) && pid > 0 && alive(pid)) continue;
      rmSync(d, { recursive: true, force: true });
    } catch {
      /* not ours, or being made right now (no pid file yet): left alone */
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Writes the assets into a new directory under `parent` and loads the addon from it; throws why not. */
function unpackIn(parent: string): { dir: string; addon: Addon } {
  const dir = mkdtempSync(join(parent, PREFIX));
  try {
    writeFileSync(join(dir, 'pid'), String(process.pid));
    for (const name of [ADDON, 'worker.cjs', 'worker.js'])
      writeFileSync(join(dir, name), new Uint8Array(getAsset(name)), { mode: 0o700 });
    const m = { exports: {} as Addon };
    process.dlopen(m, join(dir, ADDON));
    return { dir, addon: m.exports };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

function unpack(): { dir: string; addon: Addon } | { problem: string } {
  const tried: string[] = [];
  for (const parent of candidates()) {
    if (!existsSync(parent)) continue;
    removeStale(parent);
    try {
      const r = unpackIn(parent);
      process.on('exit', () => rmSync(r.dir, { recursive: true, force: true }));
      return r;
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const why = /failed to map segment/.test(e.message) ? 'mounted noexec' : (e.code ?? e.message);
      tried.push(`${parent} (${why})`);
    }
  }
  return {
    problem:
      `no directory to unpack it to allows loading it (tried ${tried.join(', ')}); ` +
      'set TMPDIR to a writable directory on a filesystem mounted without noexec, e.g. TMPDIR=/root casper-snapshot …',
  };
}

if (!isSea()) throw new Error('src/standalone/main.ts runs only inside the single executable (npm run package)');
runtime.standalone = true;
runtime.version = __CASPER_VERSION__;
const unpacked = unpack();
if ('dir' in unpacked) {
  // piscina finds its own worker shell as worker.js beside its code: the bundle's __dirname points here.
  (globalThis as { __casperAssetDir?: string }).__casperAssetDir = unpacked.dir;
  runtime.addon = unpacked.addon;
  runtime.addonPath = join(unpacked.dir, ADDON);
  runtime.workerFilename = join(unpacked.dir, 'worker.cjs');
} else {
  runtime.addonProblem = unpacked.problem;
}
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`casper-snapshot: ${err?.message ? err.message : err}\n`);
    process.exitCode = 2;
  },
);
