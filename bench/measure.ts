// Measuring one run of a program: wall time, CPU time (user + sys) and peak RSS of the child, plus helpers
// for statistics and for sizing a tree.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { type Stats, existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Measurement {
  /** Wall-clock seconds, measured here around the child (monotonic clock). */
  wallS: number;
  /** CPU seconds of the child and its descendants, null when no CPU meter is available. */
  userS: number | null;
  sysS: number | null;
  /** Peak resident set of the child (largest of the process tree) in KiB, null when unknown. */
  maxRssKiB: number | null;
  /** CPU seconds all processes on the machine spent while the child ran (/proc/stat), null off Linux. */
  machineCpuS: number | null;
  exitCode: number;
  signal: string | null;
  /** The last few KiB of the child's stderr and stdout, verbatim. */
  stderr: string;
  stdout: string;
}

/** How the CPU time and peak RSS of a child are read. */
export type Meter = 'gnu-time' | 'python3-rusage' | 'none';

function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

let meterCache: Meter | undefined;

/** /usr/bin/time (GNU time, Debian package `time`) when present, else a python3 getrusage wrapper, else none. */
export function meter(): Meter {
  if (meterCache) return meterCache;
  if (existsSync('/usr/bin/time') && spawnSync('/usr/bin/time', ['-f', '%e', 'true'], { stdio: 'ignore' }).status === 0)
    meterCache = 'gnu-time';
  else if (has('python3')) meterCache = 'python3-rusage';
  else meterCache = 'none';
  return meterCache;
}

// Runs argv[1:] and writes "user sys maxrss_kib" of the waited-for children to the file in argv[0].
const PY_RUSAGE = [
  'import os, resource, subprocess, sys',
  'r = subprocess.call(sys.argv[2:])',
  'u = resource.getrusage(resource.RUSAGE_CHILDREN)',
  "open(sys.argv[1], 'w').write('%f %f %d\\n' % (u.ru_utime, u.ru_stime, u.ru_maxrss))",
  'sys.exit(r if r >= 0 else 128 - r)',
].join('\n');

let current: ChildProcess | undefined;

/** Stops the run in progress, if any, with its whole process group: SIGTERM, then SIGKILL after 5 s. */
export function killRunning(): void {
  if (current?.pid === undefined) return;
  const pid = current.pid;
  const kill = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      /* already gone */
    }
  };
  kill('SIGTERM'); // lets casper-snapshot remove its temporary file
  setTimeout(() => kill('SIGKILL'), 5000).unref();
}

const TAIL = 8192;

/** Busy CPU seconds of the whole machine since boot (all CPUs; idle and iowait excluded), null off Linux. */
export function machineBusyS(): number | null {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already inside user)
    const busy = f[0] + f[1] + f[2] + f[5] + f[6] + f[7];
    return busy / 100; // USER_HZ is 100 on Linux
  } catch {
    return null;
  }
}

/**
 * Runs cmd with args once and measures it. Never throws for a failing child: the exit code is recorded.
 * fullStdout: keep all of stdout (a JSON report), not only its last few KiB.
 */
export function measure(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  opts: { fullStdout?: boolean } = {},
): Promise<Measurement> {
  const m = meter();
  const dir = mkdtempSync(join(tmpdir(), 'casper-bench-m-'));
  const statFile = join(dir, 'rusage');
  let argv: string[];
  if (m === 'gnu-time') argv = ['/usr/bin/time', '-o', statFile, '-f', '%U %S %M', cmd, ...args];
  else if (m === 'python3-rusage') argv = ['python3', '-c', PY_RUSAGE, statFile, cmd, ...args];
  else argv = [cmd, ...args];
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    const busy0 = machineBusyS();
    const t0 = process.hrtime.bigint();
    // its own process group, so that stopping it reaches the measured program under the meter too
    const child = spawn(argv[0], argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    current = child;
    child.stdout
      .setEncoding('utf8')
      .on('data', (s: string) => (stdout = opts.fullStdout ? stdout + s : (stdout + s).slice(-TAIL)));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr = (stderr + s).slice(-TAIL)));
    child.on('error', (err) => {
      current = undefined;
      rmSync(dir, { recursive: true, force: true });
      reject(err);
    });
    child.on('close', (code, signal) => {
      const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
      const busy1 = machineBusyS();
      const machineCpuS = busy0 !== null && busy1 !== null ? busy1 - busy0 : null;
      current = undefined;
      let userS: number | null = null;
      let sysS: number | null = null;
      let maxRssKiB: number | null = null;
      let exitCode = code ?? 128;
      if (m !== 'none' && existsSync(statFile)) {
        const text = readFileSync(statFile, 'utf8').trim();
        // GNU time prefixes "Command exited with non-zero status N" when the child fails.
        const last = text.split('\n').pop() ?? '';
        const f = last.trim().split(/\s+/).map(Number);
        if (f.length === 3 && f.every((x) => Number.isFinite(x))) [userS, sysS, maxRssKiB] = f;
        const failed = /Command (?:exited with non-zero status|terminated by signal) (\d+)/.exec(text);
        if (failed && exitCode === 0) exitCode = Number(failed[1]);
      }
      rmSync(dir, { recursive: true, force: true });
      resolve({ wallS, userS, sysS, maxRssKiB, machineCpuS, exitCode, signal: signal ?? null, stderr, stdout });
    });
  });
}

/** Flushes dirty pages of earlier runs, so that one tool's write-back is not charged to the next. */
export function syncAll(): void {
  spawnSync('sync', [], { stdio: 'ignore' });
}

export function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export interface TreeStats {
  files: number;
  dirs: number;
  symlinks: number;
  other: number;
  /** Bytes of regular files, each hard-linked inode counted once. */
  bytes: number;
}

/** Walks a tree without following symlinks. */
export function treeStats(root: string): TreeStats {
  const st: TreeStats = { files: 0, dirs: 0, symlinks: 0, other: 0, bytes: 0 };
  const seen = new Set<string>();
  const stack = [root];
  while (stack.length) {
    const d = stack.pop() as string;
    st.dirs++;
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      continue;
    }
    for (const n of names) {
      const p = join(d, n);
      let s: Stats;
      try {
        s = lstatSync(p, { bigint: false });
      } catch {
        continue;
      }
      if (s.isDirectory()) stack.push(p);
      else if (s.isSymbolicLink()) st.symlinks++;
      else if (s.isFile()) {
        st.files++;
        if (s.nlink > 1) {
          const key = `${s.dev}:${s.ino}`;
          if (seen.has(key)) continue;
          seen.add(key);
        }
        st.bytes += s.size;
      } else st.other++;
    }
  }
  return st;
}
