// What a snapshot never captures, as data. In upper and diff mode a left-out path simply carries no
// change (the lower layer shows through); in full mode the image must boot on its own, so the
// mount-point directories stay as empty directories instead of vanishing.
import type { CaptureMode, LiveFamily, LiveLayout } from '../mount/detect.js';
import { toImagePath } from '../mount/paths.js';
import { swapFiles } from './swaps.js';

export type RuleAction = 'exclude' | 'empty-dir' | 'truncate';

/** One rule with its reason, for describe() and --debug. */
export interface PolicyRule {
  /** Image path, or the pattern text for pattern rules. */
  path: string;
  action: RuleAction;
  /** "default", "live system", "scrub", "-e", "FILE:LINE", "config" … */
  origin: string;
  why: string;
  pattern?: boolean;
}

interface SystemDir {
  path: string;
  why: string;
  /** Kept as an empty directory in full mode (the booted system mounts or fills it). */
  keepEmpty: boolean;
  /** The live system whose machinery this is: listed only for it (or when no live system is recognised). */
  family?: LiveFamily;
}

export const SYSTEM_DIRS: readonly SystemDir[] = [
  { path: '/proc', why: 'kernel process filesystem', keepEmpty: true },
  { path: '/sys', why: 'kernel sysfs', keepEmpty: true },
  { path: '/dev', why: 'device nodes (devtmpfs and udev create them at boot)', keepEmpty: true },
  { path: '/run', why: 'runtime state on tmpfs (holds /run/live, /run/initramfs)', keepEmpty: true },
  { path: '/tmp', why: 'temporary files', keepEmpty: true },
  { path: '/var/tmp', why: 'temporary files', keepEmpty: true },
  { path: '/var/cache', why: 'regenerable caches (apt archives, fontconfig …)', keepEmpty: true },
  { path: '/mnt', why: 'mount points for other filesystems', keepEmpty: true },
  { path: '/media', why: 'removable media (and overlayroot layers)', keepEmpty: true },
  { path: '/cdrom', why: 'casper boot medium', keepEmpty: true, family: 'casper' },
  { path: '/rofs', why: 'casper base layer', keepEmpty: true, family: 'casper' },
  { path: '/lost+found', why: 'fsck debris of the source filesystem', keepEmpty: false },
  { path: '/cow', why: 'casper writable layer', keepEmpty: false, family: 'casper' },
  { path: '/run/live', why: 'live-boot medium and layers', keepEmpty: false, family: 'live-boot' },
  { path: '/lib/live/mount', why: 'live-boot rbind of /run/live', keepEmpty: false, family: 'live-boot' },
  {
    path: '/usr/lib/live/mount',
    why: 'live-boot rbind of /run/live (merged /usr)',
    keepEmpty: false,
    family: 'live-boot',
  },
];

/**
 * Where xattrs SquashFS cannot store are expected, so that skipping them is a note, not a warning at every
 * save: journald puts POSIX ACLs (system.posix_acl_*) on the journal's directories and files.
 */
export const EXPECTED_SYSTEM_XATTRS: readonly string[] = ['/var/log/journal'];

/** aufs bookkeeping at the root of the rw branch; never part of an overlayfs layer. */
const AUFS_METADATA = ['/.wh..wh.aufs', '/.wh..wh.plnk', '/.wh..wh.orph'];

export interface DefaultExtras {
  /** /proc/swaps text: swap files under the root are left out. */
  swaps?: string;
  /** The output image and its temporary file (host paths); left out when under the root. */
  output?: string;
  tempOutput?: string;
  /** false = --no-default-excludes: only the output, its temp file and aufs metadata remain. */
  defaults?: boolean;
}

export interface DefaultExcludes {
  exclude: string[];
  emptyDirs: string[];
  rules: PolicyRule[];
}

/** The default rules for a layout and mode (layout null: a plain directory captured from "/"). */
export function defaultExcludes(
  layout: LiveLayout | null,
  mode: CaptureMode,
  extras: DefaultExtras = {},
): DefaultExcludes {
  const root = layout?.root ?? '/';
  const rules: PolicyRule[] = [];
  const add = (path: string | null, action: RuleAction, origin: string, why: string) => {
    if (path !== null && path !== '/' && !rules.some((r) => r.path === path)) rules.push({ path, action, origin, why });
  };
  const useDefaults = extras.defaults !== false;
  if (useDefaults) {
    // A recognised live system gets its own machinery's paths only; anything else gets them all (harmless).
    const family = layout?.family ?? null;
    for (const d of SYSTEM_DIRS)
      if (!d.family || !family || d.family === family)
        add(d.path, mode === 'full' && d.keepEmpty ? 'empty-dir' : 'exclude', 'default', d.why);
    for (const p of layout?.livePaths ?? [])
      add(toImagePath(p, root), 'exclude', 'live system', `${layout?.kind} layer or medium`);
    if (mode !== 'upper')
      for (const b of layout?.bindMounts ?? []) {
        // Same filesystem as the root: one-file-system would not stop the walk from copying it twice.
        add(
          toImagePath(b.mountPoint, root),
          mode === 'full' ? 'empty-dir' : 'exclude',
          'live system',
          `bind mount of the root union (${b.root})`,
        );
      }
    for (const s of swapFiles(extras.swaps ?? ''))
      add(toImagePath(s, root), 'exclude', 'default', 'swap file (from /proc/swaps)');
  }
  if (extras.output) add(toImagePath(extras.output, root), 'exclude', 'output', 'the image being written');
  if (extras.tempOutput)
    add(toImagePath(extras.tempOutput, root), 'exclude', 'output', 'temporary file of the image being written');
  if (mode === 'upper' && layout?.kind === 'aufs')
    for (const p of AUFS_METADATA) add(p, 'exclude', 'live system', 'aufs branch metadata');
  return { ...minimalLists(rules), rules };
}

/** The walker lists: paths inside an excluded or emptied directory are dropped as redundant. */
export function minimalLists(rules: readonly PolicyRule[]): { exclude: string[]; emptyDirs: string[] } {
  const exact = rules.filter((r) => !r.pattern && r.action !== 'truncate');
  // Covered: a proper ancestor is a rule too. Each path's ancestors are looked up in a set (linear in the rules).
  const all = new Set(exact.map((r) => r.path));
  const covered = (p: string) => {
    if (p !== '/' && all.has('/')) return true;
    for (let i = p.lastIndexOf('/'); i > 0; i = p.lastIndexOf('/', i - 1)) if (all.has(p.slice(0, i))) return true;
    return false;
  };
  const pick = (a: RuleAction) =>
    [...new Set(exact.filter((r) => r.action === a && !covered(r.path)).map((r) => r.path))].sort();
  return { exclude: pick('exclude'), emptyDirs: pick('empty-dir') };
}
