// --verify's restore proof (upper and diff modes, as root): the new image is stacked over the live system's
// lower layers as persistence stacks it at the next boot (casper's zz-TAG.squashfs, live-boot's persistence
// image: the topmost read-only lower layer, whiteouts and opaque directories in force), and that view is
// compared with the live merged view, the capture's excluded paths and mount points aside.
//
// Node runs several threads, so it must not unshare itself: a child (util-linux unshare) holds a private
// mount namespace, the mounts are made in it with nsenter, and the native comparer reaches the view through
// /proc/PID/root, on libuv's pool. The mounts die with the namespace when the child exits, whatever happens here.
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Addon } from '../native/addon.js';
import type { CapturePlan } from './capture.js';
import { lowerdirOption } from '../mount/index.js';
import { toImagePath } from '../mount/paths.js';
import { AbortError, CasperError, toCasperError } from '../errors.js';

export type RestoreDifferenceKind =
  'missing' | 'extra' | 'type' | 'content' | 'mode' | 'owner' | 'group' | 'mtime' | 'xattrs' | 'symlink' | 'device' | 'links' | 'unreadable';

export interface RestoreDifference {
  /** Path from the session's root ('/etc/hosts'). */
  path: string;
  /** missing: in the live view only; extra: in the restored view only; otherwise what differs. */
  kind: RestoreDifferenceKind;
  /** The two values, where the kind has values (mode '0644', owner '1000', …). */
  restored?: string;
  live?: string;
  /** One line, like diff -r's ("Only in /home/user: notes.txt"). */
  line: string;
}

export interface RestoreCheck {
  /** Why the proof was not made; absent when it was. */
  skipped?: string;
  differences: RestoreDifference[];
  /** The lower layers the image was stacked over, topmost first. */
  layers: string[];
  /** Mount points inside the live root, left out: what is mounted there is not the session's. */
  mountPoints: string[];
  /** Entries compared. */
  entries: number;
  ms: number;
}

export interface RestoreRequest {
  addon: Addon;
  plan: CapturePlan;
  /** The new (temporary) image. */
  image: string;
  /** Image paths left out of the comparison with all below them: the capture's exclusions. */
  skip: string[];
  /** Fields the options made differ on purpose (--no-xattrs, --all-root, SOURCE_DATE_EPOCH). */
  ignore: string[];
  cancel: Int32Array;
  onProgress?: (entries: number) => void;
}

/** Why the proof cannot be made for this capture, or null. */
export function restoreSkipReason(plan: CapturePlan): string | null {
  if (plan.mode === 'directory') return 'a plain directory (--source) has no live session to restore';
  if (plan.mode === 'full') return 'full mode makes a new root filesystem, not a layer over the lower ones';
  if (process.getuid?.() !== 0) return 'mounting the image needs root';
  if (plan.layout?.kind === 'aufs') return 'the live union is aufs, and the proof stacks the image with overlayfs';
  if (!plan.layout || plan.layout.lowers.length === 0) return 'the live union has no lower layers';
  return null;
}

/** A tool is missing or the namespace cannot be made: the proof is skipped (with the reason), not failed. */
class CannotProve extends Error {}

const skipped = (reason: string): RestoreCheck => ({ skipped: reason, differences: [], layers: [], mountPoints: [], entries: 0, ms: 0 });

/** A private mount namespace held by a child process until close(). */
class Namespace {
  private constructor(
    private readonly child: ReturnType<typeof spawn>,
    readonly pid: number,
  ) {}

