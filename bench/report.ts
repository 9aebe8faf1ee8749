// Results: medians and ratios from the raw runs, the JSON document, and the markdown tables.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Corpus } from './corpora.js';
import { median } from './measure.js';
import { compLabel, type DiffResult, type Level, type Settings } from './tools.js';
import { eventLoopMarkdown, type EventLoopResult } from './event-loop.js';

/** What one run measured; a summary holds the medians of the same fields. */
export interface Measures {
  userS: number | null;
  sysS: number | null;
  cpuS: number | null;
  maxRssKiB: number | null;
  imageBytes: number | null;
  /** CPU seconds that other processes used during the run (machine busy time minus ours): 0 on a quiet machine. */
  otherCpuS: number | null;
}

/** Where our run's time went, from its --json report (--targets runs only). */
export interface OurProfile {
  /** Milliseconds per phase (walk, data, tables, verify, commit) and in all, from the job's own clock. */
  times: { walk: number; data: number; tables: number; verify: number; commit: number; total: number };
  /** The data pipeline's figures: tasks, fragments, waitMs, cpuMs, mainCpuMs, writerCpuMs, writerHeldMs. */
  pipeline: {
    tasks: number;
    fragments: number;
    waitMs: number;
    cpuMs?: number;
    mainCpuMs?: number | null;
    writerCpuMs?: number;
    writerHeldMs?: number;
  };
  entries: number;
  /** The walk's own time (absent from older builds); besideData: it ran beside the data phase (overlapped). */
  walk?: { besideData: boolean; wallMs: number; cpuMs: number };
  /** The table phase's metadata compression (absent from older builds): CPU ms more threads share. */
  tables?: {
    metadataBlocks: number;
    metadataWaves: number;
    compressCpuMs: number;
    serialCpuMs: number;
    parallelCpuMs?: number;
  };
}

export interface RunRecord extends Measures {
  tool: string;
  /** 0 for the warm-up run (not in the medians), then 1..reps. */
  rep: number;
  warmup: boolean;
  wallS: number;
  exitCode: number;
  signal: string | null;
  command: string;
  /** stderr (and stdout) tail, verbatim, when the run failed or printed to stderr. */
  output?: string;
  /** casper-snapshot with Settings.report: its phase times and pipeline figures. */
  profile?: OurProfile;
}

export interface ToolSummary extends Measures {
  tool: string;
  level: Level;
  runs: number;
  failures: number;
  wallS: number | null;
  /** Input MiB per second of median wall time. */
  throughputMiBs: number | null;
}

export interface Ratio {
  peer: string;
  /** peer wall / our wall: above 1, casper-snapshot is faster. */
  throughput: number | null;
  /** our image size / peer's: below 1, ours is smaller. */
  size: number | null;
  /** our CPU time / peer's. */
  cpu: number | null;
  /** our peak RSS / peer's. */
  rss: number | null;
  sqfsdiff: DiffResult | null;
  /** Our differences from this peer are exactly the other peer's differences from it (see Group.reference). */
  sameAsReference?: boolean;
}

export interface Group {
  corpus: string;
  inputBytes: number;
  settings: Settings;
  tools: string[];
  runs: RunRecord[];
  summary: ToolSummary[];
  ratios: Ratio[];
  /** sqfsdiff between the two peers, so a difference of ours can be told from one between the peers. */
  reference: DiffResult | null;
  notes: string[];
  /** sha256 of our image of the last rep (--targets: the same image for any --jobs). */
  ourDigest?: string;
}

export interface ScalingPoint {
  jobs: number;
  wallS: number | null;
  speedup: number | null;
  efficiency: number | null;
}

export interface Scaling {
  corpus: string;
  comp: string;
  tool: string;
  points: ScalingPoint[];
}

/** One target of --targets: what was compared, the goal, the figure, the verdict, and for a miss, why. */
export interface TargetLine {
  /** The option set it belongs to: serial, codecs, gzip9, tiny, rss, efficiency. */
  set: string;
  what: string;
  goal: string;
  measured: string;
  /** n/a: not measured (a tool or a run missing; see notes). */
  verdict: 'PASS' | 'MISS' | 'n/a' | 'info';
  /** For a miss: where our run's time (or memory) went. */
  profile?: string;
  /** For a miss: what would close it, from the figures. */
  close?: string;
}

