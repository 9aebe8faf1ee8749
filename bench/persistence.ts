// npm run bench:persistence -- [options]: cumulative saves over a chain of live sessions. A copy of a real
// tree (default /usr/share) squashed into a medium image, loop-mounted as the lower layer of an overlay with a
// tmpfs upper; in each of 5 sessions 1 % of the files are changed and 20 MiB of new files added through the
// merged view, and the session is saved to the same image, which the next session stacks above the medium
// (so every save from the second on is cumulative: the delta against the medium, the old image as the base).
// The 5th save is timed against a --no-base save of the same accumulated delta (the fold without a base), and
// the 5th image's size compared with that fresh capture. Targets (issue 19): ≥ 4× faster with gzip; size
// ≤ 1.02×; the two images hold the same tree (sqfsdiff).
import { Command } from 'commander';
import { appendFileSync, copyFileSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { Rng, fillText } from './corpora.js';
import { measure, median, syncAll, type Measurement } from './measure.js';
import { repoRoot, sqfsdiff } from './tools.js';

interface Options {
  corpus: string;
  comp: string;
  blockSize: string;
  jobs: number;
  reps: number;
  sessions: number;
  change: number;
  addMib: number;
  workdir: string;
  resultsDir: string;
}

const TARGET = { speedup: 4, size: 1.02 };
const log = (s: string) => process.stderr.write(`bench-persistence: ${s}\n`);
const cli = join(repoRoot, 'bin', 'casper-snapshot.js');

function sh(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
}

/** Regular files under dir, relative, sorted (names as latin1 strings round-trip any bytes). */
function regularFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const e of readdirSync(join(dir, rel), { withFileTypes: true, encoding: 'latin1' })) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.push(p);
    }
  };
  walk('');
  return out.sort();
}

/** Session k's changes through the merged view: share of the files appended to, addMib MiB of new text files. */
function sessionChanges(
  merged: string,
  files: string[],
  k: number,
  share: number,
  addMib: number,
): { changed: number; added: number } {
  const rng = new Rng(0x5e55 + k);
  let changed = 0;
  for (const f of files)
    if (rng.next() < share) {
      appendFileSync(Buffer.from(join(merged, f), 'latin1'), `changed in session ${k}\n`);
      changed++;
    }
  const dir = join(merged, `bench-session-${k}`);
  mkdirSync(dir);
  const buf = Buffer.alloc(1 << 20);
  for (let i = 0; i < addMib; i++) {
    fillText(buf, rng);
    writeFileSync(join(dir, `added-${i}.txt`), buf);
  }
  return { changed, added: addMib };
}

function run(args: string[]): Promise<Measurement> {
  return measure(process.execPath, [cli, '--json', ...args], process.env, { fullStdout: true });
}

/** The phases of a save (from its --json report), in seconds. */
function phases(m: Measurement): string {
  try {
    const t = (JSON.parse(m.stdout) as { times: Record<string, number> }).times;
    return ['walk', 'data', 'tables', 'commit'].map((k) => `${k} ${(t[k] / 1000).toFixed(2)}`).join(', ');
  } catch {
    return '–';
  }
}

/** What the base gave a save (from its --json report). */
function baseOf(m: Measurement): { files: number; bytes: number; racy: number } | null {
  try {
    const b = (JSON.parse(m.stdout) as { base: { used: boolean; files: number; bytes: number; racy: number } | null })
      .base;
    return b?.used ? { files: b.files, bytes: b.bytes, racy: b.racy } : null;
  } catch {
    return null;
  }
}

/** A real shutdown does not come within the second of the session's last write (files written in the base's
 * own second are read again at the next save: git's racy-clean rule). */
const pause = () => new Promise((r) => setTimeout(r, 1100));

const fmt = (x: number | null, d = 2) => (x === null ? '–' : x.toFixed(d));

