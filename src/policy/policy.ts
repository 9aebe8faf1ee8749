// The exclusion policy of one snapshot: defaults for the layout and mode, optional scrubbing, and the
// user's -e / -ef entries, reduced to the walker's exact lists plus compiled patterns.
import { realpathSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import type { CaptureMode, LiveLayout } from '../mount/detect.js';
import { normalizePath, toImagePath } from '../mount/paths.js';
import { defaultExcludes, minimalLists, type DefaultExtras, type PolicyRule } from './defaults.js';
import type { ExcludeLine } from './exclude-file.js';
import {
  ExcludeError,
  compileMatcher,
  exactPath,
  parseExclude,
  pathComponents,
  type CompiledPattern,
  type ExcludeSyntax,
} from './patterns.js';
import { scrubList } from './scrub.js';

export interface PolicyInput extends DefaultExtras {
  layout?: LiveLayout | null;
  mode: CaptureMode;
  /** -e entries, in order. */
  excludes?: readonly string[];
  /** -ef files, already parsed (parseExcludeFile / readExcludeFile). */
  excludeLines?: readonly ExcludeLine[];
  /** -wildcards / -regex: how -e and -ef entries are read (default exact), as in mksquashfs. */
  syntax?: ExcludeSyntax;
  /** Leave out machine identity, secrets and logs (scrubList()). */
  scrub?: boolean;
  /**
   * The host directory the image's root is (the source, or the live root; default the layout's root, else "/"),
   * and the directory relative -e paths start from (default the current one): mksquashfs's path forms of an
   * exact entry, "/abs/path" inside that directory and "./rel" or "../rel" from the current one, name host paths.
   */
  hostRoot?: string;
  cwd?: string;
}

/** One of the user's entries (-e, -ef, config), to tell after the walk whether it matched anything. */
export type UserExclude = { text: string; origin: string } & (
  | { kind: 'path'; path: string }
  | { kind: 'pattern'; index: number }
  | { kind: 'outside' }
);

export interface ExclusionPolicy {
  mode: CaptureMode;
  /** Image paths left out entirely (WalkOptions.exclude). */
  exclude: string[];
  /** Image paths kept as empty directories (WalkOptions.emptyDirs). */
  emptyDirs: string[];
  /** Image paths stored as empty files, same owner and mode (WalkOptions.truncate). */
  truncate: string[];
  /** Wildcard and regex patterns: matched by matches() once per entry after the walk (src/api/snapshot.ts). */
  patterns: CompiledPattern[];
  /** Does a pattern match this entry itself? (a walker asks each entry as it descends) */
  matches: (imagePath: string, isDir: boolean) => boolean;
  rules: PolicyRule[];
  /** The user's entries, in order, with what each became (an exact image path, a pattern, or a host path outside the tree). */
  userExcludes: UserExclude[];
  describe(): string;
}

/** A host path with its directories resolved (symlinks in them followed, as mksquashfs's lstat does); the last name kept. */
function hostPath(p: string): string {
  const n = normalizePath(p);
  if (n === '/') return n;
  try {
    return join(realpathSync(dirname(n)), basename(n));
  } catch {
    return n;
  }
}

function realDir(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return normalizePath(p);
  }
}

/**
 * mksquashfs's forms of an exact entry: "./x" and "../x" are host paths from the current directory, "/x" a host
 * path when it lies in the captured tree; the image path they name, or null for a host path outside it. Any
 * other entry is a path below the root ("var/log", and "/var/log" outside a tree it is not in).
 */
function exactEntryPath(text: string, origin: string, root: string, cwd: string): string | null {
  const relative = /^\.\.?(\/|$)/.test(text);
  if (!relative && !isAbsolute(text)) return exactPath(text, origin);
  const host = hostPath(relative ? resolve(cwd, text) : text);
  const inside = toImagePath(host, root);
  if (inside === '/') throw new ExcludeError(origin, `'${text}' names the whole source`);
  if (inside !== null) return inside;
  return relative ? null : exactPath(text, origin);
}

