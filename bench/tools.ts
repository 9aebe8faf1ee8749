// The three writers and how each is asked for the same image: compressor, level, block size and threads.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file runs from dist/bench/). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const COMPRESSORS = ['gzip', 'xz', 'zstd', 'lz4', 'lzo'] as const;

export interface Settings {
  comp: string;
  /** Forced level (--level, or mksquashfs's default on every tool: levelMatched); undefined: each tool's default. */
  level?: number;
  /** The level is the one every tool gets by default (matched), not one given with --level. */
  levelMatched?: boolean;
  blockSize: number;
  jobs: number;
  /** lz4 only: high-compression mode on every tool (mksquashfs -Xhc, gensquashfs -X hc, --lz4-hc). */
  hc?: boolean;
  /** casper-snapshot also prints its --json report (its phase times and pipeline figures, for --targets). */
  report?: boolean;
}

/** The compressor as reports name it: "lz4 -Xhc" for lz4's high-compression mode. */
export function compLabel(s: Settings): string {
  return s.hc ? `${s.comp} -Xhc` : s.comp;
}

export interface Level {
  /** The level the tool compresses at, or null where the compressor has no level in this tool. */
  level: number | null;
  /** Where the number comes from: 'forced' (--level), 'default' (the tool's own help text or addon), or an explanation. */
  source: string;
}

export interface Tool {
  name: 'casper-snapshot' | 'mksquashfs' | 'gensquashfs' | 'casper-snapshot (executable)';
  /** true, or why the tool cannot run here. */
  available: true | string;
  version: string;
  compressors: string[];
  /** The level the tool uses for these settings. */
  level(s: Settings): Level;
  argv(src: string, out: string, s: Settings): { cmd: string; args: string[] };
}

function run(cmd: string, args: string[]): { status: number; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 16 << 20 });
  if (r.error) return { status: 127, out: String(r.error.message) };
  return { status: r.status ?? 128, out: `${r.stdout}${r.stderr}` };
}

function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** mksquashfs's level option exists for these compressors only (xz and lz4 have none). */
const MKSQ_LEVELED = new Set(['gzip', 'zstd', 'lzo']);
/** gensquashfs's -X level=N exists for these (lz4 has only `hc`). */
const GEN_LEVELED = new Set(['gzip', 'xz', 'zstd', 'lzo']);
/** Defaults of squashfs-tools 4.5.1 / squashfs-tools-ng 1.2.0, used only when the help text cannot be read. */
const KNOWN_DEFAULTS: Record<string, number> = { gzip: 9, xz: 6, zstd: 15, lzo: 8 };

// ---- casper-snapshot ----------------------------------------------------------------------------------

interface AddonCompressor {
  name: string;
  library?: string;
  defaultLevel?: number;
  levels?: { min: number; max: number; default: number };
}

function casperTool(mksquashfsDefaults: Map<string, number>): Tool {
  const cli = join(repoRoot, 'bin', 'casper-snapshot.js');
  const api = join(repoRoot, 'dist', 'src', 'api', 'index.js');
  let available: true | string = true;
  let compressors: AddonCompressor[] = [];
  let version = 'unknown';
  if (!existsSync(api)) available = `${api} is missing (run npm run build)`;
  else {
    const q = run(process.execPath, [
      '--input-type=module',
      '-e',
      `import { loadAddon } from ${JSON.stringify(api)}; process.stdout.write(JSON.stringify(loadAddon().versions()));`,
    ]);
    if (q.status !== 0) available = `cannot load the addon: ${q.out.trim().slice(0, 500)}`;
    else {
      const v = JSON.parse(q.out) as { addon: string; compressors: AddonCompressor[] };
      compressors = v.compressors;
      const p = run(process.execPath, [cli, '--version']);
      version = p.status === 0 ? p.out.trim().split('\n').slice(0, 2).join('; ') : `addon ${v.addon}`;
    }
  }
  return {
    name: 'casper-snapshot',
    available,
    version,
    compressors: compressors.map((c) => c.name),
    level(s) {
      if (s.comp === 'lz4' && !s.hc) return { level: null, source: 'lz4 has no level' };
      if (s.level !== undefined) return { level: s.level, source: s.levelMatched ? 'matched' : 'forced' };
      if (s.comp === 'lz4') return { level: 9, source: 'default (--lz4-hc: LZ4HC level 9)' };
      const c = compressors.find((x) => x.name === s.comp);
      const d = c?.defaultLevel ?? c?.levels?.default;
      if (d !== undefined) return { level: d, source: 'default (addon)' };
      const m = mksquashfsDefaults.get(s.comp) ?? (s.comp === 'xz' ? KNOWN_DEFAULTS.xz : undefined);
      return m === undefined
        ? { level: null, source: 'unknown' }
        : { level: m, source: 'default (assumed mksquashfs-compatible; the addon does not report it)' };
    },
    argv(src, out, s) {
      const args = [
        cli,
        '--source',
        src,
        out,
        '-comp',
        s.comp,
        '-b',
        String(s.blockSize),
        '--jobs',
        String(s.jobs),
        '-q',
      ];
      if (s.hc && s.comp === 'lz4') args.push('--lz4-hc');
      if (s.level !== undefined && (s.comp !== 'lz4' || s.hc)) args.push('--compression-level', String(s.level));
      if (s.report) args.push('--json');
      return { cmd: process.execPath, args };
    },
  };
}