export interface Results {
  schema: 1;
  startedAt: string;
  finishedAt: string;
  machine: Record<string, unknown>;
  node: string;
  tools: { name: string; version: string; available: true | string; compressors: string[] }[];
  options: Record<string, unknown>;
  method: Record<string, unknown>;
  corpora: Corpus[];
  groups: Group[];
  scaling: Scaling[];
  notes: string[];
  /** --targets: the target lines, in the order of the option sets asked for. */
  targets?: TargetLine[];
  /** --event-loop: the caller's event-loop delay during library snapshots. */
  eventLoop?: EventLoopResult;
}

const MiB = 1024 * 1024;

function ok(r: RunRecord): boolean {
  return !r.warmup && r.exitCode === 0 && r.signal === null;
}

function med(rs: RunRecord[], f: (r: RunRecord) => number | null): number | null {
  const xs = rs.map(f).filter((x): x is number => x !== null);
  return xs.length === rs.length ? median(xs) : null;
}

export function summarize(tool: string, level: Level, runs: RunRecord[], inputBytes: number): ToolSummary {
  const mine = runs.filter((r) => r.tool === tool && !r.warmup);
  const good = mine.filter(ok);
  const wallS = median(good.map((r) => r.wallS));
  return {
    tool,
    level,
    runs: good.length,
    failures: mine.length - good.length,
    wallS,
    userS: med(good, (r) => r.userS),
    sysS: med(good, (r) => r.sysS),
    cpuS: med(good, (r) => r.cpuS),
    maxRssKiB: med(good, (r) => r.maxRssKiB),
    imageBytes: med(good, (r) => r.imageBytes),
    otherCpuS: med(good, (r) => r.otherCpuS),
    throughputMiBs: wallS ? inputBytes / MiB / wallS : null,
  };
}

const div = (a: number | null, b: number | null) => (a !== null && b !== null && b !== 0 ? a / b : null);

export function ratio(ours: ToolSummary, peer: ToolSummary, diff: DiffResult | null): Ratio {
  return {
    peer: peer.tool,
    throughput: div(peer.wallS, ours.wallS),
    size: div(ours.imageBytes, peer.imageBytes),
    cpu: div(ours.cpuS, peer.cpuS),
    rss: div(ours.maxRssKiB, peer.maxRssKiB),
    sqfsdiff: diff,
  };
}

export function scalingOf(groups: Group[]): Scaling[] {
  const out: Scaling[] = [];
  const keys = new Set(groups.map((g) => `${g.corpus}\0${compLabel(g.settings)}`));
  for (const key of keys) {
    const [corpus, comp] = key.split('\0');
    const gs = groups
      .filter((g) => g.corpus === corpus && compLabel(g.settings) === comp)
      .sort((a, b) => a.settings.jobs - b.settings.jobs);
    for (const tool of gs[0].tools) {
      const walls = gs.map((g) => ({
        jobs: g.settings.jobs,
        wallS: g.summary.find((s) => s.tool === tool)?.wallS ?? null,
      }));
      const base = walls.find((w) => w.jobs === 1)?.wallS ?? null;
      out.push({
        corpus,
        comp,
        tool,
        points: walls.map((w) => {
          const speedup = div(base, w.wallS);
          return { jobs: w.jobs, wallS: w.wallS, speedup, efficiency: speedup === null ? null : speedup / w.jobs };
        }),
      });
    }
  }
  return out;
}

// ---- rendering ------------------------------------------------------------------------------------------

const fmt = (x: number | null, d = 2) => (x === null ? '—' : x.toFixed(d));
const mib = (b: number | null, d = 1) => (b === null ? '—' : (b / MiB).toFixed(d));

function table(head: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [
    line(head),
    line(
      head.map((h) =>
        /^(corpus|tool|peer|comp|level|sqfsdiff|set|target|goal|measured|verdict)/.test(h) ? '---' : '---:',
      ),
    ),
    ...rows.map(line),
  ].join('\n');
}

