// Running xorriso (the Debian/Ubuntu package xorriso), the one program remaster needs besides itself: ISO
// 9660 needs every file's size and place before the first byte is written, and replaying a medium's boot
// records (El Torito, MBR/GPT hybrids, appended partitions) is what xorriso does. Every call here is
// asynchronous (the caller's event loop keeps turning) and can be stopped with an AbortSignal.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { AbortError, CasperError } from '../errors.js';

/** Children still running, so a signal handler can stop them (their temporary output is removed by the caller). */
const running = new Set<ChildProcess>();

/** Stops every xorriso this process started (for signal handlers). */
export function stopAllXorriso(): void {
  for (const c of running) c.kill('SIGTERM');
}

function executable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The xorriso to run: the one given, or the first on PATH. A clear error when there is none. */
export function findXorriso(given?: string): string {
  if (given !== undefined) {
    if (executable(given)) return given;
    throw new CasperError(`xorriso '${given}' cannot be run`, 'ENOXORRISO', { path: given });
  }
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  for (const d of dirs) if (executable(join(d, 'xorriso'))) return join(d, 'xorriso');
  throw new CasperError(
    'remaster writes the ISO with xorriso, which is not installed: install the package xorriso (apt install xorriso) and run it again',
    'ENOXORRISO',
  );
}

export interface XorrisoResult {
  stdout: string;
  stderr: string;
}

export interface XorrisoCall {
  signal?: AbortSignal;
  /** Each line xorriso writes on stderr (its messages and progress), as it comes. */
  onMessage?: (line: string) => void;
  /** What the failure message says was being done ("reading the base medium …"). */
  what: string;
  /** Added to the environment (SOURCE_DATE_EPOCH). */
  env?: Record<string, string>;
}

/** The last lines xorriso said about a failure (its FAILURE/SORRY lines first). */
function failureText(stderr: string): string {
  const lines = stderr.split('\n').filter((l) => l.trim() !== '');
  const bad = lines.filter((l) => /: (FAILURE|SORRY|FATAL|MISHAP) :/.test(l));
  return (bad.length ? bad : lines).slice(-6).join('; ');
}

/**
 * Paths taken literally: without these xorriso expands wildcards in ISO and disk paths of -rm, -map, -extract …
 * (a medium file named with a '*' would stand for others).
 */
const LITERAL = ['-iso_rr_pattern', 'off', '-disk_pattern', 'off'];

/** Runs xorriso with `args` (native commands); rejects with its own words when it fails. */
export function runXorriso(bin: string, args: string[], call: XorrisoCall): Promise<XorrisoResult> {
  args = [...LITERAL, ...args];
  if (call.signal?.aborted) return Promise.reject(new AbortError('remaster aborted'));
  return new Promise((resolve, reject) => {
    // C locale: messages and progress lines in the words this module parses.
    const child = spawn(bin, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...call.env, LC_ALL: 'C' },
    });
    running.add(child);
    const out: Buffer[] = [];
    let err = '';
    let partial = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => {
      const text = d.toString('utf8');
      err += text;
      if (err.length > 1 << 20) err = err.slice(-(1 << 19)); // the tail is what a failure needs
      if (!call.onMessage) return;
      const lines = (partial + text).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) call.onMessage(l);
    });
    const onAbort = () => child.kill('SIGTERM');
    call.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (e) => {
      running.delete(child);
      call.signal?.removeEventListener('abort', onAbort);
      reject(
        new CasperError(`cannot run xorriso (${bin}) for ${call.what}: ${e.message}`, 'ENOXORRISO', {
          path: bin,
          cause: e,
        }),
      );
    });
    child.on('close', (code, sig) => {
      running.delete(child);
      call.signal?.removeEventListener('abort', onAbort);
      if (partial && call.onMessage) call.onMessage(partial);
      if (call.signal?.aborted) return reject(new AbortError('remaster aborted'));
      const stdout = Buffer.concat(out).toString('utf8');
      if (code === 0) return resolve({ stdout, stderr: err });
      const how = sig ? `was stopped by ${sig}` : `exited ${code}`;
      reject(new CasperError(`xorriso ${how} while ${call.what}: ${failureText(err) || 'no message'}`, 'EXORRISO'));
    });
  });
}

/**
 * How a base is named to -indev: as a plain random-access file ("stdio:"), whether it is an ISO file or a
 * device. A device named bare is taken for an optical drive (or refused: "not MMC"), and a drive's exclusive
 * open fails while the live system has it mounted; a stdio: device is only read.
 */
export const indev = (iso: string) => `stdio:${iso}`;