export function buildExclusionPolicy(input: PolicyInput): ExclusionPolicy {
  const { mode } = input;
  const defaults = defaultExcludes(input.layout ?? null, mode, input);
  // Rules by position; an exact rule replaced by a later one for the same path is dropped at the end. Maps, not
  // list scans: an -ef file of 60,000 entries costs what 60,000 hash look-ups cost.
  const rules: (PolicyRule | null)[] = [...defaults.rules];
  const exactAt = new Map<string, number>();
  rules.forEach((r, i) => {
    if (r && !r.pattern) exactAt.set(r.path, i);
  });
  const patterns: CompiledPattern[] = [];
  const truncate: string[] = [];
  const userExcludes: UserExclude[] = [];

  const addPath = (path: string, origin: string, why: string) => {
    // An explicit exclude overrides a default empty-dir for the same path.
    const i = exactAt.get(path);
    if (i !== undefined) rules[i] = null;
    exactAt.set(path, rules.length);
    rules.push({ path, action: 'exclude', origin, why });
  };
  if (input.scrub) {
    for (const s of scrubList()) {
      if (s.action === 'truncate') {
        truncate.push(s.path);
        rules.push({ path: s.path, action: 'truncate', origin: 'scrub', why: s.why });
        continue;
      }
      const parsed = parseExclude(s.path, 'wildcards', 'scrub');
      if (s.filesBelow) {
        const anchored = pathComponents(exactPath(s.path, 'scrub'));
        patterns.push({
          syntax: 'glob',
          anchored,
          floating: ['@(.*|*)'],
          nonDirOnly: true,
          source: `${s.path}/**`,
          origin: 'scrub',
        });
        rules.push({ path: `${s.path}/** (files)`, action: 'exclude', origin: 'scrub', why: s.why, pattern: true });
      } else if (parsed.kind === 'path') addPath(parsed.path, 'scrub', s.why);
      else {
        patterns.push(parsed.pattern);
        rules.push({ path: s.path, action: 'exclude', origin: 'scrub', why: s.why, pattern: true });
      }
    }
  }
  const syntax = input.syntax ?? 'exact';
  const root = realDir(input.hostRoot ?? input.layout?.root ?? '/');
  const cwd = input.cwd ?? process.cwd();
  const entries = [...(input.excludes ?? []).map((text) => ({ text, origin: '-e' })), ...(input.excludeLines ?? [])];
  for (const e of entries) {
    if (syntax === 'exact') {
      const path = exactEntryPath(e.text.startsWith('\\#') ? e.text.slice(1) : e.text, e.origin, root, cwd);
      if (path === null) {
        userExcludes.push({ text: e.text, origin: e.origin, kind: 'outside' });
        continue;
      }
      addPath(path, e.origin, 'excluded by the user');
      userExcludes.push({ text: e.text, origin: e.origin, kind: 'path', path });
      continue;
    }
    const parsed = parseExclude(e.text, syntax, e.origin);
    if (parsed.kind === 'path') {
      addPath(parsed.path, e.origin, 'excluded by the user');
      userExcludes.push({ text: e.text, origin: e.origin, kind: 'path', path: parsed.path });
    } else {
      userExcludes.push({ text: e.text, origin: e.origin, kind: 'pattern', index: patterns.length });
      patterns.push(parsed.pattern);
      rules.push({ path: e.text, action: 'exclude', origin: e.origin, why: `${syntax} pattern`, pattern: true });
    }
  }

  const kept = rules.filter((r): r is PolicyRule => r !== null);
  const { exclude, emptyDirs } = minimalLists(kept);
  const matches = compileMatcher(patterns);
  return {
    mode,
    exclude,
    emptyDirs,
    truncate,
    patterns,
    matches,
    rules: kept,
    userExcludes,
    describe: () => describePolicy(mode, kept, exclude, emptyDirs),
  };
}

function describePolicy(
  mode: CaptureMode,
  rules: readonly PolicyRule[],
  exclude: string[],
  emptyDirs: string[],
): string {
  const word: Record<PolicyRule['action'], string> = { exclude: 'exclude', 'empty-dir': 'empty', truncate: 'truncate' };
  const exact = rules.filter((r) => !r.pattern);
  const count = (a: PolicyRule['action']) => exact.filter((r) => r.action === a).length;
  const listed = new Set([...exclude, ...emptyDirs]); // a set: an -ef file may hold tens of thousands of entries
  const inside = exact.filter((r) => r.action !== 'truncate' && !listed.has(r.path)).length;
  const lines = [
    `${mode} mode: ${count('exclude')} path(s) left out, ${count('empty-dir')} kept as empty directories, ${count('truncate')} stored empty, ` +
      `${rules.length - exact.length} pattern(s)${inside ? ` (${inside} of the paths lie inside another listed one)` : ''}`,
  ];
  const width = Math.min(40, Math.max(...rules.map((r) => r.path.length), 4));
  for (const r of rules) {
    const redundant = !r.pattern && r.action !== 'truncate' && !listed.has(r.path);
    const note = redundant ? ` (inside ${ancestorIn(r.path, listed) ?? '?'})` : '';
    lines.push(`  ${word[r.action].padEnd(8)} ${r.path.padEnd(width)}  ${r.origin}: ${r.why}${note}`);
  }
  return lines.join('\n');
}

/** The nearest proper ancestor of an image path that is in `set`, or undefined. */
export function ancestorIn(path: string, set: ReadonlySet<string>): string | undefined {
  for (let i = path.lastIndexOf('/'); i > 0; i = path.lastIndexOf('/', i - 1)) {
    const up = path.slice(0, i);
    if (set.has(up)) return up;
  }
  return undefined;
}
