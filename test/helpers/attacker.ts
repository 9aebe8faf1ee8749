// An ordinary user on the same machine: `nobody` (uid/gid 65534) runs the attacker's actions through
// setpriv, with no supplementary groups, so a test proves what a user without privileges can do to a root run.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync } from 'node:fs';
import { has, run, type Run } from './tools.js';

export const ATTACKER = { uid: 65534, gid: 65534 };

/** Why attacker tests cannot run here, or false. */
export function attackerMissing(): string | false {
  if (process.getuid?.() !== 0) return 'needs root (to act as another user)';
  if (!has('setpriv')) return "util-linux's setpriv is not installed";
  if (run('id', ['-u', 'nobody']).stdout.trim() !== String(ATTACKER.uid)) return 'no user nobody with uid 65534';
  return false;
}

/** The attacker's environment: root's PATH may name directories nobody can enter (~root/.pyenv). */
export const attackerEnv = (): NodeJS.ProcessEnv => ({ ...process.env, PATH: '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin', HOME: '/' });

const asAttacker = (cmd: string, args: string[]) => ['--reuid', String(ATTACKER.uid), '--regid', String(ATTACKER.gid), '--clear-groups', '--', cmd, ...args];

/** Runs a command as the attacker and waits for it. */
export function attacker(cmd: string, args: string[]): Run {
  return run('setpriv', asAttacker(cmd, args), { env: attackerEnv() });
}

/** Runs a command as the attacker and throws with its output when it fails. */
export function attackerMust(cmd: string, args: string[]): string {
  const r = attacker(cmd, args);
  if (r.status !== 0) throw new Error(`as nobody: ${cmd} ${args.join(' ')} exited ${r.status}\n${r.stderr}`);
  return r.stdout;
}

/** Starts a long-running command as the attacker (kill it when done). */
export function attackerSpawn(cmd: string, args: string[]): ChildProcess {
  return spawn('setpriv', asAttacker(cmd, args), { stdio: ['ignore', 'pipe', 'pipe'], env: attackerEnv() });
}

/** A directory the attacker owns and can write (mode 0755), for planting things beside an output. */
export function attackerDir(path: string): string {
  mkdirSync(path, { recursive: true });
  chownSync(path, ATTACKER.uid, ATTACKER.gid);
  chmodSync(path, 0o755);
  return path;
}
