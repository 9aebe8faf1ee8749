// Works out which live system (if any) assembled the mount to capture, where its layers are, whether
// they are reachable from here, and which capture mode that allows. Pure apart from the default readers.
import { existsSync, readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { UsageError } from '../errors.js';
import { parseMountinfo, type MountInfo } from './mountinfo.js';
import { parseAufsOptions, parseOverlayOptions, type AufsBranch } from './overlay-options.js';
import { familyOf, IMAGE_DIR, LIVE_PATHS, MEDIUM, relocations, type LiveFamily } from './families.js';
import { isWithin, joinWithin, normalizePath } from './paths.js';

export type LiveKind = 'casper' | 'live-boot' | 'slax' | 'overlayroot' | 'generic-overlay' | 'aufs' | 'none';
export type { LiveFamily } from './families.js';
export type CaptureMode = 'upper' | 'diff' | 'full';

export interface DetectOptions {
  /** mountinfo text (default: /proc/self/mountinfo). */
  mountinfo?: string;
  /** Mount point or directory to capture (default "/"); pass a real path (symlinks are not resolved here). */
  root?: string;
  /** Require the union at root to be this filesystem; anything else is a UsageError. */
  filesystem?: 'overlay' | 'aufs';
  /** Existence test for upper/lower/image paths (default: fs.existsSync). */
  exists?: (p: string) => boolean;
  /** aufs hides its branches behind si=…: returns "path=perm" lines (default: /sys/fs/aufs/si_<si>/brN). */
  readAufsBranches?: (si: string) => string[] | null;
  /** The file behind a loop device, by its device number (default: /sys/dev/block/M:m/loop/backing_file); null: not a loop device. */
  readLoopBacking?: (major: number, minor: number) => string | null;
}

export interface UpperLayer {
  /** As the mount options show it (an initramfs path for casper and Slax). */
  shownAs: string;
  /** Where its tree can be read from this namespace, or null. */
  path: string | null;
  reachable: boolean;
}

export interface LowerLayer {
  shownAs: string;
  /** Where the layer's tree can be read here (its own path, a relocation, or a mount such as /rofs). */
  reachableAt: string | null;
  /** A file on the boot medium holding this layer, found by name (mountable for diff mode). */
  image: string | null;
  /**
   * When the layer is the whole of a loop-mounted image: the image file behind the loop device, as the kernel
   * shows it (a path; ' (deleted)' once the file was replaced or removed). null otherwise.
   */
  backing: string | null;
}

export interface LiveLayout {
  kind: LiveKind;
  /** The live system that built the union, also for aufs; null for generic and plain mounts. */
  family: LiveFamily | null;
  /** The directory to capture, normalised. */
  root: string;
  /** The mount holding root (the union for a live system); null when mountinfo lists none. */
  mount: MountInfo | null;
  fsType: string | null;
  /** Path of root inside the mounted filesystem ("/" unless root is a subdirectory or a bind of one). */
  within: string;
  upper: UpperLayer | null;
  work: string | null;
  /** Topmost first. */
  lowers: LowerLayer[];
  /** The boot medium's mount point (/cdrom, /run/live/medium, /run/initramfs/memory/data). */
  medium: string | null;
  /** Reachable read-only base paths (/rofs, /run/live/rootfs/*, /media/root-ro). */
  base: string[];
  /** true/false when the writable layer's storage is known to be / not to be persistent. */
  persistence: boolean | null;
  flags: { userxattr: boolean; redirectDir: string | null; metacopy: boolean; index: boolean; xino: string | null };
  /** Namespace of the overlay's xattrs in the upper dir. */
  xattrPrefix: 'trusted.overlay.' | 'user.overlay.';
  /** Other mount points of the same union (e.g. snap binds of /cow[/usr/share/hunspell]). */
  bindMounts: { mountPoint: string; root: string }[];
  /** Every live-system path known here (medium, base, layers, their mounts): never part of a capture. */
  livePaths: string[];
  /**
   * The mode a snapshot without one takes: upper, diff, or full on a union whose layers cannot be compared.
   * null when the root is not a live system (kind 'none'): snapshot() then needs `mode: 'full'` or `source`.
   */
  defaultMode: CaptureMode | null;
  /** Why things were decided, for --debug and error messages. */
  notes: string[];
}

/** The mount covering `path`: the longest mount point above it, the last listed winning a tie. */
export function findMount(mounts: readonly MountInfo[], path: string): MountInfo | null {
  let best: MountInfo | null = null;
  for (const m of mounts) {
    if (!isWithin(path, m.mountPoint)) continue;
    if (!best || m.mountPoint.length >= best.mountPoint.length) best = m;
  }
  return best;
}

const sameFs = (a: MountInfo, b: MountInfo) => a.major === b.major && a.minor === b.minor && a.fsType === b.fsType;

function defaultLoopBacking(major: number, minor: number): string | null {
  try {
    return readFileSync(`/sys/dev/block/${major}:${minor}/loop/backing_file`, 'utf8').replace(/\n$/, '');
  } catch {
    return null; // not a loop device (or no sysfs)
  }
}

function defaultAufsBranches(si: string): string[] | null {
  if (!/^[0-9a-f]+$/.test(si)) return null; // the kernel prints hex; anything else is not a sysfs name
  const out: string[] = [];
  for (let i = 0; ; i++) {
    try {
      out.push(readFileSync(`/sys/fs/aufs/si_${si}/br${i}`, 'utf8').trim());
    } catch {
      return out.length > 0 ? out : null;
    }
  }
}

/** A layout with nothing found yet: what a root that is not a union gets. */
function emptyLayout(root: string, mount: MountInfo | null, within: string, notes: string[]): LiveLayout {
  return {
    kind: 'none',
    family: null,
    root,
    mount,
    fsType: mount?.fsType ?? null,
    within,
    upper: null,
    work: null,
    lowers: [],
    medium: null,
    base: [],
    persistence: null,
    flags: { userxattr: false, redirectDir: null, metacopy: false, index: false, xino: null },
    xattrPrefix: 'trusted.overlay.',
    bindMounts: [],
    livePaths: [],
    defaultMode: null,
    notes,
  };
}

/** The union's layers as its mount options show them (paths as the mounter saw them), and its flags. */
function shownLayers(
  mount: MountInfo,
  layout: LiveLayout,
  opts: DetectOptions,
): { upper: string | null; work: string | null; lowers: string[] } {
  if (mount.fsType === 'overlay') {
    const o = parseOverlayOptions(mount.superOptions);
    layout.flags = {
      userxattr: o.userxattr,
      redirectDir: o.redirectDir,
      metacopy: o.metacopy ?? false,
      index: o.index ?? false,
      xino: o.xino,
    };
    if (o.userxattr) layout.xattrPrefix = 'user.overlay.';
    if (o.dataLowerdirs.length > 0)
      layout.notes.push(`data-only lower layers (${o.dataLowerdirs.join(', ')}) hold metacopy file data`);
    return { upper: o.upperdir, work: o.workdir, lowers: o.lowerdirs };
  }
  const a = parseAufsOptions(mount.superOptions);
  let branches: AufsBranch[] = a.branches;
  if (branches.length === 0 && a.si !== null) {
    const lines = (opts.readAufsBranches ?? defaultAufsBranches)(a.si);
    if (lines) branches = parseAufsOptions(['br:' + lines.join(':')]).branches;
    else layout.notes.push(`aufs si=${a.si}: branches not readable from /sys/fs/aufs/si_${a.si}`);
  }
  const rw = branches.find((b) => b.writable) ?? null;
  layout.notes.push('aufs upper holds .wh.* whiteouts and .wh..wh.* metadata: they need converting for overlayfs');
  return { upper: rw?.path ?? null, work: null, lowers: branches.filter((b) => b !== rw).map((b) => b.path) };
}

/** Where a layer path can be read: the first candidate that is a mount point or an existing path, not the union itself. */
function reacher(
  mounts: MountInfo[],
  union: MountInfo,
  exists: (p: string) => boolean,
): (candidates: string[]) => string | null {
  return (candidates) => {
    for (const c of candidates) {
      if (!c.startsWith('/')) continue;
      const holder = findMount(mounts, c);
      if (holder && sameFs(holder, union)) continue; // the merged view, not the layer
      if (mountAt(mounts, c) || exists(c)) return c;
    }
    return null;
  };
}

function mountAt(mounts: MountInfo[], p: string): MountInfo | null {
  return mounts.filter((m) => m.mountPoint === p).pop() ?? null;
}

const norm = (p: string) => (p.startsWith('/') ? normalizePath(p) : p);

/** Upper, work and lower layers resolved to paths readable from here (after switch_root relocations). */
function placeLayers(
  layout: LiveLayout,
  shown: { upper: string | null; work: string | null; lowers: string[] },
  mounts: MountInfo[],
  opts: DetectOptions,
): void {
  const exists = opts.exists ?? existsSync;
  const loopBacking = opts.readLoopBacking ?? defaultLoopBacking;
  const { within, family: fam, notes } = layout;
  const reach = reacher(mounts, layout.mount!, exists);
  if (shown.upper !== null) {
    const p = joinWithin(norm(shown.upper), within);
    const at = p.startsWith('/') ? reach([p, ...relocations(fam, p)]) : null;
    if (!p.startsWith('/'))
      notes.push(`upper dir '${shown.upper}' is relative to the mounter's working directory: not resolvable`);
    layout.upper = { shownAs: shown.upper, path: at, reachable: at !== null };
    if (at) {
      const holder = findMount(mounts, at);
      layout.persistence =
        fam === 'live-boot'
          ? at.startsWith('/run/live/persistence/')
          : holder
            ? !/^(tmpfs|ramfs)$/.test(holder.fsType)
            : null;
    }
  }
  if (shown.work !== null)
    layout.work = reach([norm(shown.work), ...relocations(fam, norm(shown.work))]) ?? norm(shown.work);
  const medium = fam ? (MEDIUM[fam].find((m) => mountAt(mounts, m) !== null) ?? null) : null;
  layout.medium = medium;
  const imageDir = fam && medium && IMAGE_DIR[fam] ? `${medium}/${IMAGE_DIR[fam]}` : null;
  layout.lowers = shown.lowers.map((shownAs) => {
    const p = joinWithin(norm(shownAs), within);
    const name = posix.basename(norm(shownAs));
    const image = imageDir && name && exists(`${imageDir}/${name}`) ? `${imageDir}/${name}` : null;
    const reachableAt = p.startsWith('/') ? reach([p, ...relocations(fam, p)]) : null;
    // The layer is a whole image when it is the root of a mount of a loop device.
    const mount = reachableAt ? mountAt(mounts, reachableAt) : null;
    const backing = mount && mount.root === '/' ? loopBacking(mount.major, mount.minor) : null;
    return { shownAs, reachableAt, image, backing };
  });
  // casper moves the first-mounted (bottom) squashfs to /rofs; the other layers stay in the initramfs.
  const bottom = layout.lowers[layout.lowers.length - 1];
  if (fam === 'casper' && bottom && !bottom.reachableAt && mountAt(mounts, '/rofs'))
    bottom.reachableAt = joinWithin('/rofs', within);
  if (fam === 'overlayroot' && mountAt(mounts, '/media/root-ro')) layout.base.push('/media/root-ro');
  if (fam === 'casper' && mountAt(mounts, '/rofs')) layout.base.push('/rofs');
  for (const l of layout.lowers)
    if (l.reachableAt && !layout.base.includes(l.reachableAt) && l.reachableAt !== '/rofs')
      layout.base.push(l.reachableAt);
}

/** The live system's own machinery: never captured. */
function livePathsOf(layout: LiveLayout): string[] {
  const live = new Set<string>();
  for (const p of [layout.medium, ...layout.base, layout.upper?.path ?? null, layout.work])
    if (p?.startsWith('/')) live.add(p);
  for (const l of layout.lowers) if (l.reachableAt) live.add(l.reachableAt);
  if (layout.family) for (const p of LIVE_PATHS[layout.family]) live.add(p);
  return [...live].sort();
}

/** upper when the upper is reachable, diff when every lower is, full otherwise; with the reason in the notes. */
function chooseDefaultMode(layout: LiveLayout): void {
  const { notes } = layout;
  if (layout.upper?.reachable) {
    layout.defaultMode = 'upper';
    notes.push(`upper dir reachable at ${layout.upper.path}`);
    return;
  }
  if (layout.upper)
    notes.push(
      `upper dir '${layout.upper.shownAs}' is not reachable from this namespace` +
        (layout.family === 'casper'
          ? ' (casper keeps /cow in the initramfs; mount the writable partition again or use diff/full)'
          : ''),
    );
  const missing = layout.lowers.filter((l) => !l.reachableAt && !l.image);
  if (layout.lowers.length > 0 && missing.length === 0) {
    layout.defaultMode = 'diff';
    notes.push('every lower layer is reachable or has an image on the medium: diff against them');
  } else {
    layout.defaultMode = 'full';
    if (missing.length > 0) notes.push(`lower layer(s) not reachable: ${missing.map((l) => l.shownAs).join(', ')}`);
  }
}

export function detectLiveSystem(opts: DetectOptions = {}): LiveLayout {
  const text = opts.mountinfo ?? readFileSync('/proc/self/mountinfo', 'utf8');
  const mounts = parseMountinfo(text, opts.mountinfo === undefined ? '/proc/self/mountinfo' : 'mountinfo');
  const root = normalizePath(posix.resolve(opts.root ?? '/')); // relative: from the working directory
  const mount = findMount(mounts, root);
  const within = mount
    ? normalizePath(posix.join(mount.root.startsWith('/') ? mount.root : '/', posix.relative(mount.mountPoint, root)))
    : '/';
  const layout = emptyLayout(root, mount, within, []);
  const isUnion = mount !== null && (mount.fsType === 'overlay' || mount.fsType === 'aufs');
  if (opts.filesystem && mount?.fsType !== opts.filesystem)
    throw new UsageError(
      `${root} is on ${mount ? `a ${mount.fsType} mount` : 'no listed mount'}, not ${opts.filesystem}`,
    );
  if (!mount || !isUnion) {
    layout.notes.push(
      mount
        ? `${root} is on ${mount.fsType} (${mount.source || 'no source'}), not a union mount: only full mode applies`
        : `no mount in mountinfo covers ${root}`,
    );
    return layout;
  }
  const shown = shownLayers(mount, layout, opts);
  layout.family = familyOf(mount.source, shown.upper === null ? null : norm(shown.upper), shown.lowers.map(norm));
  layout.kind = mount.fsType === 'aufs' ? 'aufs' : (layout.family ?? 'generic-overlay');
  placeLayers(layout, shown, mounts, opts);
  layout.bindMounts = mounts
    .filter((m) => m !== mount && sameFs(m, mount))
    .map((m) => ({ mountPoint: m.mountPoint, root: m.root }));
  layout.livePaths = livePathsOf(layout);
  chooseDefaultMode(layout);
  return layout;
}
