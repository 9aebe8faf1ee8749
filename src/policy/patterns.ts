// Exclude entries (-e, -ef lines, config) turned into exact image paths or compiled patterns.
//
// Semantics follow mksquashfs 4.5 (checked against mksquashfs 4.5.1 on this machine):
//  - without -wildcards/-regex an entry is one exact path below the source root ("var/cache");
//  - with -wildcards each '/'-separated component is a shell wildcard (see glob.ts), with -regex a POSIX
//    ERE searched within the name (see ere.ts); the pattern is anchored at the source root and matches
//    whole paths component by component: "*.gz" is only the top level, "var/log/*" empties /var/log but
//    keeps it, "*/.bash_history" is one level down;
//  - a leading "... " makes the pattern non-anchored: it matches at any depth ("... *.gz");
//  - a trailing '/' and doubled '/' are ignored: "a/b/" also excludes a file a/b.
// Differences from mksquashfs: a leading '/' or './' is accepted (our image paths are written
// "/var/cache"; mksquashfs refuses both with -wildcards/-regex), '..' is refused, and
// multi-component non-anchored patterns ("... a/b") match a/b at any depth (4.5.1 drops all of a).
import { UsageError } from '../errors.js';
import { compileEre } from './ere.js';
import { compileGlob, hasGlobMagic } from './glob.js';

export type ExcludeSyntax = 'exact' | 'wildcards' | 'regex';

/**
 * A pattern in the form the native walker can take as is: per-component texts for fnmatch(3)
 * (FNM_PERIOD|FNM_EXTMATCH) or regcomp(3) (REG_EXTENDED|REG_NOSUB, searched). An entry matches when
 * its first components match `anchored` one to one and, if `floating` is not null, its last
 * components match `floating` (any number of components in between); with floating null the path
 * has exactly the anchored components.
 */
export interface CompiledPattern {
  syntax: 'glob' | 'regex';
  anchored: string[];
  floating: string[] | null;
  /** Only non-directories match (scrub rules that empty a tree but keep its directories). */
  nonDirOnly: boolean;
  /** The entry as written, and where it came from ("-e", "FILE:LINE", "scrub"). */
  source: string;
  origin: string;
}

export type ParsedExclude =
  | { kind: 'path'; path: string; origin: string }
  | { kind: 'pattern'; pattern: CompiledPattern };

/** A bad exclude entry; `origin` names the option or FILE:LINE. */
export class ExcludeError extends UsageError {
  origin: string;
  constructor(origin: string, message: string) {
    super(`${origin}: ${message}`);
    this.name = 'ExcludeError';
    this.origin = origin;
  }
}

// Empty components always go; '.' components only from exact paths and a leading "./" (in a regex
// '.' is any character, and as a wildcard it matches nothing, as in mksquashfs).
function components(text: string, origin: string, exact: boolean): string[] {
  const parts = text
    .replace(/^(\.\/+)+/, '')
    .split('/')
    .filter((c) => c !== '' && !(exact && c === '.'));
  if (parts.includes('..')) throw new ExcludeError(origin, `'${text}' leaves the source ('..' is not allowed)`);
  if (parts.length === 0) throw new ExcludeError(origin, `'${text}' names the whole source`);
  return parts;
}

/** Normalises an exact entry to an image path: "var/cache/", "./var/cache" and "/var/cache" → "/var/cache". */
export function exactPath(text: string, origin: string): string {
  return '/' + components(text, origin, true).join('/');
}

export function parseExclude(text: string, syntax: ExcludeSyntax, origin: string): ParsedExclude {
  if (syntax === 'exact')
    return { kind: 'path', path: exactPath(text.startsWith('\\#') ? text.slice(1) : text, origin), origin };
  const floating = text.startsWith('... ');
  const comps = components(floating ? text.slice(4) : text, origin, false);
  if (syntax === 'wildcards' && !floating && !comps.some(hasGlobMagic))
    return { kind: 'path', path: '/' + comps.join('/'), origin };
  if (syntax === 'regex') {
    for (const c of comps) {
      try {
        compileEre(c);
      } catch (err) {
        throw new ExcludeError(origin, `invalid regular expression '${c}' in '${text}': ${(err as Error).message}`);
      }
    }
  }
  const pattern: CompiledPattern = {
    syntax: syntax === 'regex' ? 'regex' : 'glob',
    anchored: floating ? [] : comps,
    floating: floating ? comps : null,
    nonDirOnly: false,
    source: text,
    origin,
  };
  return { kind: 'pattern', pattern };
}

type NameTest = (name: string) => boolean;

function componentTest(syntax: CompiledPattern['syntax'], c: string): NameTest {
  if (syntax === 'glob') return compileGlob(c);
  const re = compileEre(c);
  return (name) => re.test(name);
}

/** One test per pattern: does this entry (not an ancestor) match? */
export function compilePattern(p: CompiledPattern): (comps: readonly string[], isDir: boolean) => boolean {
  const anchored = p.anchored.map((c) => componentTest(p.syntax, c));
  const floating = p.floating?.map((c) => componentTest(p.syntax, c)) ?? null;
  return (comps, isDir) => {
    if (p.nonDirOnly && isDir) return false;
    const a = anchored.length;
    if (floating === null ? comps.length !== a : comps.length < a + floating.length) return false;
    for (let i = 0; i < a; i++) if (!anchored[i](comps[i])) return false;
    if (floating) {
      const off = comps.length - floating.length;
      for (let i = 0; i < floating.length; i++) if (!floating[i](comps[off + i])) return false;
    }
    return true;
  };
}

/** Splits an image path ("/var/log/x") into components. */
export const pathComponents = (imagePath: string): string[] => imagePath.split('/').filter((c) => c !== '');

/**
 * The matcher a walker calls on each entry as it descends: true when a pattern matches this entry
 * itself (ancestors were already asked when the walk reached them).
 */
export function compileMatcher(patterns: readonly CompiledPattern[]): (imagePath: string, isDir: boolean) => boolean {
  const tests = patterns.map(compilePattern);
  return (imagePath, isDir) => {
    if (tests.length === 0) return false;
    const comps = pathComponents(imagePath);
    return tests.some((t) => t(comps, isDir));
  };
}
