// Decides what a snapshot walks: a plain directory (--source), or a live system's root union in one of the
// three modes (upper: its upper layer; diff: the merged view against the lower view; full: the merged view),
// with the exclusion policy and the overlay handling the native walker needs.
import { mkdtempSync, readFileSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NativeWalkOptions } from '../native/addon.js';
import {
  detectLiveSystem,
  lowerdirOption,
  type CaptureMode,
  type LiveLayout,
  type LowerLayer,
} from '../mount/index.js';
import { MountNamespace, NamespaceUnavailable } from '../mount/namespace.js';
import { findReplacedLayer } from '../live/replaced-layer.js';
import {
  buildExclusionPolicy,
  readExcludeFile,
  EXPECTED_SYSTEM_XATTRS,
  type ExclusionPolicy,
  type ExcludeSyntax,
} from '../policy/index.js';
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
  /** The base image given (--base): like the output, it may be a lower layer the new image replaces. */
  base?: string;
  /** mountinfo text instead of /proc/self/mountinfo (aufs cannot be mounted on current kernels: tests use this). */
  mountinfo?: string;
}

/** Diff mode: what the delta was computed against (for -d and --json). */
export interface LowerStack {
  /** The lower layers, topmost first, and where each was read from. */
  layers: { shownAs: string; path: string; image: string | null; loopMounted: boolean }[];
  /** 'single': the one layer read as it is; 'overlay': a read-only overlay of all of them, mounted at view. */
  stacked: 'single' | 'overlay';
  /** The lower view the merged root was compared with (a temporary mount in a private mount namespace, gone after the snapshot). */
  view: string;
  /** Where this process reads the view (through /proc/PID/root when it is mounted in the private namespace). */
  readAt: string;
}

/**
 * A cumulative save: the image replaces one of the live system's lower layers (an earlier snapshot stacked by
 * the boot), so it holds the delta of the merged view against the layers beneath that one — every earlier
 * session's changes that this one kept, in one image.
 */
export interface Cumulative {
  /** The layer replaced (folded into the new image): as the union shows it, and its image file. */
  replaces: { shownAs: string; image: string; by: 'inode' | 'path' };
  /**
   * fold: the upper layer merged over the replaced image's tree (upper mode; only the session's changes and the
   * image are read); diff: the merged view compared with the layers beneath (the whole tree is walked).
   */
  how: 'fold' | 'diff';
  /** Layers above it (they stay above the new image at the next boot), topmost first. */
  above: string[];
  /** The layers beneath it, compared against (topmost first), as the union shows them. */
  comparedWith: string[];
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
  /** The image replaces a lower layer (a cumulative save); null otherwise. */
  cumulative: Cumulative | null;
  /** The private mount namespace holding diff mode's lower view (the restore proof stacks over it), or null. */
  namespace: MountNamespace | null;
  /** Unmounts what the plan mounted (the lower view of diff mode: its namespace is closed). */
  cleanup: () => Promise<void>;
}

/** Overlay bookkeeping in an upper dir that means nothing in another stack. */
const OVERLAY_BOOKKEEPING = ['origin', 'impure', 'uuid', 'nlink', 'upper', 'metacopy', 'protattr', 'index'];

/**
 * The read-only lower view for diff mode: one reachable layer as is, or an overlay of them all. Layer images and
 * the overlay are mounted in a private mount namespace (nothing is mounted in the system's, whatever ends the
 * run); the walker reads the view through /proc/PID/root. The mount points stay until the namespace is closed:
 * removing one here would detach its mount there.
 */
