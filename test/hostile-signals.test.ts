// A SIGTERM (systemd's stop timeout at shutdown) ends any run within 5 s, whatever native work is under way —
// the walk, a -regex against a hostile name, the data phase, --verify's read-back, the restore proof — and leaves
// nothing behind: no temporary image, no /tmp/casper-restore-*, no child process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { needs } from './helpers/capabilities.js';
import { tempDir } from './helpers/image-check.js';
import { bytes, file } from './helpers/make-tree.js';
import { cliPath, run } from './helpers/tools.js';
import { liveSession, sessionChanges } from './helpers/live-session.js';

const timing = process.env.CASPER_SANITIZE === '1' ? 'timing means nothing under the sanitizers' : false;

/** Pids of the processes below `pid` (children, grandchildren…), from /proc. */
function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const n of readdirSync('/proc')) {
    if (!/^\d+$/.test(n)) continue;
    try {
      const stat = readFileSync(`/proc/${n}/stat`, 'utf8');
      parent.set(Number(n), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      /* gone */
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const [c, pp] of parent) {
      if (pp !== p) continue;
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

const alive = (pid: number) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\S+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
};

/**
 * Runs the CLI (TMPDIR private), waits until ready(stderr, tmpdir) says the phase is under way, waits waitMs more,
 * sends SIGTERM; the exit code, how long the process took to end, and what is left in TMPDIR and of its children.
 */
async function sigtermDuring(
  args: string[],
  ready: (stderr: string, tmp: string) => boolean,
  scratch: string,
  waitMs = 300,
) {
  const tmp = mkdtempSync(join(scratch, 'tmpdir-'));
  chmodSync(tmp, 0o700);
  const child = spawn(process.execPath, [cliPath, ...args, '--progress'], {
    env: { ...process.env, TMPDIR: tmp },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  const t0 = Date.now();
  while (!ready(stderr, tmp)) {
    if (child.exitCode !== null) assert.fail(`the run ended before the phase: ${stderr}`);
    if (Date.now() - t0 > 120_000) assert.fail(`the phase never began: ${stderr.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  await new Promise((r) => setTimeout(r, waitMs));
  const kids = descendants(child.pid!);
  const k = Date.now();
  child.kill('SIGTERM');
  const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const code = await exited;
  const ms = Date.now() - k;
  clearTimeout(killer);
  await new Promise((r) => setTimeout(r, 200)); // children see their pipe close
  return { code, ms, stderr, left: readdirSync(tmp), kids: kids.filter(alive) };
}

function assertStopped(r: Awaited<ReturnType<typeof sigtermDuring>>, outDir: string, what: string): void {
  assert.equal(r.code, 143, `${what}: ${r.stderr.slice(-1500)}`);
  assert.ok(r.ms < 5000, `${what}: the process lived ${r.ms} ms after SIGTERM`);
  assert.deepEqual(r.left, [], `${what}: left in TMPDIR`);
  assert.deepEqual(r.kids, [], `${what}: child processes left running`);
  assert.deepEqual(
    readdirSync(outDir).filter((n) => n.includes('.tmp-')),
    [],
    `${what}: a temporary image is left`,
  );
}

test(
  'point 10: SIGTERM during the restore proof ends the run within 5 s; no /tmp/casper-restore-*, no namespace holder left',
  { skip: needs('root', 'loop', 'squashfs-tools') || timing },
  async () => {
    const s = liveSession();
    try {
      sessionChanges(s.merged);
      // Enough for the proof to take seconds: it reads every file the image holds, in both views.
      for (let d = 0; d < 30; d++)
        for (let i = 0; i < 400; i++)
          file(join(s.merged, 'home/user/many', `d${d}`, `f${i}`), `file ${d} ${i}\n`.repeat(40));
      for (let i = 0; i < 60; i++) file(join(s.merged, 'home/user', `big${i}`), bytes(1 << 20, i, 64));
      const outDir = join(s.t, 'out');
      mkdirSync(outDir);
      const r = await sigtermDuring(
        ['--root', s.merged, '--mode', 'upper', '--verify', join(outDir, 'o.sqfs')],
        (_, tmp) => readdirSync(tmp).some((n) => n.startsWith('casper-restore-')),
        s.t,
      );
      assertStopped(r, outDir, 'restore proof');
    } finally {
      s.cleanup();
    }
  },
);

test(
  'point 10: SIGTERM while a -regex runs (glibc backtracks on a back-reference against a hostile name) ends the run within 5 s',
  { skip: needs('root') || timing },
  async () => {
    const t = tempDir('cs-sig-');
    try {
      const src = join(t, 'src');
      file(join(src, `${'a'.repeat(60)}b`), 'x');
      const r = await sigtermDuring(
        ['--source', src, join(t, 'o.sqfs'), '-regex', '-e', '^((a|aa)+)\\1+b$'],
        (stderr) => /^walk /m.test(stderr),
        t,
      );
      assert.doesNotMatch(r.stderr, /^data /m, 'the regex finished: the test proves nothing');
      assertStopped(r, t, 'regex');
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  },
);

test(
  "point 10: SIGTERM during the walk, the data phase and --verify's read-back ends the run within 5 s",
  { skip: needs('root') || timing },
  async () => {
    const t = tempDir('cs-sig-');
    try {
      const src = join(t, 'src');
      // A wide tree (a walk of seconds), then data that takes seconds to compress and to read back.
      const py = `import os,sys\nfor d in range(50):\n  p=os.path.join(sys.argv[1],'w%03d'%d); os.makedirs(p)\n  for i in range(1000): open(os.path.join(p,'f%04d'%i),'w').close()\n`;
      run('python3', ['-c', py, src]);
      for (let i = 0; i < 12; i++) writeFileSync(join(src, `data${i}`), bytes(4 << 20, i, 64));
      const args = [
        '--source',
        src,
        join(t, 'o.sqfs'),
        '-j',
        '1',
        '-comp',
        'xz',
        '--compression-level',
        '0',
        '--verify',
        '--no-space-check',
      ];
      for (const [phase, ready, waitMs] of [
        ['walk', (e: string) => /^walk /m.test(e), 0],
        ['data', (e: string) => /^data /m.test(e), 300],
        ['verify', (e: string) => /^verify /m.test(e), 300],
      ] as const) {
        const r = await sigtermDuring(args, ready, t, waitMs);
        assertStopped(r, t, phase);
      }
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  },
);
