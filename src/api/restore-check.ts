// --verify's restore proof (upper and diff modes, as root): the new image is stacked over the live system's
// lower layers as persistence stacks it at the next boot (casper's zz-TAG.squashfs, live-boot's persistence
// image: the topmost read-only lower layer, whiteouts and opaque directories in force), and that view is
// compared with the live merged view, the capture's excluded paths and mount points aside.
//
// The mounts are made in a private mount namespace (mount/namespace.ts): diff mode's, which already holds the
// lower view, or one of the proof's own. The native comparer reaches the view through /proc/PID/root, on
// libuv's pool. The mounts die with the namespace when its child exits, whatever happens here.
import { mkdtempSync, mkdirSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Addon } from '../native/addon.js';
import type { CapturePlan } from './capture.js';
import { lowerdirOption } from '../mount/index.js';
import { toImagePath } from '../mount/paths.js';
import { toCasperError } from '../errors.js';
import { MountNamespace, NamespaceUnavailable } from '../mount/namespace.js';
import { onStop } from '../pipeline/exit-cleanup.js';

export type RestoreDifferenceKind =
  | 'missing'
  | 'extra'
  | 'type'
  | 'content'
  | 'mode'
  | 'owner'
  | 'group'
  | 'mtime'
  | 'xattrs'
  | 'symlink'
  | 'device'
  | 'links'
  | 'unreadable';

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

const skipped = (reason: string): RestoreCheck => ({
  skipped: reason,
  differences: [],
  layers: [],
  mountPoints: [],
  entries: 0,
  ms: 0,
});

/** The lower layer named cannot be had: the proof is skipped (with the reason), not failed. */
class CannotProve extends Error {}

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
  // Diff mode's namespace holds its lower view (the layers are mounted there): the proof stacks over it.
  const shared = r.plan.namespace;
  let ns: MountNamespace | null = null;
  const removeDirs = () => {
    for (const d of [...made].reverse()) {
      try {
        rmdirSync(d); // empty in our namespace: the mounts were only in the child's
      } catch {
        /* best effort */
      }
    }
  };
  // Stopped by a signal (the process ends at once, finally blocks never run): the directories are removed; the
  // namespace's holder sees its pipe close and goes, its mounts with it.
  const forget = onStop(removeDirs);
  try {
    const { layers, toMount } = lowerLayers(r.plan, dir);
    for (const d of ['image', 'view', ...toMount.map((m) => m.at.slice(dir.length + 1))]) {
      mkdirSync(join(dir, d));
      made.push(join(dir, d));
    }
    ns = shared ?? (await MountNamespace.open());
    const mount = (args: string[], what: string) =>
      ns!.mount(args, what).catch((e: Error) => {
        throw Object.assign(e, { message: `--verify: ${e.message} (to prove that the snapshot restores the session)` });
      });
    await mount(['-t', 'squashfs', '-o', 'ro,loop', r.image, join(dir, 'image')], 'the new image');
    for (const m of toMount)
      await mount(['-t', 'squashfs', '-o', 'ro,loop', m.image, m.at], `the lower layer ${m.image}`);
    const lowerdir = lowerdirOption([join(dir, 'image'), ...layers]);
    await mount(
      ['-t', 'overlay', '-o', `ro,lowerdir=${lowerdir}`, 'casper-restore', join(dir, 'view')],
      'the image over the lower layers',
    );
    // Our own directory is in the live view (when the temporary directory is inside the root), never in the image.
    const own = toImagePath(dir, root);
    const skip = own ? [...r.skip, own] : r.skip;
    const progress = new BigUint64Array(1);
    const timer = r.onProgress ? setInterval(() => r.onProgress!(Number(progress[0])), PROGRESS_MS) : null;
    let res: Awaited<ReturnType<typeof r.addon.compareRestored>>;
    try {
      res = await r.addon.compareRestored(
        r.image,
        ns.path(join(dir, 'view')),
        root,
        { skip, ignore: r.ignore },
        r.cancel,
        progress,
      );
    } catch (err) {
      throw toCasperError(err); // ECANCELED: an AbortError
    } finally {
      if (timer) clearInterval(timer);
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
    if (err instanceof CannotProve || err instanceof NamespaceUnavailable) return skipped(err.message);
    throw err;
  } finally {
    if (ns !== shared) await ns?.close();
    removeDirs();
    forget();
  }
}
