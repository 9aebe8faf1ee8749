// One group of runs: every tool on the same input with the same settings, interleaved (A B C A B C …) after
// the warm-up runs, then the medians, the ratios against each peer and the sqfsdiff comparisons.
import { closeSync, existsSync, openSync, readdirSync, readSync, rmSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { Corpus } from './corpora.js';
import { measure, syncAll } from './measure.js';
import { ratio, summarize, type Group, type OurProfile, type RunRecord } from './report.js';
import { compLabel, sqfsdiff, type Settings, type Tool } from './tools.js';

export const log = (s: string) => process.stderr.write(`bench: ${s}\n`);

export class Interrupted extends Error {}
let interrupted = false;
/** Marks the run as interrupted (SIGINT/SIGTERM): the group in progress stops after its current run. */
export function interrupt(): boolean {
  const again = interrupted;
  interrupted = true;
  return again;
}

export interface GroupOptions {
  reps: number;
  /** Untimed runs per tool before the timed ones (1 unless --warmups). */
  warmups: number;
  outDir: string;
  env: NodeJS.ProcessEnv;
  /** Also record the sha256 of our image of the last rep (--targets: images identical for any --jobs). */
  digest?: boolean;
}

/** Our --json report, reduced to where the time went (for the targets' profiles). */
function profileOf(stdout: string): OurProfile | undefined {
  try {
    const r = JSON.parse(stdout) as {
      times: OurProfile['times'];
      pipeline: OurProfile['pipeline'];
      counts: { entries: number };
      tables?: OurProfile['tables'];
      walk?: OurProfile['walk'];
    };
    return {
      times: r.times,
      pipeline: r.pipeline,
      entries: r.counts.entries,
      ...(r.walk ? { walk: r.walk } : {}),
      ...(r.tables ? { tables: r.tables } : {}),
    };
  } catch {
    return undefined;
  }
}

function sha256(path: string): string {
  const h = createHash('sha256');
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(4 << 20);
    for (let n: number; (n = readSync(fd, buf)) > 0; ) h.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

async function timedRun(
  tool: Tool,
  src: string,
  out: string,
  s: Settings,
  rep: number,
  warmup: boolean,
  env: NodeJS.ProcessEnv,
): Promise<RunRecord> {
  rmSync(out, { force: true });
  syncAll();
  const { cmd, args } = tool.argv(src, out, s);
  const m = await measure(cmd, args, env, { fullStdout: !!s.report });
  if (interrupted) throw new Interrupted('interrupted');
  let imageBytes: number | null = null;
  const failed = m.exitCode !== 0 || m.signal !== null;
  if (!failed && existsSync(out)) imageBytes = statSync(out).size;
  const profile = !failed && s.report && tool.name === 'casper-snapshot' ? profileOf(m.stdout) : undefined;
  const text = `${m.stderr}${s.report ? '' : m.stdout}`.trim();
  return {
    tool: tool.name,
    rep,
    warmup,
    wallS: m.wallS,
    userS: m.userS,
    sysS: m.sysS,
    cpuS: m.userS !== null && m.sysS !== null ? m.userS + m.sysS : null,
    maxRssKiB: m.maxRssKiB,
    imageBytes,
    otherCpuS:
      m.machineCpuS !== null && m.userS !== null && m.sysS !== null
        ? Math.max(0, m.machineCpuS - m.userS - m.sysS)
        : null,
    exitCode: failed && m.exitCode === 0 ? 1 : m.exitCode,
    signal: m.signal,
    command: [cmd === process.execPath ? 'node' : cmd, ...args].join(' '),
    ...(failed || m.stderr.trim() ? { output: text } : {}),
    ...(profile ? { profile } : {}),
  };
}

export async function runGroup(corpus: Corpus, tools: Tool[], s: Settings, o: GroupOptions): Promise<Group> {
  const tag = `[${corpus.name} ${compLabel(s)} -b ${s.blockSize} jobs ${s.jobs}]`;
  const notes: string[] = [];
  const active = tools.filter((t) => {
    if (t.available !== true) return false;
    if (!t.compressors.includes(s.comp)) {
      notes.push(`${t.name} lacks ${s.comp}; not run`);
      return false;
    }
    return true;
  });
  const levels = new Map(active.map((t) => [t.name, t.level(s)]));
  log(
    `${tag} levels: ${active.map((t) => `${t.name} ${levels.get(t.name)?.level ?? '—'} (${levels.get(t.name)?.source})`).join('; ')}`,
  );
  if (s.level !== undefined)
    for (const t of active)
      if (!['forced', 'matched'].includes(levels.get(t.name)?.source ?? ''))
        notes.push(`--level ${s.level} cannot be set on ${t.name} for ${s.comp}: ${levels.get(t.name)?.source}`);
  const img = (t: Tool) => join(o.outDir, `${t.name}.sqfs`);
  const runs: RunRecord[] = [];
  const last = o.warmups + o.reps - 1;
  try {
    for (let i = 0; i <= last; i++) {
      const warmup = i < o.warmups;
      const rep = warmup ? 0 : i - o.warmups + 1;
      for (const t of active) {
        const r = await timedRun(t, corpus.path, img(t), s, rep, warmup, o.env);
        runs.push(r);
        const what = warmup ? 'warm-up' : `rep ${rep}/${o.reps}`;
        if (r.exitCode !== 0 || r.signal)
          log(
            `${tag} ${what} ${t.name}: FAILED exit ${r.exitCode}${r.signal ? ` ${r.signal}` : ''}: ${(r.output ?? '').split('\n').slice(-3).join(' / ')}`,
          );
        else
          log(
            `${tag} ${what} ${t.name}: ${r.wallS.toFixed(2)} s wall, ${r.cpuS?.toFixed(2) ?? '?'} s CPU (others ${r.otherCpuS?.toFixed(1) ?? '?'} s), ${r.maxRssKiB ? (r.maxRssKiB / 1024).toFixed(0) : '?'} MiB RSS, ${r.imageBytes} bytes`,
          );
      }
    }
  } catch (err) {
    // the output directory is the harness's own: leave nothing behind (images, temporary files)
    for (const f of readdirSync(o.outDir)) rmSync(join(o.outDir, f), { recursive: true, force: true });
    throw err;
  }
  const summary = active.map((t) =>
    summarize(t.name, levels.get(t.name) as ReturnType<Tool['level']>, runs, corpus.stats.bytes),
  );
  // sqfsdiff on the images of the last rep (ours against each peer; and the peers against each other)
  const ours = active.find((t) => t.name === 'casper-snapshot');
  const peers = active.filter((t) => t !== ours);
  const present = (t: Tool) =>
    existsSync(img(t)) && runs.some((r) => r.tool === t.name && r.rep === o.reps && !r.warmup && r.exitCode === 0);
  const ratios = peers.map((p) => {
    let diff = null;
    if (ours && present(ours) && present(p)) {
      diff = sqfsdiff(img(ours), img(p));
      log(
        `${tag} sqfsdiff -a ${ours.name} -b ${p.name}: exit ${diff.exitCode}${diff.pass ? '' : `: ${diff.output.split('\n').slice(0, 3).join(' / ')}`}`,
      );
    } else notes.push(`sqfsdiff casper-snapshot vs ${p.name} not run: an image is missing (a run failed)`);
    return ratio(
      summary.find((x) => x.tool === ours?.name) as (typeof summary)[number],
      summary.find((x) => x.tool === p.name) as (typeof summary)[number],
      diff,
    );
  });
  const reference = peers.length === 2 && peers.every(present) ? sqfsdiff(img(peers[0]), img(peers[1])) : null;
  if (reference) {
    log(`${tag} reference sqfsdiff -a ${peers[0].name} -b ${peers[1].name}: exit ${reference.exitCode}`);
    const r = ratios.find((x) => x.peer === peers[1].name);
    if (r?.sqfsdiff && !r.sqfsdiff.pass && r.sqfsdiff.exitCode !== null)
      r.sameAsReference = r.sqfsdiff.digest === reference.digest;
  }
  const ourDigest = o.digest && ours && present(ours) ? sha256(img(ours)) : undefined;
  for (const t of active) rmSync(img(t), { force: true });
  return {
    corpus: corpus.name,
    inputBytes: corpus.stats.bytes,
    settings: s,
    tools: active.map((t) => t.name),
    runs,
    summary,
    ratios,
    reference,
    notes,
    ...(ourDigest ? { ourDigest } : {}),
  };
}
