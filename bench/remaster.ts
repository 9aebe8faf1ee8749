// npm run bench:remaster -- [options]: `casper-snapshot remaster` against the manual route a user would take to
// the same ISO: mksquashfs of the same root with the base image's codec and block size, the size, package
// list and checksum lines by hand (du, dpkg-query, sha256sum, sed), then xorriso with the same options as the
// remaster's (the base's boot records replayed, the same files mapped). Same machine, same threads, runs
// interleaved, medians. By default the base is the remaster test's live ISO (scripts/live-iso.sh, cached
// under /var/tmp/casper-vm) and the root is that ISO's own root (an overlay of its cached layers); both
// routes capture the same tree (the remaster with --no-scrub: mksquashfs has no scrub).
import { Command } from 'commander';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { measure, median, syncAll, type Measurement } from './measure.js';
import { repoRoot } from './tools.js';
import { extractFiles, readBaseMedium, readHead } from '../src/remaster/base-medium.js';
import { isoWriteArgs } from '../src/remaster/iso-write.js';
import { squashfsCodec } from '../src/remaster/squashfs-codec.js';

const log = (s: string) => process.stderr.write(`bench-remaster: ${s}\n`);
const cli = join(repoRoot, 'bin', 'casper-snapshot.js');

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

function ok(m: Measurement, what: string): Measurement {
  if (m.exitCode !== 0) throw new Error(`${what} exited ${m.exitCode}: ${m.stderr}`);
  return m;
}

interface Options {
  base?: string;
  source?: string;
  reps: number;
  jobs: number;
  workdir: string;
}

/** The remaster test's live ISO and its root mounted as an overlay under `work` (unmounted by the caller). */
function defaultInputs(work: string): { base: string; source: string; unmount: () => void } {
  const r = spawnSync('bash', [join(repoRoot, 'scripts', 'live-iso.sh')], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`scripts/live-iso.sh failed (${r.status}): ${r.stderr.slice(-2000)}`);
  const dir = r.stdout.trim().split('\n').pop()!;
  const root = join(work, 'root');
  mkdirSync(root, { recursive: true });
  sh('mount', [
    '-t',
    'overlay',
    'bench-remaster',
    '-o',
    `ro,lowerdir=${join(dir, 'root-extra')}:${join(dir, 'vm-root')}`,
    root,
  ]);
  return { base: join(dir, 'base.iso'), source: root, unmount: () => sh('umount', [root]) };
}

