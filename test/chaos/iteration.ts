// One chaos iteration: a fresh source tree and decoy, the mutator started against it, a snapshot taken
// meanwhile with a deadline, then the image judged: mounted by the kernel, listed by unsquashfs, every file
// read back and checked for canary bytes, decoy names and torn content, and every torn file looked for in
// the run's warnings. Every tenth iteration is a control run (no mutator): it must exit 0 with no warning
// and an image equal to its source.
import { spawn } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CANARY, HEADER, content, verify } from './content.js';
import { Rng } from '../helpers/random-tree.js';
import { cliPath, run } from '../helpers/tools.js';
import { withMount } from '../helpers/image-check.js';
import { describeTree, diffTrees } from '../helpers/tree-compare.js';

export const COMPRESSORS = ['gzip', 'xz', 'lz4', 'zstd', 'lzo'] as const;
const mutatorPath = join(dirname(fileURLToPath(import.meta.url)), 'mutator.js');

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
  counts: { escapes: number; tornUnreported: number; refused: number; falseClean: number; errors: number; tornReported: number; warnings: number };
  ms: number;
}

function makeSource(rng: Rng, src: string, decoy: string): void {
  mkdirSync(decoy, { recursive: true });
  for (let i = 0; i < 4; i++) writeFileSync(join(decoy, `decoy-canary-${i}`), Buffer.concat(Array(i === 0 ? 20000 : 40).fill(CANARY)));
  const dirs = [src];
  for (let i = 0; i < 12; i++) {
    const d = join(rng.pick(dirs), `d${i}`);
    mkdirSync(d, { recursive: true });
    dirs.push(d);
  }
  let id = 1;
  for (let i = 0; i < 90; i++) writeFileSync(join(rng.pick(dirs), `f${i}`), content(id++, 1, rng.int(HEADER, rng.next() < 0.8 ? 16_000 : 200_000)));
  // Files of more than one read task (2 MiB), so one file's blocks come back from several workers.
  for (let i = 0; i < 2; i++) writeFileSync(join(rng.pick(dirs), `big${i}`), content(id++, 1, rng.int(2_200_000, 2_700_000)));
}

function walkImage(mnt: string, visit: (path: string, rel: string, isFile: boolean) => void, rel = ''): void {
  for (const n of readdirSync(join(mnt, rel))) {
    const r = `${rel}/${n}`;
    const st = lstatSync(join(mnt, r));
    visit(join(mnt, r), r, st.isFile());
    if (st.isDirectory()) walkImage(mnt, visit, r);
  }
}

export async function chaosIteration(seed: number, opts: { deadlineMs?: number; keep?: boolean } = {}): Promise<IterationResult> {
  const t0 = Date.now();
  const rng = new Rng(seed);
  const compressor = COMPRESSORS[seed % COMPRESSORS.length];
  const jobs = 1 + (Math.floor(seed / COMPRESSORS.length) % 2);
  const fallback = seed % 4 === 3;  // the component-by-component path that kernels before 5.6 take
  const control = seed % 10 === 0;
  const t = mkdtempSync(join(tmpdir(), 'cs-chaos-'));
  const src = join(t, 'src');
  const decoy = join(t, 'decoy');
  const out = join(t, 'out.sqfs');
  const res: IterationResult = {
    seed, compressor, jobs, fallback, control, exitCode: null, hang: false, ops: 0, problems: [],
    counts: { escapes: 0, tornUnreported: 0, refused: 0, falseClean: 0, errors: 0, tornReported: 0, warnings: 0 },
    ms: 0,
  };
  try {
    makeSource(rng, src, decoy);
    const before = control ? describeTree(src, { contents: true }) : undefined;
    const mutator = control ? undefined : spawn(process.execPath, [mutatorPath, String(seed), src, decoy], { stdio: ['ignore', 'pipe', 'inherit'] });
    let mutatorOut = '';
    mutator?.stdout!.on('data', (d) => (mutatorOut += d));
    const mutatorDone = mutator && new Promise<void>((r) => mutator.on('exit', () => r()));
    const env = { ...process.env, ...(fallback ? { CASPER_SNAPSHOT_NO_OPENAT2: '1' } : {}) };
    const child = spawn(process.execPath, [process.env.CASPER_TEST_CLI ?? cliPath, '--source', src, out, '-q', '--no-space-check', '--jobs', String(jobs), '-comp', compressor], { env });
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
        walkImage(mnt, (p, rel, isFile) => {
          if (rel.includes('decoy-canary')) {
            res.counts.escapes++;
            res.problems.push(`escape: a decoy name is in the image at ${rel}`);
          }
          if (!isFile) return;
          const b = readFileSync(p);
          if (b.includes(CANARY)) {
            res.counts.escapes++;
            res.problems.push(`escape: canary bytes in ${rel}`);
          }
          const v = verify(b);
          if (v.kind !== 'torn') return;
          const named = warnings.some((w) => w.endsWith(`${src}${rel}`) || w.includes(`${src}${rel} `) || w.includes(`'${src}${rel}'`));
          if (named) res.counts.tornReported++;
          else {
            res.counts.tornUnreported++;
            res.problems.push(`torn and not reported: ${rel} (${v.why})`);
          }
        });
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
      if (res.exitCode !== 0) res.problems.push(`control run (nothing changed) exited ${res.exitCode}: ${warnings.slice(0, 3).join(' | ')}`);
      const diff = diffTrees(before!, after!);
      if (diff.length) res.problems.push(`control run: image differs from its source: ${diff.slice(0, 5).join('; ')}`);
    }
    return res;
  } finally {
    res.ms = Date.now() - t0;
    if (!opts.keep) rmSync(t, { recursive: true, force: true });
  }
}