  static open(): Promise<Namespace> {
    return new Promise((resolve, reject) => {
      // The shell says when unshare has made the namespace, then waits for the end of stdin (our close, or our death).
      const child = spawn('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', 'echo ready && exec cat >/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('ready\n')) resolve(new Namespace(child, child.pid!));
      });
      child.on('error', (e: NodeJS.ErrnoException) =>
        reject(e.code === 'ENOENT' ? new CannotProve("util-linux's unshare is not installed") : toCasperError(e)));
      child.on('exit', (code) => reject(new CannotProve(`cannot make a private mount namespace (unshare exited ${code}: ${err.trim()})`)));
    });
  }

  /** A path of this namespace, as seen from ours. */
  path(p: string): string {
    return `/proc/${this.pid}/root${p}`;
  }

  /** Runs mount(8) inside the namespace; a failure is an EMOUNT error naming what was mounted. */
  mount(args: string[], what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const c = spawn('nsenter', ['--target', String(this.pid), '--mount', '--', 'mount', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      c.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      c.on('error', (e: NodeJS.ErrnoException) => reject(e.code === 'ENOENT' ? new CannotProve("util-linux's nsenter is not installed") : toCasperError(e)));
      c.on('exit', (code) =>
        code === 0 ? resolve() : reject(new CasperError(`--verify: cannot mount ${what} to prove that the snapshot restores the session: ${err.trim() || `mount exited ${code}`}`, 'EMOUNT', { syscall: 'mount' })));
    });
  }

  /** Ends the child (its namespace and every mount in it go with it) and waits for it. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) return resolve();
      const kill = setTimeout(() => this.child.kill('SIGKILL'), 5000);
      this.child.once('exit', () => (clearTimeout(kill), resolve()));
      this.child.stdin!.end();
    });
  }
}

/** The layers under the image: diff mode's already stacked ones, or the layout's (loop-mounted in the namespace when only an image of one is at hand). */
function lowerLayers(plan: CapturePlan, dir: string): { layers: string[]; toMount: { image: string; at: string }[] } {
  if (plan.lowerStack) return { layers: plan.lowerStack.layers.map((l) => l.path), toMount: [] };
  const layers: string[] = [];
  const toMount: { image: string; at: string }[] = [];
  plan.layout!.lowers.forEach((l, k) => {
    if (l.reachableAt) layers.push(l.reachableAt);
    else if (l.image) {
      const at = join(dir, `lower-${k}`);
      toMount.push({ image: l.image, at });
      layers.push(at);
    } else throw new CannotProve(`the lower layer ${l.shownAs} is not reachable and no image of it was found`);
  });
  return { layers, toMount };
}

/** How often the proof reports progress. */
const PROGRESS_MS = 200;

/** Stacks the image over the lower layers in a private namespace and compares that view with the live one. */
export async function proveRestore(r: RestoreRequest): Promise<RestoreCheck> {
  const reason = restoreSkipReason(r.plan);
  if (reason) return skipped(reason);
  const start = performance.now();
  const root = r.plan.layout!.root;
  const dir = mkdtempSync(join(tmpdir(), 'casper-restore-'));
  const made = [dir];
  let ns: Namespace | null = null;
  try {
    const { layers, toMount } = lowerLayers(r.plan, dir);
    for (const d of ['image', 'view', ...toMount.map((m) => m.at.slice(dir.length + 1))]) {
      mkdirSync(join(dir, d));
      made.push(join(dir, d));
    }
    ns = await Namespace.open();
    await ns.mount(['-t', 'squashfs', '-o', 'ro,loop', r.image, join(dir, 'image')], 'the new image');
    for (const m of toMount) await ns.mount(['-t', 'squashfs', '-o', 'ro,loop', m.image, m.at], `the lower layer ${m.image}`);
    const lowerdir = lowerdirOption([join(dir, 'image'), ...layers]);
    await ns.mount(['-t', 'overlay', '-o', `ro,lowerdir=${lowerdir}`, 'casper-restore', join(dir, 'view')], 'the image over the lower layers');
    // Our own directory is in the live view (when the temporary directory is inside the root), never in the image.
    const own = toImagePath(dir, root);
    const skip = own ? [...r.skip, own] : r.skip;
    const progress = new BigUint64Array(1);
    const timer = r.onProgress ? setInterval(() => r.onProgress!(Number(progress[0])), PROGRESS_MS) : null;
    let res;
    try {
      res = await r.addon.compareRestored(r.image, ns.path(join(dir, 'view')), root, { skip, ignore: r.ignore }, r.cancel, progress);
    } finally {
      if (timer) clearInterval(timer);
    }
    if ('error' in res) {
      if (res.error.code === 'ECANCELED') throw new AbortError('snapshot aborted');
      throw toCasperError(res.error);
    }
    r.onProgress?.(res.entries);
    return {
      differences: res.differences as RestoreDifference[],
      layers,
      mountPoints: res.mountPoints,
      entries: res.entries,
      ms: Math.round(performance.now() - start),
    };
  } catch (err) {
    if (err instanceof CannotProve) return skipped(err.message);
    throw err;
  } finally {
    await ns?.close();
    for (const d of made.reverse()) {
      try {
        rmdirSync(d); // empty in our namespace: the mounts were only in the child's
      } catch {
        /* best effort */
      }
    }
  }
}
