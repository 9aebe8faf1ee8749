// npm run bench:incremental -- [options]: the --base scenario. A copy of a real tree (default /usr/share) is
// snapshotted in full; then 1 % of its files are changed, some added and some deleted; then a full snapshot
// (--no-base) and an incremental one (--base the first image) of the changed tree are timed side by side,
// alternating, with the same compressor, block size and jobs. Targets (issue 12): the incremental run at least
// 5x faster than the full one with gzip and 20x with xz, with at most 10 % of its CPU time; the two images
// must hold the same tree (sqfsdiff).
import { Command } from 'commander';
import { appendFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { Rng, mountTmpfs, unmountTmpfs } from './corpora.js';
import { measure, median, syncAll, type Measurement } from './measure.js';
import { repoRoot, sqfsdiff } from './tools.js';

interface Options {
  corpus: string;
  comp: string;
  blockSize: string;
  jobs: number;
  reps: number;
  workdir: string;
  tmpfs: boolean;
  resultsDir: string;
  change: number;
}

const TARGETS: Record<string, { speedup: number; cpuShare: number }> = {
  gzip: { speedup: 5, cpuShare: 0.1 },
  xz: { speedup: 20, cpuShare: 0.1 },
};

const log = (s: string) => process.stderr.write(`bench-incremental: ${s}\n`);
const cli = join(repoRoot, 'bin', 'casper-snapshot.js');

/** Every regular file under dir (relative paths, as bytes may not be UTF-8 they are Buffers). */
function regularFiles(dir: Buffer): Buffer[] {
  const out: Buffer[] = [];
  const walk = (d: Buffer) => {
    for (const e of readdirSync(d, { withFileTypes: true, encoding: 'buffer' })) {
      const p = Buffer.concat([d, Buffer.from('/'), e.name as unknown as Buffer]);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.push(p);
    }
  };
  walk(dir);
  return out.sort(Buffer.compare);
}

/** Changes share of the files (appends a line: new size, new mtime), deletes share/2, adds share/2 new files. */
function mutate(root: string, share: number): { changed: number; deleted: number; added: number } {
  const rng = new Rng(12);
  const files = regularFiles(Buffer.from(root));
  let changed = 0;
  let deleted = 0;
  let added = 0;
  for (const f of files) {
    const x = rng.next();
    if (x < share) {
      appendFileSync(f, `changed by the incremental benchmark ${changed}\n`);
      changed++;
    } else if (x < share * 1.5) {
      rmSync(f);
      deleted++;
    } else if (x < share * 2) {
      const copy = Buffer.concat([f, Buffer.from('.bench-added')]);
      writeFileSync(copy, Buffer.concat([readFileSync(f), Buffer.from(`added ${added}\n`)]));
      added++;
    }
  }
  return { changed, deleted, added };
}

function run(args: string[]): Promise<Measurement> {
  return measure(process.execPath, [cli, '-q', ...args], process.env);
}

function fmt(x: number | null, d = 2): string {
  return x === null ? '–' : x.toFixed(d);
}

async function main(): Promise<void> {
  const o = new Command()
    .name('npm run bench:incremental --')
    .description('Full snapshot vs --base snapshot of a tree after 1 % of its files changed (issue 12 targets).')
    .option('--corpus <dir>', 'tree to copy and change', '/usr/share')
    .option('--comp <list>', 'compressors, comma-separated', 'gzip,xz')
    .option('-b, --block-size <size>', 'block size', '131072')
    .option('-j, --jobs <n>', 'jobs for every run', (v) => Number(v), availableParallelism())
    .option('--reps <n>', 'runs of each, alternating', (v) => Number(v), 2)
    .option(
      '--change <fraction>',
      'share of files changed (as much again deleted and added, half each)',
      (v) => Number(v),
      0.01,
    )
    .option('--workdir <dir>', 'where the copy and the images go', '/var/tmp/casper-bench-incremental')
    .option('--tmpfs', 'put the copy and the images on a tmpfs (needs root)', false)
    .option(
      '--results-dir <dir>',
      'where the markdown table goes (default bench/results/runs, ignored by git)',
      join(repoRoot, 'bench', 'results', 'runs'),
    )
    .parse()
    .opts<Options>();
  const work = resolve(o.workdir);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  if (o.tmpfs) mountTmpfs(work, 4 * 1024 ** 3);
  try {
    const src = join(work, 'src');
    log(`copying ${o.corpus}`);
    const cp = spawnSync('cp', ['-a', o.corpus, src], { stdio: 'inherit' });
    if (cp.status !== 0) throw new Error(`cp -a ${o.corpus} failed`);
    const rows: string[] = [];
    const lines: string[] = [];
    const comps = o.comp.split(',');
    const bases = new Map<string, string>();
    for (const comp of comps) {
      const base = join(work, `base-${comp}.sqfs`);
      log(`${comp}: the first, full snapshot`);
      const r = await run(['--source', src, base, '-comp', comp, '-b', o.blockSize, '-j', String(o.jobs), '--no-base']);
      if (r.exitCode !== 0) throw new Error(`first snapshot failed: ${r.stderr}`);
      bases.set(comp, base);
    }
    const m = mutate(src, o.change);
    log(`changed ${m.changed}, deleted ${m.deleted}, added ${m.added} files`);
    const treeBytes = Number(spawnSync('du', ['-sb', src], { encoding: 'utf8' }).stdout.split('\t')[0]);
    for (const comp of comps) {
      const full: Measurement[] = [];
      const inc: Measurement[] = [];
      const fullOut = join(work, `full-${comp}.sqfs`);
      const incOut = join(work, `inc-${comp}.sqfs`);
      const common = ['-comp', comp, '-b', o.blockSize, '-j', String(o.jobs)];
      for (let i = 0; i < o.reps; i++) {
        for (const [kind, list, out, extra] of [
          ['full', full, fullOut, ['--no-base']],
          ['incremental', inc, incOut, ['--base', bases.get(comp)!]],
        ] as const) {
          rmSync(out, { force: true });
          syncAll();
          const r = await run(['--source', src, out, ...common, ...extra]);
          if (r.exitCode !== 0) throw new Error(`${kind} snapshot failed (exit ${r.exitCode}): ${r.stderr}`);
          log(
            `${comp} ${kind}: ${r.wallS.toFixed(2)} s wall, ${fmt(r.userS !== null && r.sysS !== null ? r.userS + r.sysS : null)} s CPU`,
          );
          list.push(r);
        }
      }
      const wall = (xs: Measurement[]) => median(xs.map((x) => x.wallS))!;
      const cpu = (xs: Measurement[]) => median(xs.filter((x) => x.userS !== null).map((x) => x.userS! + x.sysS!));
      const speedup = wall(full) / wall(inc);
      const fullCpu = cpu(full);
      const incCpu = cpu(inc);
      const share = fullCpu && incCpu !== null ? incCpu / fullCpu : null;
      const diff = sqfsdiff(incOut, fullOut);
      const t = TARGETS[comp];
      const verdict = t
        ? speedup >= t.speedup && share !== null && share <= t.cpuShare && diff.pass
          ? 'PASS'
          : 'MISS'
        : '–';
      rows.push(
        `| ${comp} | ${fmt(wall(full))} | ${fmt(fullCpu)} | ${fmt(wall(inc))} | ${fmt(incCpu)} | ${speedup.toFixed(1)}× | ${share === null ? '–' : (share * 100).toFixed(1) + ' %'} | ` +
          `${(statSync(incOut).size / statSync(fullOut).size).toFixed(4)} | ${diff.pass ? 'equal' : `DIFFERENT (${diff.differences})`} | ${t ? `≥ ${t.speedup}×, CPU ≤ ${t.cpuShare * 100} %` : '–'} | ${verdict} |`,
      );
      if (!diff.pass) lines.push(`sqfsdiff ${comp}:\n${diff.output}`);
    }
    const cpu = cpus()[0]?.model ?? 'unknown CPU';
    const md = [
      `# Incremental snapshot (--base) vs full snapshot`,
      '',
      `${new Date().toISOString()} · ${cpu} · ${availableParallelism()} cores · ${o.corpus} copied (${(treeBytes / 2 ** 20).toFixed(0)} MiB)` +
        ` · ${m.changed} files changed, ${m.deleted} deleted, ${m.added} added · block ${o.blockSize} · ${o.jobs} jobs · ${o.reps} runs each, median · ${o.tmpfs ? 'tmpfs' : work}`,
      '',
      '| compressor | full wall s | full CPU s | incremental wall s | incremental CPU s | speed-up | CPU share | size inc/full | sqfsdiff | target | verdict |',
      '|---|---|---|---|---|---|---|---|---|---|---|',
      ...rows,
      '',
      `Command: \`npm run bench:incremental -- --corpus ${o.corpus} --comp ${o.comp} --jobs ${o.jobs} --reps ${o.reps}${o.tmpfs ? ' --tmpfs' : ''}\``,
      ...lines,
      '',
    ].join('\n');
    process.stdout.write(md);
    {
      mkdirSync(o.resultsDir, { recursive: true });
      const file = join(o.resultsDir, `incremental-${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}Z.md`);
      writeFileSync(file, md);
      log(`wrote ${file}`);
    }
  } finally {
    if (o.tmpfs) unmountTmpfs(work);
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench-incremental: ${(err as Error).message}\n`);
  process.exit(1);
});