async function lowerView(
  lowers: LowerLayer[],
  notes: string[],
): Promise<{ stack: LowerStack; namespace: MountNamespace | null; cleanup: () => Promise<void> }> {
  if (lowers.length === 0) throw new UsageError('diff mode needs the lower layers, and this root has none');
  let ns: MountNamespace | null = null;
  const dirs: string[] = [];
  const cleanup = async () => {
    await ns?.close();
    for (const d of dirs.reverse()) {
      try {
        rmdirSync(d);
      } catch {
        /* best effort */
      }
    }
  };
  const mountIn = async (args: string[], what: string) => {
    try {
      ns ??= await MountNamespace.open();
    } catch (err) {
      if (err instanceof NamespaceUnavailable)
        throw new CasperError(`diff mode cannot mount the lower layers: ${err.message}`, 'EMOUNT');
      throw err;
    }
    await ns.mount(args, what);
  };
  try {
    const layers: string[] = [];
    const described: LowerStack['layers'] = [];
    for (const l of lowers) {
      if (l.reachableAt) {
        layers.push(l.reachableAt);
        described.push({ shownAs: l.shownAs, path: l.reachableAt, image: null, loopMounted: false });
      } else if (l.image) {
        const dir = mkdtempSync(join(tmpdir(), 'casper-lower-'));
        dirs.push(dir);
        await mountIn(['-o', 'loop,ro', l.image, dir], `lower layer image ${l.image}`);
        layers.push(dir);
        described.push({ shownAs: l.shownAs, path: dir, image: l.image, loopMounted: true });
        notes.push(`mounted lower layer ${l.image} at ${dir} (private mount namespace)`);
      } else {
        throw new UsageError(
          `diff mode needs every lower layer, but ${l.shownAs} is not reachable and no image of it was found`,
        );
      }
    }
    if (layers.length === 1) {
      const view = layers[0];
      return {
        stack: { layers: described, stacked: 'single', view, readAt: ns ? (ns as MountNamespace).path(view) : view },
        namespace: ns,
        cleanup,
      };
    }
    const view = mkdtempSync(join(tmpdir(), 'casper-lowerview-'));
    dirs.push(view);
    await mountIn(
      ['-t', 'overlay', 'casper-lowerview', '-o', `ro,lowerdir=${lowerdirOption(layers)}`, view],
      'the lower view',
    );
    notes.push(`lower view: overlay of ${layers.join(', ')} at ${view} (private mount namespace)`);
    return { stack: { layers: described, stacked: 'overlay', view, readAt: ns!.path(view) }, namespace: ns, cleanup };
  } catch (err) {
    await cleanup();
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

/**
 * Whether the image replaces one of the lower layers (a cumulative save) and how the whole accumulated delta is
 * captured then: with the upper layer at hand and the replaced image directly beneath it, the upper merged over
 * that image's tree (fold; only this session's changes and the image are read); otherwise diff mode against the
 * layers beneath it (the whole merged view is walked). Upper mode alone would hold only this session's changes.
 */
function cumulativeSave(
  layout: LiveLayout,
  r: CaptureRequest,
  mode: CaptureMode,
  notes: string[],
): { mode: CaptureMode; cumulative: Cumulative | null; lowers: LowerLayer[] } {
  if (mode === 'full') return { mode, cumulative: null, lowers: layout.lowers };
  const found = findReplacedLayer(layout, [r.output, r.base]);
  if (!found) return { mode, cumulative: null, lowers: layout.lowers };
  const beneath = layout.lowers.slice(found.index + 1);
  if (beneath.length === 0)
    throw new UsageError(
      `'${found.matched}' is the live system's bottom layer (${found.layer.shownAs}): a session delta written there would have nothing beneath it; ` +
        'to rewrite the whole system as a new image, use --mode full',
    );
  const canFold =
    mode === 'upper' &&
    found.index === 0 &&
    !!found.layer.reachableAt &&
    layout.kind !== 'aufs' &&
    !!layout.upper?.reachable;
  const cumulative: Cumulative = {
    replaces: { shownAs: found.layer.shownAs, image: found.image, by: found.by },
    how: canFold ? 'fold' : 'diff',
    above: layout.lowers.slice(0, found.index).map((l) => l.shownAs),
    comparedWith: beneath.map((l) => l.shownAs),
  };
  notes.push(
    `cumulative save: '${found.matched}' replaces the lower layer ${found.layer.shownAs} (its image ${found.image}, same ${found.by}); ` +
      `the new image holds every earlier session's changes this one kept: ` +
      (canFold
        ? `the upper layer merged over that image's tree (${found.layer.reachableAt}), as overlayfs stacks them`
        : `the merged view's delta against the ${beneath.length} layer(s) beneath it`),
  );
  if (!canFold && mode === 'upper')
    notes.push(
      `${r.mode === 'upper' ? 'upper mode was asked for' : 'the upper layer is reachable'}, but it holds only this session's changes: ` +
        `diff mode against the layers beneath ${found.layer.shownAs} instead`,
    );
  if (cumulative.above.length > 0)
    notes.push(`layer(s) above the replaced one stay above it: ${cumulative.above.join(', ')}`);
  return { mode: canFold ? 'upper' : 'diff', cumulative, lowers: beneath };
}

// Long: one branch per capture mode (directory, upper, diff, full), each building its walk options.
export async function planCapture(r: CaptureRequest): Promise<CapturePlan> {
  const excludeLines = (r.excludeFiles ?? []).flatMap((f) => readExcludeFile(f));
  const policyInput = {
    excludes: r.exclude ?? [],
    excludeLines,
    syntax: r.excludeSyntax,
    output: r.output,
    tempOutput: r.tempOutput,
    hostRoot: r.source, // -e's host paths (mksquashfs's forms) are resolved against the tree captured
  };
  const base = {
    xattrs: r.xattrs,
    ignoreErrors: r.ignoreErrors,
    oneFileSystem: r.oneFileSystem ?? false,
    compareContents: r.compareContents ?? false,
  };
  const nothing = { lowerStack: null, cumulative: null, namespace: null, cleanup: async () => {} };

  if (r.source !== undefined) {
    // A plain directory: only the caller's excludes (and never the output itself).
    const policy = buildExclusionPolicy({
      ...policyInput,
      layout: null,
      mode: 'full',
      defaults: false,
      scrub: r.scrub,
    });
    return {
      mode: 'directory',
      layout: null,
      walkRoot: r.source,
      walk: { ...base, exclude: policy.exclude, truncate: policy.truncate, emptyDirs: [] },
      policy,
      notes: [],
      ...nothing,
    };
  }

  if (process.getuid?.() !== 0)
    throw new UsageError(
      'capturing a live system needs root: without it xattrs read back empty and whiteouts cannot be read',
      { option: 'source' },
    );
  const layout = detectLiveSystem({ mountinfo: r.mountinfo, root: r.root ?? '/', filesystem: r.filesystem });
  if (r.mode === undefined && layout.kind === 'none') {
    // Full mode on an installed system is an 18 GiB, many-minute job: only when asked for by name.
    const root = r.root ?? '/';
    const what = layout.fsType
      ? `its filesystem is ${layout.fsType}, not an overlay or aufs union`
      : 'no overlay or aufs union is mounted there';
    throw new UsageError(`'${root}' is not a live system (${what}), so there is no session layer to capture`, {
      option: 'sourceOrFullMode',
      root,
    });
  }
  const notes = [...layout.notes];
  const { mode, cumulative, lowers } = cumulativeSave(layout, r, r.mode ?? layout.defaultMode ?? 'full', notes); // null only for kind 'none', refused above without a mode
  const policy = buildExclusionPolicy({
    ...policyInput,
    layout,
    mode,
    defaults: r.defaultExcludes ?? true,
    scrub: r.scrub,
    swaps: readSwaps(),
  });
  // Known noise (journald's ACLs) is a note, not a warning at every save, unless the defaults are off.
  const expected = r.defaultExcludes === false ? {} : { expectedSystemXattrs: [...EXPECTED_SYSTEM_XATTRS] };
  const lists = { exclude: policy.exclude, truncate: policy.truncate, emptyDirs: policy.emptyDirs, ...expected };

  if (mode === 'upper') {
    if (!layout.upper?.reachable || !layout.upper.path)
      throw new UsageError(
        `upper mode needs the upper layer, which is not reachable here${layout.upper ? ` (${layout.upper.shownAs})` : ''}`,
        { option: 'mode', value: 'diff' },
      );
    const prefix = layout.xattrPrefix;
    // A cumulative save by folding: the replaced image's tree under the upper, the layers beneath for whiteouts.
    const fold = cumulative ? await lowerView(lowers, notes) : null;
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
        ...(fold
          ? {
              foldRoot: layout.lowers.find((l) => l.shownAs === cumulative!.replaces.shownAs)!.reachableAt!,
              beneathRoot: fold.stack.readAt,
            }
          : {}),
      },
      policy,
      notes,
      ...nothing,
      ...(fold ? { lowerStack: fold.stack, cumulative, namespace: fold.namespace, cleanup: fold.cleanup } : {}),
    };
  }
  if (mode === 'diff') {
    const view = await lowerView(lowers, notes);
    return {
      mode,
      layout,
      walkRoot: layout.root,
      walk: { ...base, ...lists, oneFileSystem: true, lowerRoot: view.stack.readAt },
      policy,
      notes,
      lowerStack: view.stack,
      cumulative,
      namespace: view.namespace,
      cleanup: view.cleanup,
    };
  }
  return {
    mode,
    layout,
    walkRoot: layout.root,
    walk: { ...base, ...lists, oneFileSystem: true },
    policy,
    notes,
    ...nothing,
  };
}
