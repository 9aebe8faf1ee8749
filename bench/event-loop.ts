// npm run bench -- --event-loop: how long the caller's event loop can be kept waiting while the library takes a
// snapshot in the same process, as an Electron app's main process would. Each run is a child process (run
// with --event-loop-child) that starts a timer every millisecond, takes the snapshot with `jobs` threads, and
// reports the worst and 99th-percentile delay of that timer (perf_hooks.monitorEventLoopDelay) during the
// data phase and over the whole job. The CPU is fully used: jobs = cores, plus, with hogs, one busy process per
// core at nice 0 (another program running). Each case runs with the pool threads at nice +5 (the library's
// default, RunOptions.threadNice) and at +0 (the old behaviour), interleaved.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './measure.js';
import { repoRoot } from './tools.js';

export interface EventLoopCase {
  jobs: number;
  hogs: number;
  threadNice: number;
  comp: string;
  runs: { wallS: number; maxMs: number; p99Ms: number; dataMaxMs: number; dataP99Ms: number }[];
  /** Medians over the runs. */
  maxMs: number | null;
  p99Ms: number | null;
  dataMaxMs: number | null;
}

export interface EventLoopResult {
  corpus: string;
  cores: number;
  cases: EventLoopCase[];
}

const self = fileURLToPath(import.meta.url);

/** The measuring child: prints one JSON line. */
async function child(src: string, out: string, jobs: number, comp: string, threadNice: number): Promise<void> {
  const { snapshot } = (await import(
    join(repoRoot, 'dist', 'src', 'api', 'index.js')
  )) as typeof import('../src/api/index.js');
  const whole = monitorEventLoopDelay({ resolution: 1 });
  const data = monitorEventLoopDelay({ resolution: 1 });
  whole.enable();
  const t0 = performance.now();
  let inData = false;
  await snapshot({
    source: src,
    output: out,
    jobs,
    compressor: comp as 'gzip',
    threadNice,
    base: false,
    noSpaceCheck: true,
    onProgress: (p) => {
      if (p.phase === 'data' && !inData) {
        data.enable();
        inData = true;
      } else if (p.phase !== 'data' && inData) {
        data.disable();
        inData = false;
      }
    },
  });
  whole.disable();
  const ms = (ns: number) => Math.round((ns / 1e6) * 10) / 10;
  process.stdout.write(
    JSON.stringify({
      wallS: (performance.now() - t0) / 1000,
      maxMs: ms(whole.max),
      p99Ms: ms(whole.percentile(99)),
      dataMaxMs: ms(data.max),
      dataP99Ms: ms(data.percentile(99)),
    }) + '\n',
  );
}

/** Busy loops at nice 0, one per core: another program using the whole CPU. */
function startHogs(n: number): ChildProcess[] {
  return Array.from({ length: n }, () => spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
}

export async function runEventLoop(o: {
  corpus: string;
  outDir: string;
  comp: string;
  reps: number;
  log: (s: string) => void;
}): Promise<EventLoopResult> {
  const cores = availableParallelism();
  const cases: EventLoopCase[] = [];
  for (const hogs of [0, cores])
    for (const jobs of [...new Set([1, cores])])
      for (const threadNice of [5, 0])
        cases.push({ jobs, hogs, threadNice, comp: o.comp, runs: [], maxMs: null, p99Ms: null, dataMaxMs: null });
  const out = join(o.outDir, 'event-loop.sqfs');
  for (let rep = 0; rep < o.reps; rep++)
    for (const c of cases) {
      const hogs = startHogs(c.hogs);
      try {
        const r = spawnSync(
          process.execPath,
          [self, '--event-loop-child', o.corpus, out, String(c.jobs), c.comp, String(c.threadNice)],
          { encoding: 'utf8' },
        );
        if (r.status !== 0)
          throw new Error(`event-loop run failed: ${r.stderr.trim().split('\n').slice(-3).join(' / ')}`);
        const run = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as EventLoopCase['runs'][number];
        c.runs.push(run);
        o.log(
          `event loop: jobs ${c.jobs}, ${c.hogs} busy processes, pool nice +${c.threadNice}: max ${run.maxMs} ms (data phase ${run.dataMaxMs} ms), p99 ${run.p99Ms} ms, ${run.wallS.toFixed(2)} s`,
        );
      } finally {
        for (const h of hogs) h.kill('SIGKILL');
        rmSync(out, { force: true });
      }
    }
  for (const c of cases) {
    c.maxMs = median(c.runs.map((r) => r.maxMs));
    c.p99Ms = median(c.runs.map((r) => r.p99Ms));
    c.dataMaxMs = median(c.runs.map((r) => r.dataMaxMs));
  }
  return { corpus: o.corpus, cores, cases };
}

export function eventLoopMarkdown(r: EventLoopResult): string[] {
  const out = ["## Event loop (the library in the caller's process)", ''];
  out.push(
    `Worst and 99th-percentile delay of a 1 ms timer on the caller's thread while \`snapshot()\` packs ${r.corpus} (median of the runs), ` +
      `${r.cores} cores; "busy processes": one busy loop per core at nice 0 besides the snapshot. Pool nice +5 is the library's default ` +
      '(`threadNice`), +0 the priority the pool threads had before.',
  );
  out.push('');
  out.push('| jobs | busy processes | pool nice | worst delay ms | worst in data phase ms | p99 ms | runs |');
  out.push('|---:|---:|---:|---:|---:|---:|---:|');
  const f = (x: number | null) => (x === null ? '—' : x.toFixed(1));
  for (const c of r.cases)
    out.push(
      `| ${c.jobs} | ${c.hogs} | +${c.threadNice} | ${f(c.maxMs)} | ${f(c.dataMaxMs)} | ${f(c.p99Ms)} | ${c.runs.length} |`,
    );
  out.push('');
  return out;
}

if (process.argv[2] === '--event-loop-child') {
  const [src, out, jobs, comp, nice] = process.argv.slice(3);
  child(src, out, Number(jobs), comp, Number(nice)).catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  });
}
