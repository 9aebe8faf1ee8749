// The exclusion policy of one snapshot: defaults for the layout and mode, optional scrubbing, and the
// user's -e / -ef entries, reduced to the walker's exact lists plus compiled patterns.
import type { CaptureMode, LiveLayout } from '../mount/detect.js';
import { isWithin } from '../mount/paths.js';
import { defaultExcludes, minimalLists, type DefaultExtras, type PolicyRule } from './defaults.js';
import type { ExcludeLine } from './exclude-file.js';
import { compileMatcher, exactPath, parseExclude, pathComponents, type CompiledPattern, type ExcludeSyntax } from './patterns.js';
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
}

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
  describe(): string;
}

export function buildExclusionPolicy(input: PolicyInput): ExclusionPolicy {
  const { mode } = input;
  const defaults = defaultExcludes(input.layout ?? null, mode, input);
  const rules: PolicyRule[] = [...defaults.rules];
  const patterns: CompiledPattern[] = [];
  const truncate: string[] = [];

  const addPath = (path: string, origin: string, why: string) => {
    // An explicit exclude overrides a default empty-dir for the same path.
    const i = rules.findIndex((r) => !r.pattern && r.path === path);
    if (i >= 0) rules.splice(i, 1);
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
        patterns.push({ syntax: 'glob', anchored, floating: ['@(.*|*)'], nonDirOnly: true, source: `${s.path}/**`, origin: 'scrub' });
        rules.push({ path: `${s.path}/** (files)`, action: 'exclude', origin: 'scrub', why: s.why, pattern: true });
      } else if (parsed.kind === 'path') addPath(parsed.path, 'scrub', s.why);
      else {
        patterns.push(parsed.pattern);
        rules.push({ path: s.path, action: 'exclude', origin: 'scrub', why: s.why, pattern: true });
      }
    }
  }
  const syntax = input.syntax ?? 'exact';
  const entries = [...(input.excludes ?? []).map((text) => ({ text, origin: '-e' })), ...(input.excludeLines ?? [])];
  for (const e of entries) {
    const parsed = parseExclude(e.text, syntax, e.origin);
    if (parsed.kind === 'path') addPath(parsed.path, e.origin, 'excluded by the user');
    else {
      patterns.push(parsed.pattern);
      rules.push({ path: e.text, action: 'exclude', origin: e.origin, why: `${syntax} pattern`, pattern: true });
    }
  }

  const { exclude, emptyDirs } = minimalLists(rules);
  const matches = compileMatcher(patterns);
  return {
    mode,
    exclude,
    emptyDirs,
    truncate,
    patterns,
    matches,
    rules,
    describe: () => describePolicy(mode, rules, exclude, emptyDirs),
  };
}

function describePolicy(mode: CaptureMode, rules: readonly PolicyRule[], exclude: string[], emptyDirs: string[]): string {
  const word: Record<PolicyRule['action'], string> = { exclude: 'exclude', 'empty-dir': 'empty', truncate: 'truncate' };
  const exact = rules.filter((r) => !r.pattern);
  const count = (a: PolicyRule['action']) => exact.filter((r) => r.action === a).length;
  const inside = exact.filter((r) => r.action !== 'truncate' && !exclude.includes(r.path) && !emptyDirs.includes(r.path)).length;
  const lines = [
    `${mode} mode: ${count('exclude')} path(s) left out, ${count('empty-dir')} kept as empty directories, ${count('truncate')} stored empty, ` +
      `${rules.length - exact.length} pattern(s)${inside ? ` (${inside} of the paths lie inside another listed one)` : ''}`,
  ];
  const width = Math.min(40, Math.max(...rules.map((r) => r.path.length), 4));
  for (const r of rules) {
    const redundant = !r.pattern && r.action !== 'truncate' && !exclude.includes(r.path) && !emptyDirs.includes(r.path);
    const note = redundant ? ` (inside ${[...exclude, ...emptyDirs].find((o) => isWithin(r.path, o))})` : '';
    lines.push(`  ${word[r.action].padEnd(8)} ${r.path.padEnd(width)}  ${r.origin}: ${r.why}${note}`);
  }
  return lines.join('\n');
}