// ---- mksquashfs (squashfs-tools) ----------------------------------------------------------------------

/** Reads "(default N)" after each compressor's -Xcompression-level in `mksquashfs -help`. */
function mksquashfsDefaults(help: string): Map<string, number> {
  const out = new Map<string, number>();
  const start = help.indexOf('compressor specific options:');
  if (start < 0) return out;
  let comp: string | undefined;
  let inLevel = false;
  for (const line of help.slice(start).split('\n').slice(1)) {
    const head = /^\t(\w+)( \(default\))?\s*$/.exec(line);
    if (head) {
      comp = head[1];
      inLevel = false;
    } else if (!line.startsWith('\t')) break;
    else if (/^\t\s*-X/.test(line)) inLevel = /-Xcompression-level/.test(line);
    else if (inLevel && comp) {
      const m = /\(default (\d+)\)/.exec(line);
      if (m) out.set(comp, Number(m[1]));
    }
  }
  return out;
}

function mksquashfsTool(): { tool: Tool; defaults: Map<string, number> } {
  const available = has('mksquashfs') ? true : 'mksquashfs is not installed (apt install squashfs-tools)';
  let version = 'missing';
  let compressors: string[] = [];
  let defaults = new Map<string, number>();
  if (available === true) {
    version = run('mksquashfs', ['-version']).out.split('\n')[0].trim();
    const help = run('mksquashfs', ['-help']).out;
    const list = /Compressors available:\n((?:\t\t\t\t\w+.*\n)+)/.exec(help);
    compressors = list ? [...list[1].matchAll(/^\t+(\w+)/gm)].map((m) => m[1]) : ['gzip'];
    defaults = mksquashfsDefaults(help);
  }
  const tool: Tool = {
    name: 'mksquashfs',
    available,
    version,
    compressors,
    level(s) {
      if (s.hc && s.comp === 'lz4') return { level: null, source: '-Xhc (LZ4HC default level 9, no level option)' };
      if (!MKSQ_LEVELED.has(s.comp))
        return {
          level: s.comp === 'xz' ? KNOWN_DEFAULTS.xz : null,
          source: s.comp === 'xz' ? 'no level option (xz preset 6 built in)' : `${s.comp} has no level`,
        };
      if (s.level !== undefined) return { level: s.level, source: s.levelMatched ? 'matched' : 'forced' };
      const d = defaults.get(s.comp);
      return d !== undefined
        ? { level: d, source: 'default (mksquashfs -help)' }
        : { level: KNOWN_DEFAULTS[s.comp] ?? null, source: 'default (4.5.1)' };
    },
    argv(src, out, s) {
      const args = [
        src,
        out,
        '-noappend',
        '-comp',
        s.comp,
        '-b',
        String(s.blockSize),
        '-processors',
        String(s.jobs),
        '-no-progress',
        '-quiet',
      ];
      if (s.level !== undefined && MKSQ_LEVELED.has(s.comp)) args.push('-Xcompression-level', String(s.level));
      if (s.hc && s.comp === 'lz4') args.push('-Xhc');
      return { cmd: 'mksquashfs', args };
    },
  };
  return { tool, defaults };
}

// ---- gensquashfs (squashfs-tools-ng) ------------------------------------------------------------------

