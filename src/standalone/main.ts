// Entry point of the single executable (Node SEA, `npm run package`): the bundled CLI, with the addon, the
// worker and piscina's worker shell carried as assets. They are written to a private temporary directory at
// start (a .node file must be a file to be loaded, a Worker needs a script file) and removed at exit.
import { getAsset, isSea } from 'node:sea';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runtime } from '../native/addon.js';
import { main } from '../cli/main.js';

declare const __CASPER_VERSION__: string;
declare const globalThis: { __casperAssetDir?: string };

function unpack(): string {
  const dir = mkdtempSync(join(process.env.TMPDIR || tmpdir(), 'casper-snapshot-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  for (const name of ['casper_snapshot.node', 'worker.cjs', 'worker.js']) {
    writeFileSync(join(dir, name), new Uint8Array(getAsset(name)), { mode: 0o700 });
  }
  return dir;
}

if (!isSea()) throw new Error('src/standalone/main.ts runs only inside the single executable (npm run package)');
const dir = unpack();
// piscina finds its own worker shell as worker.js beside its code: the bundle's __dirname points here.
globalThis.__casperAssetDir = dir;
runtime.standalone = true;
runtime.version = __CASPER_VERSION__;
runtime.addonPath = join(dir, 'casper_snapshot.node');
runtime.workerFilename = join(dir, 'worker.cjs');
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`casper-snapshot: ${err && err.message ? err.message : err}\n`);
    process.exitCode = 2;
  },
);
