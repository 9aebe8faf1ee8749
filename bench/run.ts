// npm run bench -- [options]: casper-snapshot against mksquashfs and gensquashfs on the same inputs with the
// same settings. See bench/README.md.
import { Command, InvalidArgumentError } from 'commander';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, cpus, release, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import {
  footprint,
  GENERATED,
  generatedCorpus,
  mountTmpfs,
  plannedBytes,
  realCorpus,
  unmountTmpfs,
  type Corpus,
  type GeneratedName,
} from './corpora.js';
import { killRunning, measure, meter, syncAll } from './measure.js';
import { markdown, ratio, scalingOf, summarize, writeResults, type Group, type Results, type RunRecord } from './report.js';
import { COMPRESSORS, discoverTools, repoRoot, sqfsdiff, type Settings, type Tool } from './tools.js';

interface Options {
  corpus?: string[];
  generated?: string;
  comp: string;
  blockSize: string;
  jobs?: number;
  reps?: number;
  level?: number;
  workdir: string;
  tmpfs?: boolean;
  scale?: number;
  scaling?: boolean;
  quick?: boolean;
  jsonOnly?: boolean;
  resultsDir: string;
}

const log = (s: string) => process.stderr.write(`bench: ${s}\n`);

function posInt(name: string) {
  return (v: string) => {
    if (!/^\d+$/.test(v) || Number(v) < 1) throw new InvalidArgumentError(`${name} must be a positive integer`);
    return Number(v);
  };
}

function parseBlockSize(v: string): number {
  const m = /^(\d+)([KM]?)$/i.exec(v.trim());
  const n = m ? Number(m[1]) * (m[2].toUpperCase() === 'K' ? 1024 : m[2].toUpperCase() === 'M' ? 1048576 : 1) : NaN;
  if (!(n >= 4096 && n <= 1048576 && (n & (n - 1)) === 0)) throw new InvalidArgumentError(`block size must be a power of two from 4K to 1M, got ${v}`);
  return n;
}

function program(): Command {
  const cores = availableParallelism();
  return new Command()
    .name('npm run bench --')
    .description('Benchmark casper-snapshot against mksquashfs (squashfs-tools) and gensquashfs (squashfs-tools-ng) on the same inputs with matched settings.')
    .option('--corpus <dir>', 'a real tree to pack; repeatable (default /usr/share; "none" for generated corpora only)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--generated <list>', `generated corpora: comma list of ${GENERATED.join(', ')}, or none`, GENERATED.join(','))
    .option('--comp <list>', `compressors, comma list of ${COMPRESSORS.join(', ')}`, 'gzip')
    .option('--block-size <size>', 'data block size for every tool (mksquashfs -b)', '128K')
    .option('--jobs <n>', `threads for every tool (mksquashfs -processors, gensquashfs -j, casper-snapshot --jobs); default ${cores}`, posInt('jobs'))
    .option('--reps <n>', 'timed runs per tool, interleaved across tools, after one warm-up each (default 3; --quick: 1)', posInt('reps'))
    .option('--level <n>', "force this compression level on every tool (default: each tool's own default, printed)", posInt('level'))
    .option('--workdir <dir>', 'generated corpora (kept and reused) and output images', '/var/tmp/casper-bench')
    .option('--tmpfs', 'mount a tmpfs under the work directory for generated corpora and images (root; unmounted afterwards)')
    .option('--scale <x>', 'size factor for generated corpora (1: small = 100,000 files, large = 4 × 256 MiB; --quick: 0.01)', (v: string) => {
      const n = Number(v);
      if (!(n > 0 && n <= 100)) throw new InvalidArgumentError('scale must be a number above 0 and at most 100');
      return n;
    })
    .option('--scaling', `run every tool at 1, 2, 4, … up to --jobs threads and report speedup and efficiency`)
    .option('--quick', 'small generated corpora (--scale 0.01) and 1 rep, for a smoke test')
    .option('--json-only', 'write only the JSON results, and print the JSON instead of the tables')
    .option('--results-dir <dir>', 'where results go', join(repoRoot, 'bench', 'results'))
    .addHelpText(
      'after',
      `
Every tool packs the same input into an image in the same directory with the same compressor, block size and
thread count, with SOURCE_DATE_EPOCH set. Runs are warm-cache: the page cache is not dropped; each tool gets
one untimed warm-up run and the timed runs are interleaved (A B C A B C ...). Results: a table on stdout,
bench/results/results-<time>.{json,md}, latest.{json,md}. Each of our images is compared with each peer's by
sqfsdiff (exit 0 = no difference).`,
    );
}