async function main(): Promise<void> {
  const o = new Command()
    .name('npm run bench:persistence --')
    .description(
      'Cumulative saves over a chain of live sessions: the last save vs a --no-base save of the same accumulated delta (issue 19 targets).',
    )
    .option('--corpus <dir>', 'tree squashed into the medium', '/usr/share')
    .option('--comp <name>', 'compressor', 'gzip')
    .option('-b, --block-size <size>', 'block size', '131072')
    .option('-j, --jobs <n>', 'jobs for every save', (v) => Number(v), availableParallelism())
    .option('--sessions <n>', 'sessions in the chain', (v) => Number(v), 5)
    .option('--reps <n>', 'timed pairs of the last save (each from the same previous image)', (v) => Number(v), 1)
    .option('--change <fraction>', 'share of the files changed per session', (v) => Number(v), 0.01)
    .option('--add-mib <n>', 'MiB of new files per session', (v) => Number(v), 20)
    .option('--workdir <dir>', 'where the medium, the sessions and the images go', '/var/tmp/casper-bench-persistence')
    .option(
      '--results-dir <dir>',
      'where the markdown table goes (default bench/results/runs, ignored by git; give bench/results to commit a run)',
      join(repoRoot, 'bench', 'results', 'runs'),
    )
    .parse()
    .opts<Options>();
  if (process.getuid?.() !== 0) throw new Error('needs root (loop and overlay mounts)');
  const work = resolve(o.workdir);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const mounts: string[] = [];
  const mount = (args: string[], at: string) => {
    mkdirSync(at, { recursive: true });
    sh('mount', [...args, at]);
    mounts.push(at);
  };
  const unmount = (at: string) => {
    sh('umount', [at]);
    mounts.splice(mounts.indexOf(at), 1);
  };
  try {
    const medium = join(work, 'medium.sqfs');
    log(`squashing ${o.corpus} into the medium`);
    sh('mksquashfs', [o.corpus, medium, '-noappend', '-quiet', '-no-progress', '-comp', 'lz4']);
    const lm = join(work, 'medium');
    mount(['-t', 'squashfs', '-o', 'ro,loop', medium], lm);
    const files = regularFiles(lm);
    const out = join(work, 'session.sqfs');
    const layer = join(work, 'layer');
    const merged = join(work, 'merged');
    const common = ['-comp', o.comp, '-b', o.blockSize, '-j', String(o.jobs)];
    let changes = { changed: 0, added: 0 };
    const inc: Measurement[] = [];
    const full: Measurement[] = [];
    let diff = null as ReturnType<typeof sqfsdiff> | null;
    let sizes = { inc: 0, full: 0 };
    for (let k = 1; k <= o.sessions; k++) {
      const cow = join(work, `cow-${k}`);
      mount(['-t', 'tmpfs', '-o', 'size=4g', 'tmpfs'], cow);
      mkdirSync(join(cow, 'upper'));
      mkdirSync(join(cow, 'work'));
      const lowers = k > 1 ? [layer, lm] : [lm];
      if (k > 1) mount(['-t', 'squashfs', '-o', 'ro,loop', out], layer);
      mount(
        [
          '-t',
          'overlay',
          '-o',
          `lowerdir=${lowers.join(':')},upperdir=${cow}/upper,workdir=${cow}/work`,
          'casper-bench',
        ],
        merged,
      );
      const c = sessionChanges(merged, files, k, o.change, o.addMib);
      changes = { changed: changes.changed + c.changed, added: changes.added + c.added };
      log(`session ${k}: ${c.changed} files changed, ${c.added} MiB added`);
      const save = ['--root', merged, out, ...common];
      await pause();
      if (k < o.sessions) {
        const r = await run(save);
        if (r.exitCode !== 0) throw new Error(`save ${k} failed (exit ${r.exitCode}): ${r.stderr}`);
        log(`session ${k} saved: ${r.wallS.toFixed(2)} s`);
      } else {
        const previous = join(work, 'previous.sqfs');
        copyFileSync(out, previous);
        for (let i = 0; i < o.reps; i++) {
          // The cumulative save with the previous image as the base, then the same fold without one. The
          // image in use as a layer is unlinked, never written in place (its loop device still reads it).
          rmSync(out);
          copyFileSync(previous, out);
          syncAll();
          const a = await run(save);
          if (a.exitCode !== 0) throw new Error(`cumulative save failed (exit ${a.exitCode}): ${a.stderr}`);
          copyFileSync(out, join(work, 'incremental.sqfs'));
          syncAll();
          const b = await run([...save, '--no-base']);
          if (b.exitCode !== 0) throw new Error(`--no-base save failed (exit ${b.exitCode}): ${b.stderr}`);
          log(`save ${k}: cumulative ${a.wallS.toFixed(2)} s, --no-base ${b.wallS.toFixed(2)} s`);
          inc.push(a);
          full.push(b);
        }
        diff = sqfsdiff(join(work, 'incremental.sqfs'), out);
        sizes = { inc: statSync(join(work, 'incremental.sqfs')).size, full: statSync(out).size };
      }
      unmount(merged);
      if (k > 1) unmount(layer);
      unmount(cow);
    }
    const wall = (xs: Measurement[]) => median(xs.map((x) => x.wallS))!;
    const cpu = (xs: Measurement[]) => median(xs.filter((x) => x.userS !== null).map((x) => x.userS! + x.sysS!));
    const speedup = wall(full) / wall(inc);
    const ratio = sizes.inc / sizes.full;
    const verdict = (ok: boolean) => (ok ? 'PASS' : '**MISS**');
    const reused = baseOf(inc[inc.length - 1]);
    const md = [
      '# Cumulative saves over a chain of live sessions',
      '',
      `${new Date().toISOString()} · ${cpus()[0]?.model ?? 'unknown CPU'} · ${availableParallelism()} cores · medium: ${o.corpus} (${files.length} files) · ` +
        `${o.sessions} sessions, each changing ${(o.change * 100).toFixed(1)} % of the files and adding ${o.addMib} MiB (in all ${changes.changed} changes, ${changes.added} MiB) · ` +
        `${o.comp}, block ${o.blockSize}, ${o.jobs} jobs · ${o.reps} pair(s), median · ${work}`,
      '',
      '| save | wall s | CPU s | phases s (last run) | image bytes |',
      '|---|---|---|---|---|',
      `| session ${o.sessions}, cumulative (the previous image as the base) | ${fmt(wall(inc))} | ${fmt(cpu(inc))} | ${phases(inc[inc.length - 1])} | ${sizes.inc} |`,
      `| session ${o.sessions}, --no-base (the same accumulated delta, compressed anew) | ${fmt(wall(full))} | ${fmt(cpu(full))} | ${phases(full[full.length - 1])} | ${sizes.full} |`,
      '',
      reused
        ? `The cumulative save copied ${reused.files} files (${(reused.bytes / 2 ** 20).toFixed(1)} MiB) from the previous image; ${reused.racy} were read again (racy-clean).`
        : 'The cumulative save used no base.',
      '',
      '| target | goal | measured | verdict |',
      '|---|---|---|---|',
      `| speed-up of the cumulative save | ≥ ${TARGET.speedup}× | ${speedup.toFixed(2)}× | ${verdict(speedup >= TARGET.speedup)} |`,
      `| size of the cumulative image vs a fresh capture | ≤ ${TARGET.size}× | ${ratio.toFixed(4)}× | ${verdict(ratio <= TARGET.size)} |`,
      `| same tree (sqfsdiff) | equal | ${diff?.pass ? 'equal' : `DIFFERENT (${diff?.differences})`} | ${verdict(!!diff?.pass)} |`,
      '',
      `Command: \`npm run bench:persistence -- --corpus ${o.corpus} --comp ${o.comp} --jobs ${o.jobs} --sessions ${o.sessions} --reps ${o.reps}\``,
      ...(diff && !diff.pass ? ['', '```', diff.output, '```'] : []),
      '',
    ].join('\n');
    process.stdout.write(md);
    {
      mkdirSync(o.resultsDir, { recursive: true });
      const file = join(o.resultsDir, `persistence-${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}Z.md`);
      writeFileSync(file, md);
      log(`wrote ${file}`);
    }
  } finally {
    for (const m of mounts.reverse()) spawnSync('umount', ['-l', m]);
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench-persistence: ${(err as Error).message}\n`);
  process.exit(1);
});
