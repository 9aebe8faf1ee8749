// One chaos iteration: a fresh source tree and decoy, the mutator started against it, a snapshot taken
// meanwhile with a deadline, then the image judged: mounted by the kernel, listed by unsquashfs, every file
// read back and checked for canary bytes, decoy names and torn content, and every torn file looked for in
// the run's warnings. Every tenth iteration is a control run (no mutator): it must exit 0 with no warning
// and an image equal to its source.
//
// Besides the mutator, as root: files with hostile names (forged lines, escapes, bytes that are not UTF-8, 255
// bytes) and, outside control runs, a chain deeper than PATH_MAX (walked here through held directories); every
// fourth iteration another user's FUSE mount appears and vanishes in the source. As nobody, a lock planter
// works in the output's directory (test/chaos/planter.ts): nothing may be created where its links point, and
// every line the run prints must be one of its own, escaped.
import { spawn } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CANARY, HEADER, content, verify } from './content.js';
import { Rng } from '../helpers/random-tree.js';
import { cliPath, run } from '../helpers/tools.js';
import { withMount } from '../helpers/image-check.js';
import { describeTree, diffTrees } from '../helpers/tree-compare.js';
import { ATTACKER, attackerEnv, attackerMissing, fuseImage } from '../helpers/attacker.js';
import { HOSTILE_NAMES, at, makeDeepChain, shown, writeAt } from './hostile.js';

export const COMPRESSORS = ['gzip', 'xz', 'lz4', 'zstd', 'lzo'] as const;
const mutatorPath = join(dirname(fileURLToPath(import.meta.url)), 'mutator.js');
const planterPath = join(dirname(fileURLToPath(import.meta.url)), 'planter.js');

export interface IterationResult {
  seed: number;
  compressor: string;
  jobs: number;
  fallback: boolean;
  control: boolean;
  exitCode: number | null;
  hang: boolean;
  ops: number;
  /** Failures found; empty when the iteration passed. */
  problems: string[];
  counts: {
    escapes: number;
    tornUnreported: number;
    refused: number;
    falseClean: number;
    errors: number;
    tornReported: number;
    warnings: number;
    /** A planted lock or temporary link followed (its target created), and lines that were not the tool's own or not escaped. */
    followed: number;
    unclean: number;
  };
  /** The actors beyond the mutator: deep chain, FUSE mount, lock planter. */
  actors: string[];
  ms: number;
}

function makeSource(rng: Rng, src: string, decoy: string, deep: boolean, nextId: () => number): void {
  mkdirSync(decoy, { recursive: true });
  for (let i = 0; i < 4; i++)
    writeFileSync(join(decoy, `decoy-canary-${i}`), Buffer.concat(Array(i === 0 ? 20000 : 40).fill(CANARY)));
  const dirs = [src];
  for (let i = 0; i < 12; i++) {
    const d = join(rng.pick(dirs), `d${i}`);
    mkdirSync(d, { recursive: true });
    dirs.push(d);
  }
  for (let i = 0; i < 90; i++)
    writeFileSync(
      join(rng.pick(dirs), `f${i}`),
      content(nextId(), 1, rng.int(HEADER, rng.next() < 0.8 ? 16_000 : 200_000)),
    );
  // Files of more than one read task (2 MiB), so one file's blocks come back from several workers.
  for (let i = 0; i < 2; i++)
    writeFileSync(join(rng.pick(dirs), `big${i}`), content(nextId(), 1, rng.int(2_200_000, 2_700_000)));
  for (const name of HOSTILE_NAMES)
    writeFileSync(
      Buffer.concat([Buffer.from(rng.pick(dirs) + '/'), name]),
      content(nextId(), 1, rng.int(HEADER, 20_000)),
    );
  if (deep)
    makeDeepChain(src, (fd) => {
      for (let i = 0; i < 3; i++) writeAt(fd, `deep-${i}`, content(nextId(), 1, rng.int(HEADER, 60_000)));
    });
}

/**
 * Every entry of a mounted image, depth first, reached through held directories (any depth, any name bytes):
 * visit(fd of its directory, its name, its path below the root as bytes, is it a regular file).
 */
