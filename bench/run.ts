// npm run bench -- [options]: casper-snapshot against mksquashfs and gensquashfs on the same inputs with the
// same settings. See bench/README.md.
import { Command, InvalidArgumentError } from 'commander';
import { mkdirSync, readFileSync } from 'node:fs';
import { availableParallelism, cpus, release, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import {
  footprint,
  GENERATED,
  warmCache,
  generatedCorpus,
  mountTmpfs,
  plannedBytes,
  realCorpus,
  unmountTmpfs,
  type Corpus,
  type GeneratedName,
} from './corpora.js';
import { Interrupted, interrupt, log, runGroup, type GroupOptions } from './group.js';
import { killRunning, meter } from './measure.js';
import { markdown, scalingOf, writeResults, type Group, type Results, type TargetLine } from './report.js';
import {
  judgeTargets,
  needKey,
  parseTargets,
  planTargets,
  runTiny,
  TARGET_SETS,
  type TargetInputs,
  type TinyResult,
} from './targets.js';
import { COMPRESSORS, discoverTools, executableTool, repoRoot } from './tools.js';
import { runEventLoop, type EventLoopResult } from './event-loop.js';
import { writeChart } from './chart.js';

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
  targets?: string;
  warmups?: number;
  locale: string;
  tiny: string;
  tinyRuns?: number;
  ownLevels?: boolean;
  eventLoop?: boolean;
  executable?: string;
}

function posInt(name: string) {
  return (v: string) => {
    if (!/^\d+$/.test(v) || Number(v) < 1) throw new InvalidArgumentError(`${name} must be a positive integer`);
    return Number(v);
  };
}

function parseBlockSize(v: string): number {
  const m = /^(\d+)([KM]?)$/i.exec(v.trim());
  const n = m ? Number(m[1]) * (m[2].toUpperCase() === 'K' ? 1024 : m[2].toUpperCase() === 'M' ? 1048576 : 1) : NaN;
  if (!(n >= 4096 && n <= 1048576 && (n & (n - 1)) === 0))
    throw new InvalidArgumentError(`block size must be a power of two from 4K to 1M, got ${v}`);
  return n;
}

