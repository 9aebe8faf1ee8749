// --targets: the option sets of the speed targets (tracker issue 13). Each set names the groups of runs it
// needs (corpus, settings, tools); the groups are merged so that a run serving several targets is made once,
// run side by side in one bench run, and then each target is judged from the medians: goal, figure,
// PASS/MISS, and for a miss our run's own profile (phase times and pipeline figures) and what would close it.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Corpus } from './corpora.js';
import { log } from './group.js';
import { measure, median } from './measure.js';
import type { Group, OurProfile, RunRecord, TargetLine, ToolSummary } from './report.js';
import { compLabel, type Settings, type Tool } from './tools.js';

export const TARGET_SETS = ['serial', 'codecs', 'gzip9', 'tiny', 'rss', 'efficiency'] as const;
export type TargetSet = (typeof TARGET_SETS)[number];
type ToolName = Tool['name'];

/** The inputs of the targets; absent ones are left out of the sets that need them (with a note). */
export interface TargetInputs {
  /** /usr/share: the large real tree (absent when only tiny runs: it is not sized then). */
  big?: Corpus;
  /** /usr/share/locale: the smaller real tree (serial part, lz4 and lzo; absent unless those sets run). */
  locale?: Corpus;
  /** /etc/apt: the tiny job. */
  tiny: string;
  /** Generated small: 100,000 × 1 KiB at scale 1 (rss). */
  smallFiles?: Corpus;
  /** Generated many: 2,000,000 mostly empty entries at scale 1 (rss). */
  many?: Corpus;
}

export interface Base {
  blockSize: number;
  /** --jobs: the thread count of every set but serial (which compares 1 and 2). */
  jobs: number;
  /** Compressors this casper-snapshot build has. */
  comps: string[];
}

export interface Need {
  corpus: Corpus;
  s: Settings;
  tools: ToolName[];
}

const ALL: ToolName[] = ['casper-snapshot', 'mksquashfs', 'gensquashfs'];
const OURS: ToolName[] = ['casper-snapshot'];
const SERIAL_COMPS = ['gzip', 'xz', 'zstd', 'lz4', 'lzo'];
/** Codecs whose 16-thread projection the target asks on the generated tree of many entries. */
const MANY_COMPS = ['gzip', 'zstd', 'xz', 'lz4'];

/** The large and the smaller real tree, once each (both may be one tree in a quick run). */
const realTrees = (inp: TargetInputs) => (inp.locale!.path === inp.big!.path ? [inp.big!] : [inp.big!, inp.locale!]);
const settings = (b: Base, comp: string, extra: Partial<Settings> = {}): Settings => ({
  comp,
  blockSize: b.blockSize,
  jobs: b.jobs,
  report: true,
  ...extra,
});
const key = (c: Corpus, s: Settings) => JSON.stringify([c.path, s.comp, s.level ?? null, !!s.hc, s.blockSize, s.jobs]);

function needsOf(set: TargetSet, inp: TargetInputs, b: Base): Need[] {
  const has = (c: string) => b.comps.includes(c);
  switch (set) {
    case 'serial':
      return [
        ...SERIAL_COMPS.filter(has).flatMap((comp) =>
          realTrees(inp).flatMap((corpus) =>
            [1, 2].map((jobs) => ({ corpus, s: settings(b, comp, { jobs }), tools: OURS })),
          ),
        ),
        // The generated tree of many entries: its projection at 16 threads (--jobs 1 only).
        ...(inp.many ? MANY_COMPS.filter(has) : []).map((comp) => ({
          corpus: inp.many!,
          s: settings(b, comp, { jobs: 1 }),
          tools: OURS,
        })),
      ];
    case 'codecs':
      return [
        ...['zstd', 'xz'].filter(has).map((comp) => ({ corpus: inp.big!, s: settings(b, comp), tools: ALL })),
        ...(has('lz4') ? [settings(b, 'lz4'), settings(b, 'lz4', { hc: true })] : []).map((s) => ({
          corpus: inp.locale!,
          s,
          tools: ALL,
        })),
        ...(has('lzo') ? [{ corpus: inp.locale!, s: settings(b, 'lzo'), tools: ALL }] : []),
      ];
    case 'gzip9':
      return [{ corpus: inp.big!, s: settings(b, 'gzip', { level: 9 }), tools: ALL }];
    case 'tiny':
      return [];
    case 'rss':
      return [inp.big!, inp.smallFiles, inp.many]
        .filter((c): c is Corpus => !!c)
        .map((corpus) => ({ corpus, s: settings(b, 'gzip'), tools: ['casper-snapshot', 'mksquashfs'] as ToolName[] }));
    case 'efficiency':
      return ['gzip', 'zstd', 'xz']
        .filter(has)
        .map((comp) => ({ corpus: inp.big!, s: settings(b, comp), tools: OURS }));
  }
}