function levelText(l: Level): string {
  return l.level === null ? `— (${l.source})` : l.source === 'forced' ? `${l.level} (forced)` : String(l.level);
}

export function diffText(d: DiffResult | null, sameAsReference?: boolean): string {
  if (!d) return 'not run';
  if (d.exitCode === null) return 'not run (no sqfsdiff)';
  if (d.pass) return 'pass (exit 0)';
  // The same tree, each inode in the basic or the extended form: a harmless difference of encoding.
  if (d.inodeFormOnly)
    return `same tree (exit ${d.exitCode}: ${d.differences} inodes stored in the other basic/extended form)`;
  const first = d.output.split('\n')[0] ?? '';
  return `**FAIL** (exit ${d.exitCode}, ${d.differences} lines; first: \`${first.replace(/\|/g, '\\|').replace(/`/g, "'")}\`${sameAsReference ? '; same report as mksquashfs vs this peer' : ''})`;
}

function corpusLabel(g: Group, corpora: Corpus[]): string {
  const c = corpora.find((x) => x.name === g.corpus);
  return c && c.kind === 'generated' ? `${g.corpus} (generated)` : g.corpus;
}

export function markdown(r: Results): string {
  const out: string[] = [];
  const m = r.machine;
  out.push(`# casper-snapshot benchmark, ${r.startedAt}`);
  out.push('');
  out.push(`- Machine: ${m.cpu}, ${m.cores} cores, ${m.memGiB} GiB RAM, ${m.os}, kernel ${m.kernel}; node ${r.node}`);
  out.push(`- Work directory: ${m.workdir} (${m.workdirFs})`);
  for (const t of r.tools) out.push(`- ${t.name}: ${t.available === true ? t.version : `not run: ${t.available}`}`);
  const o = r.options;
  out.push(
    `- Settings: block size ${o.blockSize}, jobs ${(o.jobsList as number[]).join(', ') || '—'}, levels ${typeof o.level === 'number' ? `forced to ${o.level}` : o.level === 'own' ? "each tool's own default (not matched)" : "matched (mksquashfs's default)"}, ${o.reps} rep(s) per tool interleaved (A B C A B C …) after ${o.warmups ?? 1} warm-up run(s) per tool, medians reported; SOURCE_DATE_EPOCH=${o.sourceDateEpoch}; warm page cache (not dropped between runs); \`sync\` before each run, outside the timing`,
  );
  out.push(`- CPU/RSS meter: ${r.method.meter}; wall time measured by the harness around the child`);
  if (r.options.command) out.push(`- Command: \`${r.options.command}\``);
  out.push('');
  out.push(...headlineMarkdown(r));
  if (r.targets) out.push(...targetsMarkdown(r.targets));
  if (r.eventLoop) out.push(...eventLoopMarkdown(r.eventLoop));
  if (r.groups.length) out.push(...groupTables(r));
  out.push(...notesMarkdown(r));
  return out.join('\n') + '\n';
}

/** Whether every tool of a group compresses at the same level (or the compressor has none anywhere). */
export function levelMatched(g: Group): boolean {
  const levels = new Set(g.summary.map((s) => s.level.level).filter((l) => l !== null));
  return levels.size <= 1;
}

/** The figures to lead with: throughput and size against mksquashfs, level-matched groups first. */
function headlineMarkdown(r: Results): string[] {
  const rows: string[][] = [];
  const sorted = [...r.groups].sort((a, b) => Number(levelMatched(b)) - Number(levelMatched(a)));
  for (const g of sorted) {
    const x = g.ratios.find((q) => q.peer === 'mksquashfs');
    if (!x) continue;
    const levels = g.summary
      .map((s) => `${s.tool.replace('casper-snapshot', 'ours')} ${s.level.level ?? '—'}`)
      .join(', ');
    rows.push([
      corpusLabel(g, r.corpora),
      compLabel(g.settings),
      String(g.settings.jobs),
      levelMatched(g) ? `matched (${g.summary[0].level.level ?? 'none'})` : `**not matched**: ${levels}`,
      fmt(x.throughput, 2) + '×',
      fmt(x.size, 4) + '×',
    ]);
  }
  if (!rows.length) return [];
  return [
    '## Headline: casper-snapshot against mksquashfs',
    '',
    'Same input, compressor, block size and threads; level-matched rows first (the level column says when they are not).',
    '',
    table(['corpus', 'comp', 'jobs', 'level', 'throughput ×', 'image size ×'], rows),
    '',
  ];
}

