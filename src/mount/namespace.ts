// A private mount namespace held by a child process: every mount the tool makes for itself (diff mode's
// lower view, the restore proof's stack) is made there, never in the system's namespace, so nothing is left
// behind whatever ends the run — SIGKILL included: the child waits on a pipe from us and exits when we do,
// and its namespace and every mount in it go with it.
//
// Node runs several threads, so it must not unshare itself: util-linux's unshare makes the namespace, mounts
// are made in it with nsenter, and our own code reaches them through /proc/PID/root.
import { spawn } from 'node:child_process';
import { CasperError, toCasperError } from '../errors.js';

/** unshare or nsenter is missing, or the namespace cannot be made (an unprivileged container, say). */
export class NamespaceUnavailable extends Error {}

export class MountNamespace {
  private constructor(
    private readonly child: ReturnType<typeof spawn>,
    readonly pid: number,
  ) {}

  static open(): Promise<MountNamespace> {
    return new Promise((resolve, reject) => {
      // The shell says when unshare has made the namespace, then waits for the end of stdin (our close, or our death).
      const child = spawn(
        'unshare',
        ['--mount', '--propagation', 'private', '--', 'sh', '-c', 'echo ready && exec cat >/dev/null'],
        { stdio: ['pipe', 'pipe', 'pipe'] },
      );
      let out = '';
      let err = '';
      child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('ready\n')) resolve(new MountNamespace(child, child.pid!));
      });
      child.on('error', (e: NodeJS.ErrnoException) =>
        reject(
          e.code === 'ENOENT' ? new NamespaceUnavailable("util-linux's unshare is not installed") : toCasperError(e),
        ),
      );
      child.on('exit', (code) =>
        reject(
          new NamespaceUnavailable(`cannot make a private mount namespace (unshare exited ${code}: ${err.trim()})`),
        ),
      );
    });
  }

  /** A path of this namespace, as seen from ours. */
  path(p: string): string {
    return `/proc/${this.pid}/root${p}`;
  }

  /** Runs mount(8) inside the namespace; a failure is an EMOUNT error naming what was mounted. */
  mount(args: string[], what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const c = spawn('nsenter', ['--target', String(this.pid), '--mount', '--', 'mount', ...args], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let err = '';
      c.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      c.on('error', (e: NodeJS.ErrnoException) =>
        reject(
          e.code === 'ENOENT' ? new NamespaceUnavailable("util-linux's nsenter is not installed") : toCasperError(e),
        ),
      );
      c.on('exit', (code) =>
        code === 0
          ? resolve()
          : reject(
              new CasperError(`cannot mount ${what}: ${err.trim() || `mount exited ${code}`}`, 'EMOUNT', {
                syscall: 'mount',
              }),
            ),
      );
    });
  }

  /** Ends the child (its namespace and every mount in it go with it) and waits for it. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) return resolve();
      const kill = setTimeout(() => this.child.kill('SIGKILL'), 5000);
      this.child.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      this.child.stdin!.end();
    });
  }
}