async function main(): Promise<void> {
  const o = new Command()
    .option('--base <iso>', "the base ISO (default: the remaster test's live ISO, scripts/live-iso.sh)")
    .option('--source <dir>', "the new root (default: that ISO's own root)")
    .option('--reps <n>', 'runs of each route', (v) => Number(v), 3)
    .option('--jobs <n>', 'threads for both routes', (v) => Number(v), availableParallelism())
    .option('--workdir <dir>', 'where the images and ISOs are written', '/var/tmp')
    .parse()
    .opts<Options>();
  const work = mkdtempSync(join(o.workdir, 'casper-bench-remaster-'));
  let unmount = () => {};
  try {
    let base = o.base;
    let source = o.source;
    if (!base || !source) {
      const d = defaultInputs(work);
      base ??= d.base;
      source ??= d.source;
      unmount = d.unmount;
    }
    const medium = await readBaseMedium('xorriso', base);
    const squashfsPath = medium.files.has('/casper/filesystem.squashfs')
      ? '/casper/filesystem.squashfs'
      : '/live/filesystem.squashfs';
    const dir = squashfsPath.replace(/\/filesystem\.squashfs$/, '');
    const small = mkdtempSync(join(work, 'small-'));
    const sumsPath = ['/md5sum.txt', '/sha256sum.txt'].find((p) => medium.files.has(p)) ?? null;
    const manifestPath =
      [`${dir}/filesystem.manifest`, `${dir}/filesystem.packages`].find((p) => medium.files.has(p)) ?? null;
    const got = await extractFiles(medium, sumsPath ? [sumsPath] : [], small);
    const head = await readHead(medium, squashfsPath, 96, small);
    const codec = squashfsCodec(head) ?? { compressor: 'gzip', blockSize: 131072 };
    log(
      `base ${base} (${(medium.bytes / 2 ** 20).toFixed(0)} MiB, ${squashfsPath} ${codec.compressor} ${codec.blockSize / 1024}K); root ${source}; ${o.jobs} jobs, ${o.reps} reps`,
    );

    const auto: Measurement[] = [];
    const manual: { total: number; mksquashfs: number; files: number; xorriso: number }[] = [];
    const runRemaster = async () => {
      const out = join(work, 'remaster.iso');
      rmSync(out, { force: true });
      syncAll();
      const m = ok(
        await measure(
          process.execPath,
          [cli, 'remaster', '--from-iso', base!, '--source', source!, '--no-scrub', '-j', String(o.jobs), '-q', out],
          process.env,
        ),
        'casper-snapshot remaster',
      );
      auto.push(m);
      return statSync(out).size;
    };
    const runManual = async () => {
      const sq = join(work, 'manual.squashfs');
      const out = join(work, 'manual.iso');
      rmSync(out, { force: true });
      syncAll();
      // 1. The image: mksquashfs with the base image's codec and block size, the same threads.
      const a = ok(
        await measure(
          'mksquashfs',
          [
            source!,
            sq,
            '-noappend',
            '-quiet',
            '-no-progress',
            '-comp',
            codec.compressor,
            '-b',
            String(codec.blockSize),
            '-processors',
            String(o.jobs),
          ],
          process.env,
        ),
        'mksquashfs',
      );
      // 2. The size, the package list, the checksum lines of the changed files.
      const files = new Map<string, string>([[squashfsPath, sq]]);
      const script = [
        `du -sx -B1 '${source}' | cut -f1 > '${work}/size'`,
        manifestPath ? `dpkg-query --admindir='${source}/var/lib/dpkg' -W > '${work}/packages'` : 'true',
        sumsPath
          ? `cp '${got.get(sumsPath)}' '${work}/sums' && chmod u+w '${work}/sums' && for f in '${sq}:.${squashfsPath}' '${work}/size:.${dir}/filesystem.size'${manifestPath ? ` '${work}/packages:.${manifestPath}'` : ''}; do h=$(${sumsPath.includes('md5') ? 'md5sum' : 'sha256sum'} "\${f%%:*}" | cut -d' ' -f1); p="\${f#*:}"; sed -i "s|^[0-9a-f]*  $p\\$|$h  $p|" '${work}/sums'; done`
          : 'true',
      ].join(' && ');
      const b = ok(await measure('sh', ['-c', script], process.env), 'the size, manifest and checksum steps');
      if (medium.files.has(`${dir}/filesystem.size`)) files.set(`${dir}/filesystem.size`, join(work, 'size'));
      if (manifestPath) files.set(manifestPath, join(work, 'packages'));
      if (sumsPath) files.set(sumsPath, join(work, 'sums'));
      // 3. xorriso with the remaster's own options.
      const args = isoWriteArgs({ base: medium, output: out, files, remove: [], label: null, fileTime: null });
      const c = ok(
        await measure('xorriso', ['-iso_rr_pattern', 'off', '-disk_pattern', 'off', ...args], process.env),
        'xorriso',
      );
      manual.push({ total: a.wallS + b.wallS + c.wallS, mksquashfs: a.wallS, files: b.wallS, xorriso: c.wallS });
      rmSync(sq, { force: true });
      return statSync(out).size;
    };
    // A warm-up of each (page cache), then the runs interleaved.
    await runRemaster();
    await runManual();
    auto.length = 0;
    manual.length = 0;
    let sizes = { auto: 0, manual: 0 };
    for (let i = 0; i < o.reps; i++) {
      sizes = { auto: await runRemaster(), manual: await runManual() };
      log(`rep ${i + 1}: remaster ${auto.at(-1)!.wallS.toFixed(2)} s, manual ${manual.at(-1)!.total.toFixed(2)} s`);
    }
    const ra = median(auto.map((m) => m.wallS))!;
    const rm = median(manual.map((m) => m.total))!;
    const lines = [
      `remaster bench: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${o.jobs} jobs, ${codec.compressor} ${codec.blockSize / 1024}K, ${o.reps} reps (medians, warm cache)`,
      `base ${base}; root ${source}`,
      '',
      '| route | wall s | detail | ISO MiB |',
      '|---|---:|---|---:|',
      `| casper-snapshot remaster --no-scrub | ${ra.toFixed(2)} | CPU ${median(auto.map((m) => (m.userS ?? 0) + (m.sysS ?? 0)))!.toFixed(2)} s | ${(sizes.auto / 2 ** 20).toFixed(1)} |`,
      `| mksquashfs + du/dpkg-query/sha256sum + xorriso | ${rm.toFixed(2)} | mksquashfs ${median(manual.map((m) => m.mksquashfs))!.toFixed(2)}, files ${median(manual.map((m) => m.files))!.toFixed(2)}, xorriso ${median(manual.map((m) => m.xorriso))!.toFixed(2)} | ${(sizes.manual / 2 ** 20).toFixed(1)} |`,
      '',
      `manual / remaster: ${(rm / ra).toFixed(2)}× (above 1: remaster is faster)`,
    ];
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    unmount();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`bench-remaster: ${err instanceof Error ? err.message : err}\n`);
  process.exitCode = 1;
});
