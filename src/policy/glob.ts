// One path component against one shell wildcard, as mksquashfs -wildcards does it: glibc fnmatch with
// FNM_PERIOD and FNM_EXTMATCH (components never hold '/', so FNM_PATHNAME changes nothing). The native
// walker can call fnmatch(3) with those flags on the same pattern text and get the same answers.
//   *  ?  [abc] [a-z] [!x] [^x] [[:alpha:]]  \x (literal x)
//   ?(a|b) *(a|b) +(a|b) @(a|b) !(a|b)        (extended, as in bash extglob)
// A leading '.' in a name is matched only by a literal '.' in the pattern (FNM_PERIOD).

type Tok =
  | { t: 'lit'; c: string }
  | { t: 'any' }
  | { t: 'star' }
  | { t: 'set'; neg: boolean; test: (c: string) => boolean }
  | { t: 'ext'; op: string; alts: Tok[][] };

const CLASSES: Record<string, (c: string) => boolean> = {
  alpha: (c) => /[A-Za-z]/.test(c),
  digit: (c) => /[0-9]/.test(c),
  alnum: (c) => /[A-Za-z0-9]/.test(c),
  upper: (c) => /[A-Z]/.test(c),
  lower: (c) => /[a-z]/.test(c),
  space: (c) => /[ \t\n\r\f\v]/.test(c),
  blank: (c) => c === ' ' || c === '\t',
  punct: (c) => /[!-/:-@[-`{-~]/.test(c),
  xdigit: (c) => /[0-9A-Fa-f]/.test(c),
  cntrl: (c) => c.charCodeAt(0) < 32 || c.charCodeAt(0) === 127,
  print: (c) => c >= ' ' && c <= '~',
  graph: (c) => c > ' ' && c <= '~',
};

/** Index of the ')' closing the group opened at p[open] === '(', or -1. */
function closeParen(p: string, open: number): number {
  let depth = 0;
  for (let i = open; i < p.length; i++) {
    const c = p[i];
    if (c === '\\') i++;
    else if (c === '[') {
      const end = parseSet(p, i);
      if (end) i = end.next - 1;
    } else if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return i;
  }
  return -1;
}

/** Splits an extglob body on its top-level '|'. */
function splitAlts(body: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === '\\') i++;
    else if (c === '[') {
      const end = parseSet(body, i);
      if (end) i = end.next - 1;
    } else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === '|' && depth === 0) {
      out.push(body.slice(start, i));
      start = i + 1;
    }
  }
  out.push(body.slice(start));
  return out;
}

/** A bracket expression at p[i] === '['; null when it is not closed (then '[' is literal, as in fnmatch). */
function parseSet(p: string, i: number): { tok: Tok; next: number } | null {
  let j = i + 1;
  const neg = p[j] === '!' || p[j] === '^';
  if (neg) j++;
  const tests: ((c: string) => boolean)[] = [];
  let first = true;
  while (j < p.length && (p[j] !== ']' || first)) {
    first = false;
    let c = p[j];
    if (c === '[' && p[j + 1] === ':') {
      const end = p.indexOf(':]', j + 2);
      const fn = end > 0 ? CLASSES[p.slice(j + 2, end)] : undefined;
      if (fn) {
        tests.push(fn);
        j = end + 2;
        continue;
      }
    }
    if (c === '\\' && j + 1 < p.length) c = p[++j];
    if (p[j + 1] === '-' && j + 2 < p.length && p[j + 2] !== ']') {
      let hi = p[j + 2];
      j += 2;
      if (hi === '\\' && j + 1 < p.length) hi = p[++j];
      const lo = c;
      tests.push((x) => x >= lo && x <= hi);
    } else {
      tests.push((x) => x === c);
    }
    j++;
  }
  if (j >= p.length) return null;
  return { tok: { t: 'set', neg, test: (x) => tests.some((f) => f(x)) !== neg }, next: j + 1 };
}

export function parseGlob(p: string): Tok[] {
  const toks: Tok[] = [];
  for (let i = 0; i < p.length; i++) {
    const c = p[i];
    if ('?*+@!'.includes(c) && p[i + 1] === '(') {
      const end = closeParen(p, i + 1);
      if (end > 0) {
        toks.push({ t: 'ext', op: c, alts: splitAlts(p.slice(i + 2, end)).map(parseGlob) });
        i = end;
        continue;
      }
    }
    if (c === '*') {
      if (toks[toks.length - 1]?.t !== 'star') toks.push({ t: 'star' });
    } else if (c === '?') toks.push({ t: 'any' });
    else if (c === '[') {
      const set = parseSet(p, i);
      if (set) {
        toks.push(set.tok);
        i = set.next - 1;
      } else toks.push({ t: 'lit', c });
    } else if (c === '\\' && i + 1 < p.length) toks.push({ t: 'lit', c: p[++i] });
    else toks.push({ t: 'lit', c });
  }
  return toks;
}

/** True when the pattern has any wildcard, set, extglob or escape (else it only matches itself). */
export function hasGlobMagic(p: string): boolean {
  return /[*?[\\]|[+@!]\(/.test(p);
}

/** Compiles a component pattern into a name test. Never throws: malformed syntax is literal text. */
export function compileGlob(pattern: string): (name: string) => boolean {
  const toks = parseGlob(pattern);
  return (name: string) => {
    const memo = new Map<string, boolean>();
    let ids = 0;
    const idOf = new Map<Tok[], number>();
    const id = (ts: Tok[]) => {
      const known = idOf.get(ts);
      if (known !== undefined) return known;
      idOf.set(ts, ++ids);
      return ids;
    };
    // Does ts[ti..] match exactly name[si..end)?
    const seq = (ts: Tok[], ti: number, si: number, end: number): boolean => {
      const key = `${id(ts)},${ti},${si},${end}`;
      const hit = memo.get(key);
      if (hit !== undefined) return hit;
      const r = step(ts, ti, si, end);
      memo.set(key, r);
      return r;
    };
    const step = (ts: Tok[], ti: number, si: number, end: number): boolean => {
      if (ti === ts.length) return si === end;
      const k = ts[ti];
      const leadDot = si === 0 && name[0] === '.';
      switch (k.t) {
        case 'lit':
          return si < end && name[si] === k.c && seq(ts, ti + 1, si + 1, end);
        case 'any':
          return si < end && !leadDot && seq(ts, ti + 1, si + 1, end);
        case 'set':
          return si < end && !leadDot && k.test(name[si]) && seq(ts, ti + 1, si + 1, end);
        case 'star':
          if (leadDot) return false;
          for (let j = si; j <= end; j++) if (seq(ts, ti + 1, j, end)) return true;
          return false;
        case 'ext': {
          const alt = (from: number, to: number) => k.alts.some((a) => seq(a, 0, from, to));
          const rest = (at: number) => seq(ts, ti + 1, at, end);
          // one or more repetitions from `from`, each consuming at least one character
          const more = (from: number): boolean => {
            const key = `+${id(ts)},${ti},${from},${end}`;
            const hit = memo.get(key);
            if (hit !== undefined) return hit;
            let r = false;
            for (let e = from + 1; e <= end && !r; e++) r = alt(from, e) && (rest(e) || more(e));
            memo.set(key, r);
            return r;
          };
          switch (k.op) {
            case '@':
              for (let e = si; e <= end; e++) if (alt(si, e) && rest(e)) return true;
              return false;
            case '?':
              if (rest(si)) return true;
              for (let e = si; e <= end; e++) if (alt(si, e) && rest(e)) return true;
              return false;
            case '*':
              return rest(si) || more(si);
            case '+':
              return (alt(si, si) && rest(si)) || more(si);
            default: // '!': any text the alternatives do not match (never a leading '.', as in bash)
              if (leadDot) return false;
              for (let e = si; e <= end; e++) if (!alt(si, e) && rest(e)) return true;
              return false;
          }
        }
      }
    };
    return seq(toks, 0, 0, name.length);
  };
}