function gensquashfsTool(): Tool {
  const available = has('gensquashfs') ? true : 'gensquashfs is not installed (apt install squashfs-tools-ng)';
  let version = 'missing';
  let compressors: string[] = [];
  const defaults = new Map<string, number>();
  if (available === true) {
    version = run('gensquashfs', ['--version']).out.split('\n')[0].trim();
    const help = run('gensquashfs', ['--help']).out;
    const list = /Available SquashFS block compressors:\n((?:\t.*\n?)+)/.exec(help);
    compressors = list ? [...list[1].matchAll(/^\t(\w+)/gm)].map((m) => m[1]) : ['gzip'];
    for (const c of compressors.filter((x) => GEN_LEVELED.has(x))) {
      const m = /level=<value>[\s\S]*?[Dd]efaults to (\d+)/.exec(run('gensquashfs', ['-c', c, '-X', 'help']).out);
      if (m) defaults.set(c, Number(m[1]));
    }
  }
  return {
    name: 'gensquashfs',
    available,
    version,
    compressors,
    level(s) {
      if (s.hc && s.comp === 'lz4') return { level: null, source: '-X hc (LZ4HC default level 9, no level option)' };
      if (!GEN_LEVELED.has(s.comp)) return { level: null, source: `${s.comp} has no level` };
      if (s.level !== undefined) return { level: s.level, source: s.levelMatched ? 'matched' : 'forced' };
      const d = defaults.get(s.comp);
      return d !== undefined
        ? { level: d, source: 'default (gensquashfs -X help)' }
        : { level: KNOWN_DEFAULTS[s.comp] ?? null, source: 'default (1.2.0)' };
    },
    argv(src, out, s) {
      // -k keep mtimes, -x keep xattrs, -e export table: what mksquashfs and casper-snapshot store by default.
      // -T no tail-end packing: mksquashfs's and casper-snapshot's default (-no-tailends).
      const args = [
        '-D',
        src,
        '-c',
        s.comp,
        '-b',
        String(s.blockSize),
        '-j',
        String(s.jobs),
        '-q',
        '-f',
        '-k',
        '-x',
        '-e',
        '-T',
      ];
      if (s.level !== undefined && GEN_LEVELED.has(s.comp)) args.push('-X', `level=${s.level}`);
      if (s.hc && s.comp === 'lz4') args.push('-X', 'hc');
      args.push(out);
      return { cmd: 'gensquashfs', args };
    },
  };
}

/** casper-snapshot first: ratios are ours against each of the others. */
/**
 * The shipped single executable (dist-bin/casper-snapshot from npm run package) as a peer of the source build:
 * the same options, its own Node and its own (statically linked) codecs, so a row shows what users get.
 */
export function executableTool(path: string): Tool {
  const v = run(path, ['--version']);
  const available: true | string = v.status === 0 ? true : `${path} does not run: ${v.out.trim().slice(0, 300)}`;
  const source = casperTool(new Map());
  return {
    name: 'casper-snapshot (executable)',
    available,
    version:
      available === true
        ? v.out
            .trim()
            .split('\n')
            .filter((l) => /casper-snapshot|^\s+(gzip|xz|lz4|zstd|lzo)\s/.test(l))
            .map((l) => l.trim())
            .join('; ')
        : 'not run',
    compressors: available === true ? [...v.out.matchAll(/^\s+(gzip|xz|lz4|zstd|lzo)\s/gm)].map((m) => m[1]) : [],
    level: source.level,
    argv(src, out, st) {
      const { args } = source.argv(src, out, st);
      return { cmd: path, args: args.slice(1) }; // the same options without the script path
    },
  };
}

export function discoverTools(): Tool[] {
  const mk = mksquashfsTool();
  return [casperTool(mk.defaults), mk.tool, gensquashfsTool()];
}

export interface DiffResult {
  a: string;
  b: string;
  /** sqfsdiff's exit status: 0 equal, 1 different, 2 problem; null when sqfsdiff is missing. */
  exitCode: number | null;
  pass: boolean;
  /** The start of its report, verbatim. */
  output: string;
  differences: number;
  /** Every reported line is only a basic/extended inode form difference ("… has a basic type"). */
  inodeFormOnly: boolean;
  /** A hash of the whole report, to tell whether two comparisons found the same differences. */
  digest: string;
}

export function sqfsdiff(a: string, b: string): DiffResult {
  if (!has('sqfsdiff'))
    return {
      a,
      b,
      exitCode: null,
      pass: false,
      output: 'sqfsdiff is not installed (apt install squashfs-tools-ng)',
      differences: 0,
      inodeFormOnly: false,
      digest: '',
    };
  const r = spawnSync('sqfsdiff', ['-a', a, '-b', b], { encoding: 'utf8', maxBuffer: 256 << 20 });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  const lines = out.split('\n').filter((l) => l.trim() !== '');
  const inodeFormOnly =
    r.status === 1 && lines.length > 0 && lines.every((l) => / has an? (basic|extended) type$/.test(l));
  return {
    a,
    b,
    exitCode: r.status,
    pass: r.status === 0,
    output: lines.slice(0, 20).join('\n'),
    differences: lines.length,
    inodeFormOnly,
    digest: createHash('sha256').update(lines.join('\n')).digest('hex').slice(0, 16),
  };
}
