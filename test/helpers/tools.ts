// Running external programs and the CLI from tests.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const cliPath = join(repoRoot, 'bin', 'casper-snapshot.js');

export interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string } = {}): Run {
  const r: SpawnSyncReturns<string> = spawnSync(cmd, args, {
    encoding: 'utf8',
    maxBuffer: 512 * 1024 * 1024,
    env: opts.env ?? process.env,
    input: opts.input,
  });
  if (r.error) throw r.error;
  // Under scripts/sanitize.sh, UBSan reports only go to the child's stderr (gcc's libubsan ignores log_path
  // when libasan is preloaded): fail on them here, even where a test expects the child to fail.
  if (SANITIZER_REPORT.test(r.stderr))
    throw new Error(`${cmd} ${args.join(' ')} printed a sanitizer report:\n${r.stderr.slice(0, 20000)}`);
  return { status: r.status ?? (r.signal ? 128 : 1), stdout: r.stdout, stderr: r.stderr };
}

const SANITIZER_REPORT =
  /: runtime error: |ERROR: AddressSanitizer|ERROR: UndefinedBehaviorSanitizer|ERROR: LeakSanitizer/;

/** Runs a program and throws with its output when it fails. */
export function must(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): string {
  const r = run(cmd, args, opts);
  if (r.status !== 0)
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}\n${r.stderr}\n${r.stdout}`.slice(0, 4000));
  return r.stdout;
}

export function cli(args: string[], env: NodeJS.ProcessEnv = {}): Run {
  return run(process.execPath, [cliPath, ...args], { env: { ...process.env, ...env } });
}

/**
 * The environment without the sanitizer runtime that scripts/sanitize.sh preloads: for programs run inside a
 * chroot or a container, where LeakSanitizer cannot read /proc and aborts them. Our addon is not in them.
 */
export function withoutSanitizer(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const out = { ...env };
  for (const k of ['LD_PRELOAD', 'ASAN_OPTIONS', 'LSAN_OPTIONS', 'UBSAN_OPTIONS']) delete out[k];
  return out;
}

export function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}