function program(): Command {
  const cores = availableParallelism();
  return new Command()
    .name('npm run bench --')
    .description(
      'Benchmark casper-snapshot against mksquashfs (squashfs-tools) and gensquashfs (squashfs-tools-ng) on the same inputs with matched settings.',
    )
    .option(
      '--corpus <dir>',
      'a real tree to pack; repeatable (default /usr/share; "none" for generated corpora only)',
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option(
      '--generated <list>',
      `generated corpora: comma list of ${GENERATED.join(', ')}, or none`,
      GENERATED.join(','),
    )
    .option('--comp <list>', `compressors, comma list of ${COMPRESSORS.join(', ')}`, 'gzip')
    .option('--block-size <size>', 'data block size for every tool (mksquashfs -b)', '128K')
    .option(
      '--jobs <n>',
      `threads for every tool (mksquashfs -processors, gensquashfs -j, casper-snapshot --jobs); default ${cores}`,
      posInt('jobs'),
    )
    .option(
      '--reps <n>',
      'timed runs per tool, interleaved across tools, after one warm-up each (default 3; --quick: 1)',
      posInt('reps'),
    )
    .option(
      '--level <n>',
      "force this compression level on every tool (default: mksquashfs's default level for the compressor, on every tool)",
      posInt('level'),
    )
    .option(
      '--own-levels',
      "each tool at its own default level (casper-snapshot's gzip default is 6, mksquashfs's 9): figures that are not level-matched",
    )
    .option(
      '--event-loop',
      "measure the caller's event-loop delay during a library snapshot (jobs 1 and all cores, with and without busy processes) instead of the grid",
    )
    .option(
      '--executable <path>',
      'also run this casper-snapshot executable (dist-bin/casper-snapshot, the shipped build) beside the source build',
    )
    .option('--workdir <dir>', 'generated corpora (kept and reused) and output images', '/var/tmp/casper-bench')
    .option(
      '--tmpfs',
      'mount a tmpfs under the work directory for generated corpora and images (root; unmounted afterwards)',
    )
    .option(
      '--scale <x>',
      'size factor for generated corpora (1: small = 100,000 files, large = 4 × 256 MiB; --quick: 0.01)',
      (v: string) => {
        const n = Number(v);
        if (!(n > 0 && n <= 100)) throw new InvalidArgumentError('scale must be a number above 0 and at most 100');
        return n;
      },
    )
    .option('--scaling', `run every tool at 1, 2, 4, … up to --jobs threads and report speedup and efficiency`)
    .option('--quick', 'small generated corpora (--scale 0.01) and 1 rep, for a smoke test')
    .option(
      '--warmups <n>',
      'untimed runs per tool before the timed ones (default 1); 0 after a warm page cache',
      (v: string) => {
        if (!/^\d+$/.test(v)) throw new InvalidArgumentError('warmups must be 0 or a positive integer');
        return Number(v);
      },
    )
    .option(
      '--targets <list>',
      `the speed targets' option sets instead of the comparison grid: comma list of ${TARGET_SETS.join(', ')}, or all (see bench/README.md)`,
    )
    .option('--locale <dir>', '--targets: the smaller real tree (serial part, lz4, lzo)', '/usr/share/locale')
    .option('--tiny <dir>', "--targets tiny: the tiny job's source", '/etc/apt')
    .option(
      '--tiny-runs <n>',
      '--targets tiny: timed runs of each command (default 20; --quick: 5)',
      posInt('tiny-runs'),
    )
    .option('--json-only', 'write only the JSON results, and print the JSON instead of the tables')
    .option(
      '--results-dir <dir>',
      'where results go (default bench/results/runs, ignored by git; give bench/results to commit a run)',
      join(repoRoot, 'bench', 'results', 'runs'),
    )
    .addHelpText(
      'after',
      `
Every tool packs the same input into an image in the same directory with the same compressor, block size and
thread count, with SOURCE_DATE_EPOCH set. Runs are warm-cache: the page cache is not dropped; each tool gets
one untimed warm-up run and the timed runs are interleaved (A B C A B C ...). Levels are matched: every tool
compresses at mksquashfs's default level for the compressor (gzip 9) unless --level or --own-levels. Results: a
table on stdout, and RESULTS-DIR/results-<time>.{json,md,svg}, latest.{json,md,svg} (bench/results/runs, ignored
by git). Each of our images is compared with each peer's by sqfsdiff (exit 0 = no difference).`,
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
  const comps = o.comp
    .split(',')
    .map((c) => c.trim())
    .filter(Boolean);
  for (const c of comps)
    if (!(COMPRESSORS as readonly string[]).includes(c))
      return usage(`unknown compressor '${c}' (one of ${COMPRESSORS.join(', ')})`);
  const gens =
    o.generated === 'none'
      ? []
      : (o.generated ?? '')
          .split(',')
          .map((g) => g.trim())
          .filter(Boolean);
  for (const g of gens)
    if (!(GENERATED as readonly string[]).includes(g))
      return usage(`unknown generated corpus '${g}' (one of ${GENERATED.join(', ')}, or none)`);
  const sets = o.targets === undefined ? undefined : parseTargets(o.targets);
  if (typeof sets === 'string') return usage(sets);
  const reals = (o.corpus ?? ['/usr/share']).filter((c) => c !== 'none').map((c) => resolve(c));
  // --targets: the first --corpus is the large tree, --locale the smaller; rss adds generated ones. Only the trees
  // the sets use are sized (tiny uses neither).
  const needBig = !!sets && sets.some((x) => x !== 'tiny');
  const needLocale = !!sets && sets.some((x) => x === 'serial' || x === 'codecs');
  if (sets) {
    if (needBig && reals.length === 0)
      return usage('--targets needs a large real tree: --corpus DIR (default /usr/share)');
    reals.splice(0, reals.length, ...(needBig ? [reals[0]] : []), ...(needLocale ? [resolve(o.locale)] : []));
    // rss: the small and the many tree; serial: the many tree's projection at 16 threads.
    gens.splice(
      0,
      gens.length,
      ...(sets.includes('rss') ? ['small'] : []),
      ...(sets.includes('rss') || sets.includes('serial') ? ['many'] : []),
    );
  }
  if (o.eventLoop) {
    if (reals.length === 0) return usage('--event-loop needs a real tree: --corpus DIR (default /usr/share)');
    reals.splice(1);
    gens.splice(0);
  }
  if (reals.length + gens.length === 0 && !sets?.includes('tiny'))
    return usage('nothing to benchmark: give --corpus DIR or --generated');
  const workdir = resolve(o.workdir);
  const env = { ...process.env, SOURCE_DATE_EPOCH: process.env.SOURCE_DATE_EPOCH || '1700000000' };
  const notes: string[] = [];

  const tools = discoverTools();
  if (o.executable) tools.push(executableTool(resolve(o.executable)));
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
  if (meter() === 'none')
    notes.push('no CPU/RSS meter (install the `time` package or python3): CPU time and RSS are not measured');

  mkdirSync(workdir, { recursive: true });
  const tmpfsDir = join(workdir, 'tmpfs');
  let base = workdir;
  const onSignal = (sig: NodeJS.Signals) => {
    if (interrupt()) process.exit(130);
    log(`${sig}: stopping`);
    killRunning();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let results: Results;
  let eventLoop: EventLoopResult | undefined;
  try {
    const realCorpora = reals.map((p) => realCorpus(p, log));
    if (sets) for (const c of realCorpora) warmCache(c.path, log); // every run of a target is warm-cache, the first too
    if (o.tmpfs) {
      const inputs = [
        ...realCorpora.map((c) => c.stats.bytes),
        ...gens.map((g) => plannedBytes(g as GeneratedName, scale)),
      ];
      // generated trees + one image per tool (at most the largest input, plus metadata) + slack
      const need =
        gens.reduce((a, g) => a + footprint(g as GeneratedName, scale), 0) +
        3 * Math.ceil(Math.max(0, ...inputs) * 1.05) +
        256 * 1024 * 1024;
      mountTmpfs(tmpfsDir, need);
      base = tmpfsDir;
      log(`tmpfs of ${(need / 1048576).toFixed(0)} MiB mounted at ${tmpfsDir}`);
      notes.push('generated corpora and images on a tmpfs');
    }
    const corpora: Corpus[] = [...realCorpora];
    for (const g of gens) {
      corpora.push(generatedCorpus(join(base, 'corpora'), g as GeneratedName, scale, log));
    }
    const outDir = join(base, 'out');
    mkdirSync(outDir, { recursive: true });
    const groups: Group[] = [];
    const go: GroupOptions = { reps, warmups: o.warmups ?? 1, outDir, env, digest: !!sets };
    let jl = jobsList(maxJobs, !!o.scaling);
    let targets: TargetLine[] | undefined;
    if (o.eventLoop) {
      eventLoop = await runEventLoop({ corpus: corpora[0].path, outDir, comp: comps[0], reps, log });
      jl = [...new Set([1, availableParallelism()])];
    } else if (sets) {
      const inputs: TargetInputs = {
        big: needBig ? corpora[0] : undefined,
        locale: needLocale ? corpora[needBig ? 1 : 0] : undefined,
        tiny: resolve(o.tiny),
        smallFiles: corpora.find((c) => c.name === 'small'),
        many: corpora.find((c) => c.name === 'many'),
      };
      const tb = { blockSize, jobs: maxJobs, comps: ours.compressors };
      const plan = planTargets(sets, inputs, tb);
      log(`targets ${sets.join(', ')}: ${plan.length} groups of runs`);
      const byKey = new Map<string, Group>();
      for (const n of plan) {
        const g = await runGroup(
          n.corpus,
          tools.filter((t) => n.tools.includes(t.name)),
          n.s,
          go,
        );
        groups.push(g);
        byKey.set(needKey(n.corpus, n.s), g);
      }
      let tiny: TinyResult | undefined;
      if (sets.includes('tiny'))
        tiny = await runTiny(
          ours,
          inputs.tiny,
          outDir,
          { comp: 'gzip', blockSize, jobs: maxJobs },
          o.tinyRuns ?? (o.quick ? 5 : 20),
          env,
        );
      targets = judgeTargets(sets, { find: (c, s) => byKey.get(needKey(c, s)), inputs, base: tb, tiny });
      jl = [...new Set([...groups.map((g) => g.settings.jobs), ...(tiny ? [maxJobs] : [])])].sort((a, b) => a - b);
      if (tiny) notes.push(`tiny job: \`${tiny.command}\` against \`node -e 0\`, ${tiny.method}`);
      notes.push(
        '--targets: a 2-core machine shared with other work gives noisy wall times (see `other CPU s`); ratios near a goal need reruns with more --reps',
      );
    } else
      for (const c of corpora)
        for (const comp of runComps) {
          const level = o.level ?? (o.ownLevels ? undefined : matchedLevel(tools, comp, blockSize));
          const levelMatched = o.level === undefined && level !== undefined;
          for (const jobs of jl)
            groups.push(await runGroup(c, tools, { comp, level, levelMatched, blockSize, jobs }, go));
        }
    if (!sets && !o.eventLoop && o.level === undefined)
      notes.push(
        o.ownLevels
          ? 'levels NOT matched (--own-levels): each tool at its own default (casper-snapshot gzip 6, mksquashfs gzip 9); see the level column'
          : "levels matched: every tool at mksquashfs's default level for the compressor (gzip 9, zstd 15, lzo 8; xz and lz4 have none there)",
      );
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
      tools: tools.map((t) => ({
        name: t.name,
        version: t.version,
        available: t.available,
        compressors: t.compressors,
      })),
      options: {
        corpus: reals,
        generated: gens,
        scale,
        comp: sets ? [...new Set(groups.map((g) => g.settings.comp))] : comps,
        blockSize,
        jobsList: jl,
        reps,
        warmups: go.warmups,
        level: o.level ?? (o.ownLevels ? 'own' : 'matched'),
        tmpfs: !!o.tmpfs,
        sourceDateEpoch: env.SOURCE_DATE_EPOCH,
        targets: sets ?? null,
        command: `npm run bench -- ${argv.join(' ')}`,
      },
      method: {
        meter: meter(),
        warmCache: true,
        warmupRunsPerTool: go.warmups,
        interleaved: true,
        syncBeforeEachRun: true,
        statistic: 'median',
        sqfsdiff: 'sqfsdiff -a <casper-snapshot image> -b <peer image>, images of the last rep',
      },
      corpora,
      groups,
      scaling: o.scaling ? scalingOf(groups) : [],
      notes,
      ...(targets ? { targets } : {}),
      ...(eventLoop ? { eventLoop } : {}),
    };
  } catch (err) {
    if (err instanceof Interrupted) return 130;
    throw err;
  } finally {
    if (o.tmpfs) unmountTmpfs(tmpfsDir);
  }
  const written = writeResults(resolve(o.resultsDir), results, !!o.jsonOnly);
  const chart = o.jsonOnly ? null : writeChart(resolve(o.resultsDir), results);
  if (o.jsonOnly) process.stdout.write(JSON.stringify(results, null, 2) + '\n');
  else process.stdout.write(markdown(results));
  log(`results: ${written.json}${written.md ? `, ${written.md}` : ''}${chart ? `, ${chart}` : ''}`);
  const failed = results.groups.reduce(
    (n, g) => n + g.runs.filter((x) => x.exitCode !== 0 || x.signal !== null).length,
    0,
  );
  if (failed) log(`${failed} run(s) failed; see "Notes and errors"`);
  return failed ? 3 : 0;
}

/** The level every tool runs at by default: mksquashfs's for the compressor (undefined where it has none). */
function matchedLevel(tools: ReturnType<typeof discoverTools>, comp: string, blockSize: number): number | undefined {
  const mk = tools.find((t) => t.name === 'mksquashfs');
  const l = mk && mk.available === true ? mk.level({ comp, blockSize, jobs: 1 }) : null;
  if (l && l.level !== null && /default/.test(l.source)) return l.level;
  return comp === 'gzip' ? 9 : comp === 'zstd' ? 15 : comp === 'lzo' ? 8 : undefined;
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
