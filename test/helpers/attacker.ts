// An ordinary user on the same machine: `nobody` (uid/gid 65534) runs the attacker's actions through
// setpriv, with no supplementary groups, so a test proves what a user without privileges can do to a root run.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
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
export const attackerEnv = (): NodeJS.ProcessEnv => ({
  ...process.env,
  PATH: '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin',
  HOME: '/',
});

const asAttacker = (cmd: string, args: string[]) => [
  '--reuid',
  String(ATTACKER.uid),
  '--regid',
  String(ATTACKER.gid),
  '--clear-groups',
  '--',
  cmd,
  ...args,
];

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

/**
 * A FUSE filesystem mounted by the attacker without allow_other, as fusermount3 lets any desktop user do (sshfs,
 * AppImage, squashfuse): squashfuse serving an image of `content`, run as nobody, mounted at `at` with
 * user_id=65534. Root then gets EACCES even on lstat of the mount point. This machine's /dev/fuse may be root's
 * only (0600), so root opens it and hands the descriptor to nobody's daemon (libfuse's /dev/fd/N mount point).
 * Returns the unmount function, or the reason it cannot be done here.
 */
export async function attackerFuseMount(at: string, content: string, scratch: string): Promise<(() => void) | string> {
  const img = fuseImage(content, scratch);
  if (!img.startsWith('/')) return img;
  const unmount = await attackerFuseMountImage(at, img);
  if (typeof unmount === 'string') return unmount;
  return () => {
    unmount();
    rmSync(img, { force: true });
  };
}

/** The image a FUSE mount serves (made once, mounted many times); or why it cannot be made. */
export function fuseImage(content: string, scratch: string): string {
  if (!has('squashfuse') || !has('mksquashfs')) return 'squashfuse or mksquashfs is not installed';
  if (!existsSync('/dev/fuse')) return 'no /dev/fuse';
  const img = join(scratch, `fuse-${Date.now()}-${Math.floor(Math.random() * 1e6)}.sqfs`);
  const mk = run('mksquashfs', [content, img, '-noappend', '-quiet', '-no-progress']);
  if (mk.status !== 0) return `mksquashfs failed: ${mk.stderr}`;
  chmodSync(img, 0o644);
  return img;
}

/** attackerFuseMount() of an image fuseImage() made. */
export async function attackerFuseMountImage(at: string, img: string): Promise<(() => void) | string> {
  const script = `exec 3<>/dev/fuse && mount -i -t fuse.squashfuse -o fd=3,rootmode=40000,user_id=${ATTACKER.uid},group_id=${ATTACKER.gid},nosuid,nodev squashfuse '${at}' && exec setpriv --reuid ${ATTACKER.uid} --regid ${ATTACKER.gid} --clear-groups -- squashfuse -f '${img}' /dev/fd/3`;
  const daemon = spawn('bash', ['-c', script], { stdio: ['ignore', 'ignore', 'pipe'], env: attackerEnv() });
  let err = '';
  daemon.stderr!.on('data', (d) => (err += d));
  const mounted = () =>
    readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .some((l) => l.split(' ')[4] === at && / - fuse\.squashfuse /.test(l));
  for (let i = 0; i < 100 && !mounted() && daemon.exitCode === null; i++) await new Promise((r) => setTimeout(r, 50));
  if (!mounted()) {
    daemon.kill('SIGKILL');
    return `the FUSE mount could not be made here: ${err.trim() || `exit ${daemon.exitCode}`}`;
  }
  return () => {
    run('umount', ['-l', at]);
    daemon.kill('SIGKILL');
  };
}