/** The groups the sets need, each once (the union of the tools every set asks of it), in the order first asked. */
export function planTargets(sets: TargetSet[], inp: TargetInputs, b: Base): Need[] {
  const byKey = new Map<string, Need>();
  for (const set of sets)
    for (const n of needsOf(set, inp, b)) {
      const k = key(n.corpus, n.s);
      const have = byKey.get(k);
      if (have) have.tools = ALL.filter((t) => have.tools.includes(t) || n.tools.includes(t));
      else byKey.set(k, { ...n, tools: [...n.tools] });
    }
  return [...byKey.values()];
}

// ---- the tiny job ---------------------------------------------------------------------------------------------

export interface TinyResult {
  method: string;
  runs: number;
  nodeS: number | null;
  oursS: number | null;
  command: string;
  profile?: OurProfile;
  oursRssKiB: number | null;
  nodeRssKiB: number | null;
}

/** A tiny job against a bare `node -e 0`, in the same run: hyperfine when installed, else interleaved runs. */
export async function runTiny(
  ours: Tool,
  src: string,
  outDir: string,
  s: Settings,
  runs: number,
  env: NodeJS.ProcessEnv,
): Promise<TinyResult> {
  const out = join(outDir, 'tiny.sqfs');
  const { cmd, args } = ours.argv(src, out, { ...s, report: false });
  const bare = [process.execPath, '-e', '0'];
  const command = ['node', ...args].join(' ');
  let nodeS: number | null = null;
  let oursS: number | null = null;
  let method: string;
  const hf = spawnSync('hyperfine', ['--version'], { encoding: 'utf8' });
  if (hf.status === 0) {
    method = `${hf.stdout.trim()}, -N, 3 warm-up runs, ${runs} runs each, medians`;
    const dir = mkdtempSync(join(outDir, 'hf-'));
    const quote = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
    const r = spawnSync(
      'hyperfine',
      [
        '-N',
        '--warmup',
        '3',
        '--runs',
        String(runs),
        '--style',
        'none',
        '--export-json',
        join(dir, 'h.json'),
        bare.map(quote).join(' '),
        [cmd, ...args].map(quote).join(' '),
      ],
      {
        encoding: 'utf8',
        env,
      },
    );
    if (r.status === 0 && existsSync(join(dir, 'h.json'))) {
      const j = JSON.parse(readFileSync(join(dir, 'h.json'), 'utf8')) as { results: { median: number }[] };
      [nodeS, oursS] = j.results.map((x) => x.median);
    } else log(`tiny: hyperfine failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' / ')}`);
    rmSync(dir, { recursive: true, force: true });
  } else {
    method = `interleaved runs (no hyperfine), ${runs} each after one warm-up, medians`;
    const a: number[] = [];
    const b: number[] = [];
    for (let i = 0; i <= runs; i++) {
      const x = await measure(bare[0], bare.slice(1), env);
      const y = await measure(cmd, args, env);
      if (i > 0 && x.exitCode === 0 && y.exitCode === 0) {
        a.push(x.wallS);
        b.push(y.wallS);
      }
    }
    [nodeS, oursS] = [median(a), median(b)];
  }
  // One more of each under the meter: our phase times (--json) and both peak RSS.
  const p = await measure(cmd, [...args, '--json'], env, { fullStdout: true });
  const n = await measure(bare[0], bare.slice(1), env);
  rmSync(out, { force: true });
  let profile: OurProfile | undefined;
  try {
    const j = JSON.parse(p.stdout) as {
      times: OurProfile['times'];
      pipeline: OurProfile['pipeline'];
      counts: { entries: number };
    };
    profile = { times: j.times, pipeline: j.pipeline, entries: j.counts.entries };
  } catch {
    /* a failed run: no profile */
  }
  log(`tiny: node -e 0 ${nodeS?.toFixed(3)} s, ours ${oursS?.toFixed(3)} s (${method})`);
  return { method, runs, nodeS, oursS, command, profile, oursRssKiB: p.maxRssKiB, nodeRssKiB: n.maxRssKiB };
}