function jobsList(max: number, scaling: boolean): number[] {
  if (!scaling) return [max];
  const out: number[] = [];
  for (let j = 1; j < max; j *= 2) out.push(j);
  out.push(max);
  return out;
}

function osName(): string {
  try {
    return /PRETTY_NAME="?([^"\n]*)"?/.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? process.platform;
  } catch {
    return process.platform;
  }
}

function fsType(dir: string): string {
  const r = spawnSync('findmnt', ['-n', '-o', 'FSTYPE,SOURCE', '-T', dir], { encoding: 'utf8' });
  if (r.status === 0 && r.stdout.trim()) return r.stdout.trim().replace(/\s+/, ' on ');
  const s = spawnSync('stat', ['-f', '-c', '%T', dir], { encoding: 'utf8' });
  return s.status === 0 ? s.stdout.trim() : 'unknown';
}

class Interrupted extends Error {}
let interrupted = false;

async function timedRun(tool: Tool, src: string, out: string, s: Settings, rep: number, env: NodeJS.ProcessEnv): Promise<RunRecord> {
  rmSync(out, { force: true });
  syncAll();
  const { cmd, args } = tool.argv(src, out, s);
  const m = await measure(cmd, args, env);
  if (interrupted) throw new Interrupted('interrupted');
  let imageBytes: number | null = null;
  const failed = m.exitCode !== 0 || m.signal !== null;
  if (!failed && existsSync(out)) imageBytes = statSync(out).size;
  const text = `${m.stderr}${m.stdout}`.trim();
  return {
    tool: tool.name,
    rep,
    warmup: rep === 0,
    wallS: m.wallS,
    userS: m.userS,
    sysS: m.sysS,
    cpuS: m.userS !== null && m.sysS !== null ? m.userS + m.sysS : null,
    maxRssKiB: m.maxRssKiB,
    imageBytes,
    otherCpuS: m.machineCpuS !== null && m.userS !== null && m.sysS !== null ? Math.max(0, m.machineCpuS - m.userS - m.sysS) : null,
    exitCode: failed && m.exitCode === 0 ? 1 : m.exitCode,
    signal: m.signal,
    command: [cmd === process.execPath ? 'node' : cmd, ...args].join(' '),
    ...(failed || m.stderr.trim() ? { output: text } : {}),
  };
}