function groupTables(r: Results): string[] {
  const out: string[] = [];
  out.push('## Results (medians)');
  out.push('');
  const rows: string[][] = [];
  for (const g of r.groups)
    for (const s of g.summary)
      rows.push([
        corpusLabel(g, r.corpora),
        mib(g.inputBytes),
        compLabel(g.settings),
        String(g.settings.jobs),
        s.tool,
        levelText(s.level),
        fmt(s.wallS),
        fmt(s.cpuS),
        mib(s.maxRssKiB === null ? null : s.maxRssKiB * 1024, 0),
        mib(s.imageBytes, 2),
        fmt(s.throughputMiBs, 1),
        fmt(s.otherCpuS, 1),
        s.failures ? `${s.runs} ok, ${s.failures} failed` : String(s.runs),
      ]);
  out.push(
    table(
      [
        'corpus',
        'input MiB',
        'comp',
        'jobs',
        'tool',
        'level',
        'wall s',
        'CPU s',
        'peak RSS MiB',
        'image MiB',
        'MiB/s',
        'other CPU s',
        'runs',
      ],
      rows,
    ),
  );
  out.push('');
  out.push(
    "`other CPU s`: CPU time that other processes on the machine used while the tool ran (from /proc/stat, the tool's own CPU time subtracted); well above 0, the machine was not quiet and wall times are inflated.",
  );
  out.push('');
  const rrows: string[][] = [];
  for (const g of r.groups) {
    for (const x of g.ratios)
      rrows.push([
        corpusLabel(g, r.corpora),
        compLabel(g.settings),
        String(g.settings.jobs),
        x.peer,
        fmt(x.throughput, 3),
        fmt(x.size, 4),
        fmt(x.cpu, 3),
        fmt(x.rss, 3),
        diffText(x.sqfsdiff, x.sameAsReference),
      ]);
    if (g.reference)
      rrows.push([
        corpusLabel(g, r.corpora),
        compLabel(g.settings),
        String(g.settings.jobs),
        `(reference: ${g.reference.a.split('/').pop()} vs ${g.reference.b.split('/').pop()})`,
        '',
        '',
        '',
        '',
        diffText(g.reference),
      ]);
  }
  // No peer ran (a run of ours alone): no ratio table.
  if (rrows.length) {
    out.push('## casper-snapshot against each peer');
    out.push('');
    out.push(
      'Throughput ratio = peer wall / our wall (above 1: we are faster). Size ratio = our image / peer image (below 1: ours is smaller). CPU and RSS ratios are ours / peer.',
    );
    out.push('');
    out.push(
      table(
        ['corpus', 'comp', 'jobs', 'peer', 'throughput ×', 'size ×', 'CPU ×', 'RSS ×', 'sqfsdiff -a ours -b peer'],
        rrows,
      ),
    );
  }
  if (r.scaling.length && (r.options.jobsList as number[]).length > 1) {
    out.push('');
    out.push('## Scaling');
    out.push('');
    out.push('Speedup = wall at 1 job / wall at N jobs; efficiency = speedup / N.');
    out.push('');
    const srows: string[][] = [];
    for (const s of r.scaling)
      for (const p of s.points)
        srows.push([s.corpus, s.comp, s.tool, String(p.jobs), fmt(p.wallS), fmt(p.speedup), fmt(p.efficiency)]);
    out.push(table(['corpus', 'comp', 'tool', 'jobs', 'wall s', 'speedup', 'efficiency'], srows));
  }
  return out;
}