// ---- judging ------------------------------------------------------------------------------------------------

const f2 = (x: number) => x.toFixed(2);
const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
const mib = (kib: number) => `${(kib / 1024).toFixed(0)} MiB`;

/** The timed run of a tool nearest its median wall time (its profile stands for the median). */
function medianRun(g: Group, tool: string): RunRecord | undefined {
  const s = g.summary.find((x) => x.tool === tool);
  const rs = g.runs.filter((r) => r.tool === tool && !r.warmup && r.exitCode === 0 && r.signal === null);
  if (!s?.wallS || !rs.length) return undefined;
  return rs.reduce((a, r) =>
    Math.abs(r.wallS - (s.wallS as number)) < Math.abs(a.wallS - (s.wallS as number)) ? r : a,
  );
}

export interface Shares {
  cpuS: number;
  mainS: number;
  writerS: number;
  /** CPU outside the data phase: start-up, walk, tables, commit, less the tables' compression that more threads share. */
  outsideS: number;
  /** The tables' metadata compression that more threads share (left out of outsideS). */
  tablesParallelS: number;
  /** Serial share of the CPU time: (outside + main + writer) / CPU; the main thread and the writer may overlap, so this bounds it from above. */
  f: number;
  /** CPU of a walk that ran beside the data phase (inside its CPU): at any thread count the run lasts at least this long past the serial part. */
  walkBesideS: number;
}

function sharesOf(r: RunRecord): Shares | null {
  const p = r.profile?.pipeline;
  if (
    !p ||
    r.cpuS === null ||
    p.cpuMs === undefined ||
    p.mainCpuMs === undefined ||
    p.mainCpuMs === null ||
    p.writerCpuMs === undefined
  )
    return null;
  const cpuS = r.cpuS;
  const mainS = p.mainCpuMs / 1000;
  const writerS = p.writerCpuMs / 1000;
  // The tables' metadata blocks are compressed on --jobs threads (all but each wave's longest block).
  const tablesParallelS = (r.profile?.tables?.parallelCpuMs ?? 0) / 1000;
  const outsideS = Math.max(0, cpuS - p.cpuMs / 1000 - tablesParallelS);
  const walkBesideS = r.profile?.walk?.besideData ? r.profile.walk.cpuMs / 1000 : 0;
  const f = Math.min(1, (outsideS + mainS + writerS) / cpuS);
  return { cpuS, mainS, writerS, outsideS, tablesParallelS, f, walkBesideS };
}

/** Amdahl's law: the efficiency (speedup / n) at n threads with serial share f. */
export const amdahlEfficiency = (f: number, n: number) => 1 / (n * f + 1 - f);

/**
 * Amdahl's law with a floor: a walk beside the data phase is one thread's chain, so at n threads the run takes
 * the serial part plus the longer of (the rest spread over n) and (the walk). Without such a walk: Amdahl.
 */
export function projectedEfficiency(sh: Shares, n: number): number {
  const serial = sh.f * sh.cpuS;
  const tn = serial + Math.max(sh.walkBesideS, (sh.cpuS - serial) / n);
  return sh.cpuS / (n * tn);
}

