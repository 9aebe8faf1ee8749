// Decides what a snapshot walks: a plain directory (--source), or a live system's root union in one of the
// three modes (upper: its upper layer; diff: the merged view against the lower view; full: the merged view),
// with the exclusion policy and the overlay handling the native walker needs.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NativeWalkOptions } from '../native/addon.js';
import { detectLiveSystem, lowerdirOption, type CaptureMode, type LiveLayout } from '../mount/index.js';
import { buildExclusionPolicy, readExcludeFile, type ExclusionPolicy, type ExcludeSyntax } from '../policy/index.js';
import { CasperError, UsageError } from '../errors.js';

export interface CaptureRequest {
  /** A plain directory to capture as it is (no detection, no default excludes). */
  source?: string;
  /** The mount to capture (default "/"). */
  root?: string;
  mode?: CaptureMode;
  filesystem?: 'overlay' | 'aufs';
  exclude?: string[];
  excludeFiles?: string[];
  excludeSyntax?: ExcludeSyntax;
  defaultExcludes?: boolean;
  scrub?: boolean;
  compareContents?: boolean;
  oneFileSystem?: boolean;
  xattrs: boolean;
  ignoreErrors: boolean;
  output: string;
  tempOutput: string;
  /** mountinfo text instead of /proc/self/mountinfo (aufs cannot be mounted on current kernels: tests use this). */
  mountinfo?: string;
}

/** Diff mode: what the delta was computed against (for -d and --json). */
export interface LowerStack {
  /** The lower layers, topmost first, and where each was read from. */
  layers: { shownAs: string; path: string; image: string | null; loopMounted: boolean }[];
  /** 'single': the one layer read as it is; 'overlay': a read-only overlay of all of them, mounted at view. */
  stacked: 'single' | 'overlay';
  /** The lower view the merged root was compared with (a temporary mount, gone after the snapshot). */
  view: string;
}

export interface CapturePlan {
  mode: CaptureMode | 'directory';
  layout: LiveLayout | null;
  walkRoot: string;
  walk: Omit<NativeWalkOptions, 'excludeInodes'>;
  policy: ExclusionPolicy;
  notes: string[];
  /** Diff mode: the lower stack; null in the other modes. */
  lowerStack: LowerStack | null;
  /** Unmounts what the plan mounted (the lower view of diff mode). */
  cleanup: () => void;
}

/** Overlay bookkeeping in an upper dir that means nothing in another stack. */
const OVERLAY_BOOKKEEPING = ['origin', 'impure', 'uuid', 'nlink', 'upper', 'metacopy', 'protattr', 'index'];