function notesMarkdown(r: Results): string[] {
  const out: string[] = [];
  const failures = r.groups.flatMap((g) =>
    g.runs.filter((x) => x.exitCode !== 0 || x.signal !== null).map((x) => ({ g, x })),
  );
  const diffs = r.groups.flatMap((g) =>
    [...g.ratios.map((x) => ({ d: x.sqfsdiff, same: x.sameAsReference ?? false })), { d: g.reference, same: false }]
      .filter((x): x is { d: DiffResult; same: boolean } => !!x.d && !x.d.pass && x.d.exitCode !== null)
      .map((x) => ({ g, ...x })),
  );
  const notes = [
    ...r.notes,
    ...r.groups.flatMap((g) =>
      g.notes.map((n) => `${g.corpus}, ${compLabel(g.settings)}, jobs ${g.settings.jobs}: ${n}`),
    ),
  ];
  if (notes.length || failures.length || diffs.length) {
    out.push('');
    out.push('## Notes and errors');
    for (const n of notes) out.push(`- ${n}`);
    for (const { g, x } of failures) {
      out.push(
        `- ${x.tool} failed on ${g.corpus} (${compLabel(g.settings)}, jobs ${g.settings.jobs}, ${x.warmup ? 'warm-up' : `rep ${x.rep}`}): exit ${x.exitCode}${x.signal ? `, signal ${x.signal}` : ''}; \`${x.command}\``,
      );
      out.push('');
      out.push('  ```');
      for (const l of (x.output ?? '').trim().split('\n').slice(-20)) out.push(`  ${l}`);
      out.push('  ```');
    }
    for (const { g, d, same } of diffs) {
      const head = `sqfsdiff -a ${d.a.split('/').pop()} -b ${d.b.split('/').pop()} on ${g.corpus} (${compLabel(g.settings)}, jobs ${g.settings.jobs}): exit ${d.exitCode}, ${d.differences} lines`;
      if (same) {
        out.push(`- ${head}, the same report as the reference comparison below`);
        continue;
      }
      out.push(`- ${head}; first lines:`);
      out.push('');
      out.push('  ```');
      for (const l of d.output.split('\n').slice(0, 10)) out.push(`  ${l}`);
      out.push('  ```');
    }
  }
  return out;
}

const cell = (t: string) => t.replace(/\|/g, '\\|');

/** The targets table (one line per target: goal, figure, PASS/MISS), then each miss's profile. */
export function targetsMarkdown(lines: TargetLine[]): string[] {
  const out: string[] = ['## Targets', ''];
  out.push(
    table(
      ['set', 'target', 'goal', 'measured', 'verdict'],
      lines.map((l) => [
        l.set,
        cell(l.what),
        cell(l.goal),
        cell(l.measured),
        l.verdict === 'MISS' ? '**MISS**' : l.verdict,
      ]),
    ),
  );
  out.push('');
  const missed = lines.filter((l) => l.verdict === 'MISS' && (l.profile || l.close));
  if (missed.length) {
    out.push('### Missed targets: where the time goes, and what would close them');
    out.push('');
    for (const l of missed) {
      out.push(`- **${l.set}: ${l.what}** (${l.measured}; goal ${l.goal})`);
      if (l.profile) out.push(`  - profile: ${l.profile}`);
      if (l.close) out.push(`  - to close: ${l.close}`);
    }
    out.push('');
  }
  return out;
}

/** Writes results-<stamp>.json (+ latest.json) and, unless jsonOnly, results-<stamp>.md and latest.md. */
export function writeResults(dir: string, r: Results, jsonOnly: boolean): { json: string; md?: string } {
  mkdirSync(dir, { recursive: true });
  const stamp = r.startedAt.replace(/[:.]/g, '-');
  const json = join(dir, `results-${stamp}.json`);
  const text = JSON.stringify(r, null, 2) + '\n';
  writeFileSync(json, text);
  writeFileSync(join(dir, 'latest.json'), text);
  if (jsonOnly) return { json };
  const md = join(dir, `results-${stamp}.md`);
  const mdText = markdown(r);
  writeFileSync(md, mdText);
  writeFileSync(join(dir, 'latest.md'), mdText);
  return { json, md };
}