/** Where our run's time went: the job's phase clock, the pipeline's figures, CPU and RSS. */
export function profileText(r: RunRecord | undefined, jobs: number): string {
  if (!r) return 'no successful run of ours';
  const t = r.profile?.times;
  const p = r.profile?.pipeline;
  const parts: string[] = [];
  if (t) {
    const startup = r.wallS - t.total / 1000;
    const w = r.profile?.walk;
    // Beside the data phase the walk is inside its time: times.walk is only what came before the data phase.
    const walk = w?.besideData
      ? `before the data ${f2(t.walk / 1000)} + data (the walk beside it: ${f2(w.wallMs / 1000)} s wall, ${f2(w.cpuMs / 1000)} s CPU)`
      : `walk ${f2(t.walk / 1000)} + data`;
    parts.push(
      `wall ${f2(r.wallS)} s = start-up and exit ${f2(startup)} + ${walk} ${f2(t.data / 1000)} + tables ${f2(t.tables / 1000)} + commit ${f2(t.commit / 1000)} s`,
    );
  } else parts.push(`wall ${f2(r.wallS)} s (no phase times: the run printed no report)`);
  if (p && t && p.cpuMs !== undefined) {
    const busy = p.cpuMs / Math.max(t.data, 1e-3) / jobs;
    parts.push(
      `data phase: CPU ${f2(p.cpuMs / 1000)} s on ${jobs} job(s) (${pct(busy)} of ${jobs} cores busy), main thread ${f2((p.mainCpuMs ?? NaN) / 1000)} s CPU (waited ${f2(p.waitMs / 1000)} s), writer ${f2((p.writerCpuMs ?? NaN) / 1000)} s CPU (lock held ${f2((p.writerHeldMs ?? NaN) / 1000)} s), ${p.tasks} tasks, ${p.fragments} fragment blocks`,
    );
  }
  if (r.cpuS !== null) parts.push(`process CPU ${f2(r.cpuS)} s (user ${f2(r.userS ?? NaN)}, sys ${f2(r.sysS ?? NaN)})`);
  if (r.maxRssKiB !== null) parts.push(`peak RSS ${mib(r.maxRssKiB)}`);
  if (r.otherCpuS !== null && r.otherCpuS > 0.5)
    parts.push(`other processes used ${f2(r.otherCpuS)} s CPU meanwhile (noise)`);
  return parts.join('; ');
}

/** What would bring our wall time to `goalS`: the cut, and whether a fully busy data phase would do. */
function closeWall(r: RunRecord | undefined, goalS: number, jobs: number, peer?: ToolSummary): string {
  if (!r) return 'rerun: no successful run of ours';
  const cut = r.wallS - goalS;
  const out = [`our wall must drop to ${f2(goalS)} s (−${f2(cut)} s, ${pct(cut / r.wallS)})`];
  const t = r.profile?.times;
  const p = r.profile?.pipeline;
  if (t && p?.cpuMs !== undefined) {
    const ideal = r.wallS - t.data / 1000 + p.cpuMs / 1000 / jobs;
    if (ideal <= goalS)
      out.push(
        `a data phase keeping all ${jobs} cores busy (${f2(p.cpuMs / 1000 / jobs)} s instead of ${f2(t.data / 1000)} s) would reach it: shorten the writer's locked work and the phase's ramp-up and tail`,
      );
    else
      out.push(
        `even a data phase keeping all ${jobs} cores busy leaves ${f2(ideal)} s: the other ${f2(ideal - goalS)} s must come from less CPU — serial work (start-up and exit ${f2(r.wallS - t.total / 1000)} s, walk ${f2(t.walk / 1000)} s, tables ${f2(t.tables / 1000)} s, commit ${f2(t.commit / 1000)} s) or ${f2((ideal - goalS) * jobs)} s of the data phase's CPU (less codec work for the same bytes, e.g. incompressible blocks)${peer?.cpuS != null && r.cpuS !== null ? `; CPU now: ours ${f2(r.cpuS)} s, ${peer.tool} ${f2(peer.cpuS)} s` : ''}`,
      );
  }
  return out.join('; ');
}

