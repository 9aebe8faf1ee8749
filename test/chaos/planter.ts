// The chaos run's lock planter: an ordinary user (run as nobody) who can write the output's directory and keeps
// planting what a careless writer would follow or obey there — the lock as a symlink to a file root must not
// create, or to a file of the captured tree; the lock as a plain file held with flock; temporary names as
// symlinks. Usage: node planter.js SEED OUTDIR OUTNAME VICTIM SRCFILE. Stops on SIGTERM and prints
// {"ops": N} on stdout.
import { spawn } from 'node:child_process';
import { rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../helpers/random-tree.js';

const [seedArg, outDir, outName, victim, srcFile] = process.argv.slice(2);
const rng = new Rng(Number(seedArg));
let stopped = false;
let ops = 0;
const lock = join(outDir, `.${outName}.lock`);

function replace(path: string, make: () => void): void {
  rmSync(path, { force: true });
  make();
}

const actions: (() => void)[] = [
  () => replace(lock, () => symlinkSync(victim, lock)),
  () => replace(lock, () => symlinkSync(srcFile, lock)),
  () => {
    replace(lock, () => writeFileSync(lock, ''));
    // Held for a moment: root must neither wait for it nor give up.
    spawn('flock', ['-x', '-n', lock, 'sleep', '0.3'], { stdio: 'ignore' }).on('error', () => {});
  },
  () => {
    const tmp = join(
      outDir,
      `.${outName}.tmp-${rng.int(1, 99999)}-${rng.int(0, 0xffffff).toString(16).padStart(8, '0')}`,
    );
    replace(tmp, () => symlinkSync(victim, tmp));
  },
  () => rmSync(lock, { force: true }),
];

async function main(): Promise<void> {
  process.on('SIGTERM', () => (stopped = true));
  while (!stopped) {
    try {
      rng.pick(actions)();
      ops++;
    } catch {
      /* raced with root's own files: try again */
    }
    await new Promise((r) => setTimeout(r, rng.int(0, 5)));
  }
  process.stdout.write(JSON.stringify({ ops }) + '\n');
}

void main();