function mountRo(args: string[], what: string): void {
  const r = spawnSync('mount', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new CasperError(`cannot mount ${what}: ${(r.stderr || r.error?.message || '').trim()}`, 'EMOUNT');
}

/** The read-only lower view for diff mode: one reachable layer as is, or an overlay of all of them. */
function lowerView(layout: LiveLayout, notes: string[]): { stack: LowerStack; cleanup: () => void } {
  const mounted: string[] = [];
  const cleanup = () => {
    for (const m of mounted.reverse()) {
      spawnSync('umount', [m]);
      try {
        rmdirSync(m);
      } catch {
        /* best effort */
      }
    }
  };
  try {
    const layers: string[] = [];
    const described: LowerStack['layers'] = [];
    for (const l of layout.lowers) {
      if (l.reachableAt) {
        layers.push(l.reachableAt);
        described.push({ shownAs: l.shownAs, path: l.reachableAt, image: null, loopMounted: false });
      } else if (l.image) {
        const dir = mkdtempSync(join(tmpdir(), 'casper-lower-'));
        mountRo(['-o', 'loop,ro', l.image, dir], `lower layer image ${l.image}`);
        mounted.push(dir);
        layers.push(dir);
        described.push({ shownAs: l.shownAs, path: dir, image: l.image, loopMounted: true });
        notes.push(`mounted lower layer ${l.image} at ${dir}`);
      } else {
        throw new UsageError(`diff mode needs every lower layer, but ${l.shownAs} is not reachable and no image of it was found`);
      }
    }
    if (layers.length === 0) throw new UsageError('diff mode needs the lower layers, and this root has none');
    if (layers.length === 1) return { stack: { layers: described, stacked: 'single', view: layers[0] }, cleanup };
    const dir = mkdtempSync(join(tmpdir(), 'casper-lowerview-'));
    mountRo(['-t', 'overlay', 'casper-lowerview', '-o', `ro,lowerdir=${lowerdirOption(layers)}`, dir], 'the lower view');
    mounted.push(dir);
    notes.push(`lower view: overlay of ${layers.join(', ')} at ${dir}`);
    return { stack: { layers: described, stacked: 'overlay', view: dir }, cleanup };
  } catch (err) {
    cleanup();
    throw err;
  }
}

function readSwaps(): string {
  try {
    return readFileSync('/proc/swaps', 'utf8');
  } catch {
    return '';
  }
}

// Long: one branch per capture mode (directory, upper, diff, full), each building its walk options.
export function planCapture(r: CaptureRequest): CapturePlan {
  const excludeLines = (r.excludeFiles ?? []).flatMap((f) => readExcludeFile(f));
  const policyInput = {
    excludes: r.exclude ?? [],
    excludeLines,
    syntax: r.excludeSyntax,
    output: r.output,
    tempOutput: r.tempOutput,
  };
  const base = { xattrs: r.xattrs, ignoreErrors: r.ignoreErrors, oneFileSystem: r.oneFileSystem ?? false, compareContents: r.compareContents ?? false };

  if (r.source !== undefined) {
    // A plain directory: only the caller's excludes (and never the output itself).
    const policy = buildExclusionPolicy({ ...policyInput, layout: null, mode: 'full', defaults: false, scrub: r.scrub });
    return {
      mode: 'directory',
      layout: null,
      walkRoot: r.source,
      walk: { ...base, exclude: policy.exclude, truncate: policy.truncate, emptyDirs: [] },
      policy,
      notes: [],
      lowerStack: null,
      cleanup: () => {},
    };
  }

  if (process.getuid?.() !== 0)
    throw new UsageError('capturing a live system needs root: without it xattrs read back empty and whiteouts cannot be read (or use --source DIR for a plain directory)');
  const layout = detectLiveSystem({ mountinfo: r.mountinfo, root: r.root ?? '/', filesystem: r.filesystem });
  if (r.mode === undefined && layout.kind === 'none') {
    // Full mode on an installed system is an 18 GiB, many-minute job: only when asked for by name.
    const root = r.root ?? '/';
    const what = layout.fsType ? `its filesystem is ${layout.fsType}, not an overlay or aufs union` : 'no overlay or aufs union is mounted there';
    throw new UsageError(
      `'${root}' is not a live system (${what}), so there is no session layer to capture. ` +
        `To capture a directory as it is: casper-snapshot --source ${root === '/' ? 'DIR' : root} OUTPUT; ` +
        `to capture this whole system (with the default excludes): casper-snapshot${root === '/' ? '' : ` --root ${root}`} --mode full OUTPUT`,
    );
  }
  const mode = r.mode ?? layout.defaultMode;
  const notes = [...layout.notes];
  const policy = buildExclusionPolicy({
    ...policyInput,
    layout,
    mode,
    defaults: r.defaultExcludes ?? true,
    scrub: r.scrub,
    swaps: readSwaps(),
  });
  const lists = { exclude: policy.exclude, truncate: policy.truncate, emptyDirs: policy.emptyDirs };

  if (mode === 'upper') {
    if (!layout.upper?.reachable || !layout.upper.path)
      throw new UsageError(`upper mode needs the upper layer, which is not reachable here${layout.upper ? ` (${layout.upper.shownAs})` : ''}; use --mode diff`);
    const prefix = layout.xattrPrefix;
    return {
      mode,
      layout,
      walkRoot: layout.upper.path,
      walk: {
        ...base,
        ...lists,
        oneFileSystem: false,
        dropXattrPrefixes: OVERLAY_BOOKKEEPING.map((k) => prefix + k),
        opaqueXattr: prefix + 'opaque',
        redirectXattr: layout.kind === 'aufs' ? '' : prefix + 'redirect',
        mergedRoot: layout.root,
        dataRoot: layout.kind === 'aufs' ? '' : layout.root,
        aufs: layout.kind === 'aufs',
      },
      policy,
      notes,
      lowerStack: null,
      cleanup: () => {},
    };
  }
  if (mode === 'diff') {
    const view = lowerView(layout, notes);
    return {
      mode,
      layout,
      walkRoot: layout.root,
      walk: { ...base, ...lists, oneFileSystem: true, lowerRoot: view.stack.view },
      policy,
      notes,
      lowerStack: view.stack,
      cleanup: view.cleanup,
    };
  }
  return { mode, layout, walkRoot: layout.root, walk: { ...base, ...lists, oneFileSystem: true }, policy, notes, lowerStack: null, cleanup: () => {} };
}