export interface Judge {
  find(corpus: Corpus, s: Settings): Group | undefined;
  inputs: TargetInputs;
  base: Base;
  tiny?: TinyResult;
}

function lineOf(
  set: TargetSet,
  what: string,
  goal: string,
  value: number | null,
  ok: (v: number) => boolean,
  measured: (v: number) => string,
  miss?: () => Pick<TargetLine, 'profile' | 'close'>,
): TargetLine {
  if (value === null || !Number.isFinite(value))
    return { set, what, goal, measured: 'not measured (see notes)', verdict: 'n/a' };
  const pass = ok(value);
  return {
    set,
    what,
    goal,
    measured: measured(value),
    verdict: pass ? 'PASS' : 'MISS',
    ...(pass || !miss ? {} : miss()),
  };
}

const sum = (g: Group | undefined, tool: string) => g?.summary.find((x) => x.tool === tool);
const ratioOf = (g: Group | undefined, peer: string) => g?.ratios.find((x) => x.peer === peer);
const short = (c: Corpus) =>
  c.kind === 'generated'
    ? `${c.name} (generated, ${c.stats.files + c.stats.dirs + c.stats.symlinks + c.stats.other} entries)`
    : c.name;

function throughputLine(set: TargetSet, j: Judge, corpus: Corpus, s: Settings, peer: string, goal: number): TargetLine {
  const g = j.find(corpus, s);
  const r = ratioOf(g, peer);
  const ours = g && medianRun(g, 'casper-snapshot');
  const p = sum(g, peer);
  return lineOf(
    set,
    `${compLabel(s)}${s.level !== undefined ? ` level ${s.level}` : ''} on ${short(corpus)}: throughput vs ${peer}`,
    `≥ ${f2(goal)}×`,
    r?.throughput ?? null,
    (v) => v >= goal,
    (v) => `${v.toFixed(3)}× (ours ${f2(sum(g, 'casper-snapshot')?.wallS ?? NaN)} s, ${peer} ${f2(p?.wallS ?? NaN)} s)`,
    () => ({ profile: profileText(ours, s.jobs), close: closeWall(ours, (p?.wallS ?? NaN) / goal, s.jobs, p) }),
  );
}

/** The 16-thread efficiency the issue asks of each codec: lz4's serial start-up and exit weigh most against its speed. */
const projectionGoal = (comp: string) => (comp === 'lz4' ? 0.6 : 0.85);

/** The serial share at --jobs 1 and what it allows at 16 threads (projectedEfficiency). */
function projectionLine(
  set: TargetSet,
  comp: string,
  corpus: Corpus,
  r1: RunRecord | undefined,
  sh: Shares | null,
): TargetLine {
  const goal = projectionGoal(comp);
  // Efficiency e at 16 threads allows a serial share f = (1/e - 1) / 15.
  const fMax = (1 / goal - 1) / 15;
  const beside = sh && sh.walkBesideS > 0;
  return lineOf(
    set,
    `${comp} on ${short(corpus)}: serial share at --jobs 1 → Amdahl efficiency at 16 threads`,
    `≥ ${(goal * 100).toFixed(0)} %`,
    sh ? projectedEfficiency(sh, 16) : null,
    (v) => v >= goal,
    (v) =>
      `${pct(v)} (of ${f2(sh?.cpuS ?? NaN)} s CPU: main thread ${pct((sh?.mainS ?? NaN) / (sh?.cpuS ?? NaN))}, writer ${pct((sh?.writerS ?? NaN) / (sh?.cpuS ?? NaN))}, outside the data phase ${pct((sh?.outsideS ?? NaN) / (sh?.cpuS ?? NaN))} (less ${f2(sh?.tablesParallelS ?? NaN)} s of table compression on the pool); f = ${pct(sh?.f ?? NaN)}${beside ? `; the walk beside the data phase ${f2(sh.walkBesideS)} s CPU, a floor at any thread count` : ''})`,
    () => ({
      profile: profileText(r1, 1),
      close: `${(goal * 100).toFixed(0)} % at 16 threads needs f ≤ ${pct(fMax)}, i.e. ≤ ${f2((sh?.cpuS ?? NaN) * fMax)} s of serial CPU (now ${f2((sh?.f ?? NaN) * (sh?.cpuS ?? NaN))} s: outside the data phase ${f2(sh?.outsideS ?? NaN)} s — start-up, ${beside ? '' : 'walk, '}tables, commit —, main thread ${f2(sh?.mainS ?? NaN)} s, writer ${f2(sh?.writerS ?? NaN)} s)${beside ? `, and a walk no longer than the rest spread over 16 threads, ${f2((sh.cpuS * (1 - sh.f)) / 16)} s (now ${f2(sh.walkBesideS)} s; longer: a parallel walk)` : ''}: ${beside ? '' : 'overlap the walk with the data phase, '}write the tables while the last data is in flight, cut start-up and exit, and split the writer's locked work (duplicate checks, fragment packing, writes)`,
    }),
  );
}