async function runGroup(corpus: Corpus, tools: Tool[], s: Settings, reps: number, outDir: string, env: NodeJS.ProcessEnv): Promise<Group> {
  const tag = `[${corpus.name} ${s.comp} -b ${s.blockSize} jobs ${s.jobs}]`;
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
  log(`${tag} levels: ${active.map((t) => `${t.name} ${levels.get(t.name)?.level ?? '—'} (${levels.get(t.name)?.source})`).join('; ')}`);
  if (s.level !== undefined)
    for (const t of active) if (levels.get(t.name)?.source !== 'forced') notes.push(`--level ${s.level} cannot be set on ${t.name} for ${s.comp}: ${levels.get(t.name)?.source}`);
  const img = (t: Tool) => join(outDir, `${t.name}.sqfs`);
  const runs: RunRecord[] = [];
  try {
    for (let rep = 0; rep <= reps; rep++) {
      for (const t of active) {
        const r = await timedRun(t, corpus.path, img(t), s, rep, env);
        runs.push(r);
        const what = rep === 0 ? 'warm-up' : `rep ${rep}/${reps}`;
        if (r.exitCode !== 0 || r.signal) log(`${tag} ${what} ${t.name}: FAILED exit ${r.exitCode}${r.signal ? ` ${r.signal}` : ''}: ${(r.output ?? '').split('\n').slice(-3).join(' / ')}`);
        else
          log(
            `${tag} ${what} ${t.name}: ${r.wallS.toFixed(2)} s wall, ${r.cpuS?.toFixed(2) ?? '?'} s CPU (others ${r.otherCpuS?.toFixed(1) ?? '?'} s), ${r.maxRssKiB ? (r.maxRssKiB / 1024).toFixed(0) : '?'} MiB RSS, ${r.imageBytes} bytes`,
          );
      }
    }
  } catch (err) {
    // the output directory is the harness's own: leave nothing behind (images, temporary files)
    for (const f of readdirSync(outDir)) rmSync(join(outDir, f), { recursive: true, force: true });
    throw err;
  }
  const summary = active.map((t) => summarize(t.name, levels.get(t.name) as ReturnType<Tool['level']>, runs, corpus.stats.bytes));
  // sqfsdiff on the images of the last rep (ours against each peer; and the peers against each other)
  const ours = active.find((t) => t.name === 'casper-snapshot');
  const peers = active.filter((t) => t !== ours);
  const present = (t: Tool) => existsSync(img(t)) && runs.some((r) => r.tool === t.name && r.rep === reps && r.exitCode === 0);
  const ratios = peers.map((p) => {
    let diff = null;
    if (ours && present(ours) && present(p)) {
      diff = sqfsdiff(img(ours), img(p));
      log(`${tag} sqfsdiff -a ${ours.name} -b ${p.name}: exit ${diff.exitCode}${diff.pass ? '' : `: ${diff.output.split('\n').slice(0, 3).join(' / ')}`}`);
    } else notes.push(`sqfsdiff casper-snapshot vs ${p.name} not run: an image is missing (a run failed)`);
    return ratio(summary.find((x) => x.tool === ours?.name) as (typeof summary)[number], summary.find((x) => x.tool === p.name) as (typeof summary)[number], diff);
  });
  const reference = peers.length === 2 && peers.every(present) ? sqfsdiff(img(peers[0]), img(peers[1])) : null;
  if (reference) {
    log(`${tag} reference sqfsdiff -a ${peers[0].name} -b ${peers[1].name}: exit ${reference.exitCode}`);
    const r = ratios.find((x) => x.peer === peers[1].name);
    if (r?.sqfsdiff && !r.sqfsdiff.pass && r.sqfsdiff.exitCode !== null) r.sameAsReference = r.sqfsdiff.digest === reference.digest;
  }
  for (const t of active) rmSync(img(t), { force: true });
  return { corpus: corpus.name, inputBytes: corpus.stats.bytes, settings: s, tools: active.map((t) => t.name), runs, summary, ratios, reference, notes };
}