function walkImage(
  dirFd: number,
  visit: (dirFd: number, name: Buffer, rel: Buffer, isFile: boolean) => void,
  rel: Buffer = Buffer.alloc(0),
): void {
  for (const name of readdirSync(at(dirFd, '.') as string, { encoding: 'buffer' })) {
    const r = Buffer.concat([rel, Buffer.from('/'), name]);
    const st = lstatSync(at(dirFd, name));
    visit(dirFd, name, r, st.isFile());
    if (st.isDirectory()) {
      const fd = openSync(at(dirFd, name), 'r');
      try {
        walkImage(fd, visit, r);
      } finally {
        closeSync(fd);
      }
    }
  }
}

export async function chaosIteration(
  seed: number,
  opts: { deadlineMs?: number; keep?: boolean } = {},
): Promise<IterationResult> {
  const t0 = Date.now();
  const rng = new Rng(seed);
  const compressor = COMPRESSORS[seed % COMPRESSORS.length];
  const jobs = 1 + (Math.floor(seed / COMPRESSORS.length) % 2);
  const fallback = seed % 4 === 3; // the component-by-component path that kernels before 5.6 take
  const control = seed % 10 === 0;
  const attacker = attackerMissing() === false;
  const t = mkdtempSync(join(tmpdir(), 'cs-chaos-'));
  chmodSync(t, 0o755); // the planter (nobody) must reach its directory
  const src = join(t, 'src');
  const decoy = join(t, 'decoy');
  const outDir = join(t, 'out');
  const out = join(outDir, 'out.sqfs');
  const victim = join(t, 'victim-nologin'); // root must never create it: the planter's links point here
  const res: IterationResult = {
    seed,
    compressor,
    jobs,
    fallback,
    control,
    exitCode: null,
    hang: false,
    ops: 0,
    problems: [],
    counts: {
      escapes: 0,
      tornUnreported: 0,
      refused: 0,
      falseClean: 0,
      errors: 0,
      tornReported: 0,
      warnings: 0,
      followed: 0,
      unclean: 0,
    },
    actors: [],
    ms: 0,
  };
  let planter: ReturnType<typeof spawn> | undefined;
  try {
    let id = 1;
    const deep = !control; // the control run's description of the source walks by path (PATH_MAX)
    makeSource(rng, src, decoy, deep, () => id++);
    if (deep) res.actors.push('deep');
    mkdirSync(outDir);
    let fuseArgs: string[] = [];
    if (attacker && !control && seed % 4 === 1) {
      const img = fuseImage(decoy, t);
      if (img.startsWith('/')) {
        const mnt = join(src, 'fuse-mnt');
        mkdirSync(mnt);
        chownSync(mnt, ATTACKER.uid, ATTACKER.gid);
        fuseArgs = [img, mnt];
        res.actors.push('fuse');
      }
    }
    if (attacker) {
      chownSync(outDir, ATTACKER.uid, ATTACKER.gid);
      const srcFile =
        readdirSync(src)
          .filter((n) => /^f\d+$/.test(n))
          .map((n) => join(src, n))[0] ?? join(src, 'f0');
      planter = spawn(
        'setpriv',
        [
          '--reuid',
          String(ATTACKER.uid),
          '--regid',
          String(ATTACKER.gid),
          '--clear-groups',
          '--',
          process.execPath,
          planterPath,
          String(seed),
          outDir,
          'out.sqfs',
          victim,
          srcFile,
        ],
        {
          stdio: ['ignore', 'ignore', 'ignore'],
          env: attackerEnv(),
        },
      );
      res.actors.push('planter');
    }
    const before = control ? describeTree(src, { contents: true }) : undefined;
    const mutator = control
      ? undefined
      : spawn(process.execPath, [mutatorPath, String(seed), src, decoy, ...fuseArgs], {
          stdio: ['ignore', 'pipe', 'inherit'],
        });
    let mutatorOut = '';
    mutator?.stdout?.on('data', (d) => (mutatorOut += d));
    const mutatorDone = mutator && new Promise<void>((r) => mutator.on('exit', () => r()));
    const env = { ...process.env, ...(fallback ? { CASPER_SNAPSHOT_NO_OPENAT2: '1' } : {}) };
    const child = spawn(
      process.execPath,
      [
        process.env.CASPER_TEST_CLI ?? cliPath,
        '--source',
        src,
        out,
        '-q',
        '--no-space-check',
        '--jobs',
        String(jobs),
        '-comp',
        compressor,
      ],
      { env },
    );
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const deadline = setTimeout(() => {
      res.hang = true;
      child.kill('SIGKILL');
    }, opts.deadlineMs ?? 120_000);
    res.exitCode = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    clearTimeout(deadline);
    mutator?.kill('SIGTERM');
    await mutatorDone;
    planter?.kill('SIGTERM');
    if (existsSync(victim)) {
      res.counts.followed++;
      res.problems.push('a planted lock or temporary link was followed: its target was created');
    }
    for (const line of stderr.split('\n').filter((l) => l !== '')) {
      if (
        /^casper-snapshot: /.test(line) &&
        !/^casper-snapshot: (warning: )?FORGED/.test(line) &&
        !/[\x00-\x1f\x7f-\x9f\ufffd]/.test(line)
      )
        continue;
      res.counts.unclean++;
      res.problems.push(`a line that is not the tool's own, or not escaped: ${JSON.stringify(line.slice(0, 200))}`);
    }
    if (mutatorOut) res.ops = (JSON.parse(mutatorOut) as { ops: number }).ops;
    const warnings = stderr.split('\n').filter((l) => l.startsWith('casper-snapshot: warning: '));
    res.counts.warnings = warnings.length;
    if (res.hang) res.problems.push(`hang: no exit within the deadline`);
    if (res.exitCode !== 0 && res.exitCode !== 3) {
      res.counts.errors++;
      res.problems.push(`exit ${res.exitCode}: ${stderr.trim().slice(0, 400)}`);
      return res;
    }
    if (/internal/.test(stderr)) res.problems.push(`internal error text: ${stderr.slice(0, 300)}`);
    const list = run('unsquashfs', ['-lls', out]);
    if (list.status !== 0) {
      res.counts.refused++;
      res.problems.push(`unsquashfs -lls refused the image: ${list.stderr.slice(0, 300)}`);
      return res;
    }
    let after: ReturnType<typeof describeTree> | undefined;
    try {
      withMount(out, (mnt) => {
        const root = openSync(mnt, 'r');
        try {
          walkImage(root, (dirFd, name, relBytes, isFile) => {
            const rel = shown(relBytes);
            if (name.includes('decoy-canary')) {
              res.counts.escapes++;
              res.problems.push(`escape: a decoy name is in the image at ${rel}`);
            }
            if (!isFile) return;
            const b = readFileSync(at(dirFd, name));
            if (b.includes(CANARY)) {
              res.counts.escapes++;
              res.problems.push(`escape: canary bytes in ${rel}`);
            }
            const v = verify(b);
            if (v.kind !== 'torn') return;
            // Warnings name paths escaped (native/util/printable.cc): the torn file's path, as they show it.
            const path = `${shown(Buffer.from(src))}${rel}`;
            const named = warnings.some((w) => w.endsWith(path) || w.includes(`${path} `) || w.includes(`'${path}'`));
            if (named) res.counts.tornReported++;
            else {
              res.counts.tornUnreported++;
              res.problems.push(`torn and not reported: ${rel} (${v.why})`);
            }
          });
        } finally {
          closeSync(root);
        }
        if (control) after = describeTree(mnt, { contents: true });
      });
    } catch (err) {
      res.counts.refused++;
      res.problems.push(`the kernel refused the image: ${(err as Error).message.slice(0, 300)}`);
      return res;
    }
    if (res.exitCode === 0 && warnings.length > 0) {
      res.counts.falseClean++;
      res.problems.push(`exit 0 with warnings: ${warnings.slice(0, 3).join(' | ')}`);
    }
    if (control) {
      if (res.exitCode !== 0)
        res.problems.push(`control run (nothing changed) exited ${res.exitCode}: ${warnings.slice(0, 3).join(' | ')}`);
      const diff = diffTrees(before!, after!);
      if (diff.length) res.problems.push(`control run: image differs from its source: ${diff.slice(0, 5).join('; ')}`);
    }
    return res;
  } finally {
    planter?.kill('SIGKILL');
    res.ms = Date.now() - t0;
    // rm, not rmSync: the deep chain is longer than PATH_MAX.
    if (!opts.keep) run('rm', ['-rf', t]);
  }
}