function judgeSet(set: TargetSet, j: Judge): TargetLine[] {
  const { inputs: inp, base: b } = j;
  const lines: TargetLine[] = [];
  const has = (c: string) => b.comps.includes(c);
  const s = (comp: string, extra: Partial<Settings> = {}) => settings(b, comp, extra);
  switch (set) {
    case 'serial':
      for (const corpus of realTrees(inp))
        for (const comp of SERIAL_COMPS.filter(has)) {
          const g1 = j.find(corpus, s(comp, { jobs: 1 }));
          const g2 = j.find(corpus, s(comp, { jobs: 2 }));
          const w1 = sum(g1, 'casper-snapshot')?.wallS ?? null;
          const w2 = sum(g2, 'casper-snapshot')?.wallS ?? null;
          const r1 = g1 && medianRun(g1, 'casper-snapshot');
          const r2 = g2 && medianRun(g2, 'casper-snapshot');
          const sh = r1 ? sharesOf(r1) : null;
          lines.push(
            lineOf(
              set,
              `${comp} on ${short(corpus)}: --jobs 2 vs --jobs 1 throughput`,
              '≥ 1.80×',
              w1 !== null && w2 !== null ? w1 / w2 : null,
              (v) => v >= 1.8,
              (v) => `${v.toFixed(3)}× (${f2(w1 as number)} s → ${f2(w2 as number)} s)`,
              () => ({
                profile: `--jobs 2: ${profileText(r2, 2)}. --jobs 1: ${profileText(r1, 1)}`,
                close:
                  (sh
                    ? `with the serial share f = ${pct(sh.f)} measured at --jobs 1, Amdahl allows ${f2(2 / (1 + sh.f))}× at 2 jobs; `
                    : '') +
                  `2 jobs must finish in ${f2((w1 ?? NaN) / 1.8)} s (now ${f2(w2 ?? NaN)} s): the data phase at --jobs 2 must keep both cores busy (see its busy share and the main thread's wait)`,
              }),
            ),
          );
          lines.push(projectionLine(set, comp, corpus, r1, sh));
          const d1 = g1?.ourDigest;
          const d2 = g2?.ourDigest;
          lines.push({
            set,
            what: `${comp} on ${short(corpus)}: image identical at --jobs 1 and --jobs 2`,
            goal: 'same bytes',
            measured:
              d1 && d2
                ? d1 === d2
                  ? `same sha256 ${d1.slice(0, 12)}…`
                  : `differ: ${d1.slice(0, 12)}… vs ${d2.slice(0, 12)}…`
                : 'not measured (see notes)',
            verdict: d1 && d2 ? (d1 === d2 ? 'PASS' : 'MISS') : 'n/a',
          });
        }
      if (inp.many)
        for (const comp of MANY_COMPS.filter(has)) {
          const g1 = j.find(inp.many, s(comp, { jobs: 1 }));
          const r1 = g1 && medianRun(g1, 'casper-snapshot');
          lines.push(projectionLine(set, comp, inp.many, r1, r1 ? sharesOf(r1) : null));
        }
      break;
    case 'codecs':
      for (const comp of ['zstd', 'xz'].filter(has)) {
        const st = s(comp);
        lines.push(throughputLine(set, j, inp.big!, st, 'mksquashfs', 1.25));
        lines.push(throughputLine(set, j, inp.big!, st, 'gensquashfs', 1.15));
        const g = j.find(inp.big!, st);
        const r = ratioOf(g, 'mksquashfs');
        lines.push(
          lineOf(
            set,
            `${comp} on ${short(inp.big!)}: image size vs mksquashfs`,
            '≤ 1.002×',
            r?.size ?? null,
            (v) => v <= 1.002,
            (v) =>
              `${v.toFixed(4)}× (${sum(g, 'casper-snapshot')?.imageBytes} vs ${sum(g, 'mksquashfs')?.imageBytes} bytes)`,
            () => ({
              close: `our image must lose ${(((r?.size ?? 1) - 1.002) * (sum(g, 'mksquashfs')?.imageBytes ?? NaN)).toFixed(0)} bytes: compare block by block where ours is larger (level and options per block)`,
            }),
          ),
        );
      }
      for (const st of [...(has('lz4') ? [s('lz4'), s('lz4', { hc: true })] : []), ...(has('lzo') ? [s('lzo')] : [])]) {
        lines.push(throughputLine(set, j, inp.locale!, st, 'mksquashfs', 1.2));
        const r = ratioOf(j.find(inp.locale!, st), 'gensquashfs');
        lines.push({
          set,
          what: `${compLabel(st)} on ${short(inp.locale!)}: throughput vs gensquashfs`,
          goal: '(for information)',
          measured: r?.throughput != null ? `${r.throughput.toFixed(3)}×` : 'not measured',
          verdict: 'info',
        });
      }
      break;
    case 'gzip9': {
      const st = s('gzip', { level: 9 });
      lines.push(throughputLine(set, j, inp.big!, st, 'mksquashfs', 1.5));
      const r = ratioOf(j.find(inp.big!, st), 'gensquashfs');
      lines.push({
        set,
        what: `gzip level 9 on ${short(inp.big!)}: throughput vs gensquashfs`,
        goal: '(for information)',
        measured: r?.throughput != null ? `${r.throughput.toFixed(3)}×` : 'not measured',
        verdict: 'info',
      });
      break;
    }
    case 'tiny': {
      const t = j.tiny;
      const pr = t?.profile;
      lines.push(
        lineOf(
          set,
          `--source ${inp.tiny}: wall vs a bare \`node -e 0\``,
          '≤ 1.60×',
          t?.oursS != null && t.nodeS ? t.oursS / t.nodeS : null,
          (v) => v <= 1.6,
          (v) =>
            `${v.toFixed(3)}× (${((t?.oursS ?? NaN) * 1000).toFixed(0)} ms vs ${((t?.nodeS ?? NaN) * 1000).toFixed(0)} ms; ${t?.method})`,
          () => {
            const jobMs = pr ? pr.times.total : NaN;
            const startMs = (t?.oursS ?? NaN) * 1000 - jobMs;
            return {
              profile: pr
                ? `the job's own clock ${jobMs.toFixed(0)} ms (walk ${pr.times.walk.toFixed(0)}, data ${pr.times.data.toFixed(0)}, tables ${pr.times.tables.toFixed(0)}, commit ${pr.times.commit.toFixed(0)} ms); start-up and exit around it ≈ ${startMs.toFixed(0)} ms, of which a bare node is ${((t?.nodeS ?? NaN) * 1000).toFixed(0)} ms; peak RSS ${t?.oursRssKiB ? mib(t.oursRssKiB) : '?'} vs ${t?.nodeRssKiB ? mib(t.nodeRssKiB) : '?'}`
                : 'no profile (the --json run failed)',
              close: `cut ${((t?.oursS ?? NaN) * 1000 - 1.6 * (t?.nodeS ?? NaN) * 1000).toFixed(0)} ms: load fewer modules before the job starts (the start-up beyond a bare node is ≈ ${(startMs - (t?.nodeS ?? NaN) * 1000).toFixed(0)} ms) and shorten the job's fixed steps (commit ${pr?.times.commit.toFixed(0) ?? '?'} ms)`,
            };
          },
        ),
      );
      break;
    }
    case 'rss':
      for (const corpus of [inp.big!, inp.smallFiles, inp.many]) {
        if (!corpus) continue;
        const g = j.find(corpus, s('gzip'));
        const ours = sum(g, 'casper-snapshot');
        const mk = sum(g, 'mksquashfs');
        const entries = corpus.stats.files + corpus.stats.dirs + corpus.stats.symlinks + corpus.stats.other;
        const perEntry = (kib: number | null | undefined) =>
          kib ? `${((kib * 1024) / entries).toFixed(0)} B/entry` : '?';
        const isMany = corpus === inp.many;
        const goal = isMany ? 1 : 0.75;
        lines.push(
          lineOf(
            set,
            `gzip on ${short(corpus)}: peak RSS${isMany ? ' per entry' : ''} vs mksquashfs`,
            isMany ? '≤ 1.00× (bytes per entry)' : '≤ 0.75×',
            ratioOf(g, 'mksquashfs')?.rss ?? null,
            (v) => v <= goal,
            (v) =>
              `${v.toFixed(3)}× (ours ${mib(ours?.maxRssKiB ?? NaN)}, ${perEntry(ours?.maxRssKiB)}; mksquashfs ${mib(mk?.maxRssKiB ?? NaN)}, ${perEntry(mk?.maxRssKiB)})`,
            () => ({
              profile: profileText(g && medianRun(g, 'casper-snapshot'), b.jobs),
              close: `peak RSS must drop to ${mib(goal * (mk?.maxRssKiB ?? NaN))} (−${mib((ours?.maxRssKiB ?? NaN) - goal * (mk?.maxRssKiB ?? NaN))}${isMany ? `, ${((((ours?.maxRssKiB ?? NaN) - (mk?.maxRssKiB ?? NaN)) * 1024) / entries).toFixed(0)} B per entry` : ''}): fewer or lighter isolates (each worker thread is a V8 isolate), compact per-entry records in the native tree, walk-only data released before the data phase`,
            }),
          ),
        );
      }
      break;
    case 'efficiency':
      for (const comp of ['gzip', 'zstd', 'xz'].filter(has)) {
        const st = s(comp);
        const g = j.find(inp.big!, st);
        const o = sum(g, 'casper-snapshot');
        const r = g && medianRun(g, 'casper-snapshot');
        const ideal = o?.cpuS != null ? o.cpuS / st.jobs : null;
        lines.push(
          lineOf(
            set,
            `${comp} on ${short(inp.big!)}, ${st.jobs} jobs: wall vs CPU ÷ jobs`,
            '≤ 1.10×',
            o?.wallS != null && ideal ? o.wallS / ideal : null,
            (v) => v <= 1.1,
            (v) =>
              `${v.toFixed(3)}× (wall ${f2(o?.wallS ?? NaN)} s, CPU ${f2(o?.cpuS ?? NaN)} s ÷ ${st.jobs} = ${f2(ideal ?? NaN)} s)`,
            () => ({ profile: profileText(r, st.jobs), close: closeWall(r, 1.1 * (ideal ?? NaN), st.jobs) }),
          ),
        );
      }
      break;
  }
  return lines;
}

export function judgeTargets(sets: TargetSet[], j: Judge): TargetLine[] {
  return sets.flatMap((set) => judgeSet(set, j));
}

/** --targets LIST: "all" or a comma list of the sets. */
export function parseTargets(v: string): TargetSet[] | string {
  const names = v
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
  if (names.includes('all')) return [...TARGET_SETS];
  for (const n of names)
    if (!(TARGET_SETS as readonly string[]).includes(n))
      return `unknown target set '${n}' (one of ${TARGET_SETS.join(', ')}, or all)`;
  return names.length ? (names as TargetSet[]) : `--targets needs one of ${TARGET_SETS.join(', ')}, or all`;
}

export { key as needKey };