async function main(argv: string[]): Promise<number> {
  const cmd = program().exitOverride();
  try {
    cmd.parse(argv, { from: 'user' });
  } catch (err) {
    const code = (err as { code?: string }).code;
    return code === 'commander.helpDisplayed' || code === 'commander.help' ? 0 : 1;
  }
  const o = cmd.opts<Options>();
  const startedAt = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const cores = availableParallelism();
  const reps = o.reps ?? (o.quick ? 1 : 3);
  const scale = o.scale ?? (o.quick ? 0.01 : 1);
  const maxJobs = o.jobs ?? cores;
  const blockSize = parseBlockSize(o.blockSize);
  const comps = o.comp.split(',').map((c) => c.trim()).filter(Boolean);
  for (const c of comps) if (!(COMPRESSORS as readonly string[]).includes(c)) return usage(`unknown compressor '${c}' (one of ${COMPRESSORS.join(', ')})`);
  const gens = o.generated === 'none' ? [] : (o.generated ?? '').split(',').map((g) => g.trim()).filter(Boolean);
  for (const g of gens) if (!(GENERATED as readonly string[]).includes(g)) return usage(`unknown generated corpus '${g}' (one of ${GENERATED.join(', ')}, or none)`);
  const reals = (o.corpus ?? ['/usr/share']).filter((c) => c !== 'none').map((c) => resolve(c));
  if (reals.length + gens.length === 0) return usage('nothing to benchmark: give --corpus DIR or --generated');
  const workdir = resolve(o.workdir);
  const env = { ...process.env, SOURCE_DATE_EPOCH: process.env.SOURCE_DATE_EPOCH || '1700000000' };
  const notes: string[] = [];

  const tools = discoverTools();
  const ours = tools[0];
  if (ours.available !== true) {
    log(`casper-snapshot cannot run: ${ours.available}`);
    return 2;
  }
  for (const t of tools) {
    if (t.available !== true) notes.push(`${t.name} not run: ${t.available}`);
    log(`${t.name}: ${t.available === true ? t.version : `not available: ${t.available}`}`);
  }
  const runComps = comps.filter((c) => {
    if (ours.compressors.includes(c)) return true;
    notes.push(`${c} skipped: this casper-snapshot build lacks it (has: ${ours.compressors.join(', ')})`);
    log(notes[notes.length - 1]);
    return false;
  });
  if (meter() === 'none') notes.push('no CPU/RSS meter (install the `time` package or python3): CPU time and RSS are not measured');

  mkdirSync(workdir, { recursive: true });
  const tmpfsDir = join(workdir, 'tmpfs');
  let base = workdir;
  const onSignal = (sig: NodeJS.Signals) => {
    if (interrupted) process.exit(130);
    interrupted = true;
    log(`${sig}: stopping`);
    killRunning();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let results: Results;
  try {
    const realCorpora = reals.map((p) => realCorpus(p, log));
    if (o.tmpfs) {
      const inputs = [...realCorpora.map((c) => c.stats.bytes), ...gens.map((g) => plannedBytes(g as GeneratedName, scale))];
      // generated trees + one image per tool (at most the largest input, plus metadata) + slack
      const need = gens.reduce((a, g) => a + footprint(g as GeneratedName, scale), 0) + 3 * Math.ceil(Math.max(0, ...inputs) * 1.05) + 256 * 1024 * 1024;
      mountTmpfs(tmpfsDir, need);
      base = tmpfsDir;
      log(`tmpfs of ${(need / 1048576).toFixed(0)} MiB mounted at ${tmpfsDir}`);
      notes.push('generated corpora and images on a tmpfs');
    }
    const corpora: Corpus[] = [...realCorpora];
    for (const g of gens) {
      corpora.push(generatedCorpus(join(base, 'corpora'), g as GeneratedName, scale, log));
      if (interrupted) throw new Interrupted('interrupted');
    }
    const outDir = join(base, 'out');
    mkdirSync(outDir, { recursive: true });
    const groups: Group[] = [];
    const jl = jobsList(maxJobs, !!o.scaling);
    for (const c of corpora)
      for (const comp of runComps)
        for (const jobs of jl) groups.push(await runGroup(c, tools, { comp, level: o.level, blockSize, jobs }, reps, outDir, env));
    results = {
      schema: 1,
      startedAt,
      finishedAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      machine: {
        cpu: cpus()[0]?.model ?? 'unknown',
        cores,
        memGiB: Math.round(totalmem() / 2 ** 30),
        os: osName(),
        kernel: release(),
        workdir: base,
        workdirFs: fsType(outDir),
      },
      node: process.version,
      tools: tools.map((t) => ({ name: t.name, version: t.version, available: t.available, compressors: t.compressors })),
      options: { corpus: reals, generated: gens, scale, comp: comps, blockSize, jobsList: jl, reps, level: o.level ?? null, tmpfs: !!o.tmpfs, sourceDateEpoch: env.SOURCE_DATE_EPOCH },
      method: {
        meter: meter(),
        warmCache: true,
        warmupRunsPerTool: 1,
        interleaved: true,
        syncBeforeEachRun: true,
        statistic: 'median',
        sqfsdiff: 'sqfsdiff -a <casper-snapshot image> -b <peer image>, images of the last rep',
      },
      corpora,
      groups,
      scaling: o.scaling ? scalingOf(groups) : [],
      notes,
    };
  } catch (err) {
    if (err instanceof Interrupted) return 130;
    throw err;
  } finally {
    if (o.tmpfs) unmountTmpfs(tmpfsDir);
  }
  const written = writeResults(resolve(o.resultsDir), results, !!o.jsonOnly);
  if (o.jsonOnly) process.stdout.write(JSON.stringify(results, null, 2) + '\n');
  else process.stdout.write(markdown(results));
  log(`results: ${written.json}${written.md ? `, ${written.md}` : ''}`);
  const failed = results.groups.reduce((n, g) => n + g.runs.filter((x) => x.exitCode !== 0 || x.signal !== null).length, 0);
  if (failed) log(`${failed} run(s) failed; see "Notes and errors"`);
  return failed ? 3 : 0;
}

function usage(msg: string): number {
  log(msg);
  return 1;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    log(err instanceof Error ? err.message : String(err));
    process.exitCode = 2;
  },
);
