// Reads one `[export] KEY=VALUE` line the way sh would, without running anything: single quotes,
// double quotes (\" \\ \$ \` escapes), backslash escapes and a trailing # comment. Anything that
// would make the shell expand or execute ($, `, unquoted ; & | < > ( ), words after the value) is
// reported instead of guessed at.

export type AssignResult =
  | { kind: 'blank' }
  | { kind: 'assign'; key: string; value: string }
  | { kind: 'error'; key: string | null; why: string };

const ASSIGN = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s;

export function parseAssignment(line: string): AssignResult {
  if (/^\s*(#|$)/.test(line)) return { kind: 'blank' };
  const m = ASSIGN.exec(line);
  if (!m) {
    const key = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)/.exec(line)?.[1] ?? null;
    const why =
      key && /^\s*(?:export\s+)?[A-Za-z_]\w*\s+=/.test(line)
        ? "no spaces are allowed around '='"
        : 'not a KEY=VALUE assignment';
    return { kind: 'error', key, why };
  }
  const key = m[1];
  const src = m[2];
  let value = '';
  let i = 0;
  const fail = (why: string): AssignResult => ({ kind: 'error', key, why });
  while (i < src.length) {
    const c = src[i];
    if (c === "'") {
      const end = src.indexOf("'", i + 1);
      if (end < 0) return fail('unterminated single quote');
      value += src.slice(i + 1, end);
      i = end + 1;
    } else if (c === '"') {
      i++;
      for (;;) {
        if (i >= src.length) return fail('unterminated double quote');
        const d = src[i];
        if (d === '"') break;
        if (d === '\\' && i + 1 < src.length && '"\\$`'.includes(src[i + 1])) {
          value += src[i + 1];
          i += 2;
        } else if (d === '$' || d === '`') return fail('variable expansion and command substitution are not supported');
        else {
          value += d;
          i++;
        }
      }
      i++;
    } else if (c === '\\') {
      if (i + 1 >= src.length) return fail('backslash at the end of the line (continued lines are not supported)');
      value += src[i + 1];
      i += 2;
    } else if (c === ' ' || c === '\t' || c === '\r') {
      const rest = src.slice(i).trim();
      if (rest === '' || rest.startsWith('#')) break;
      return fail('unquoted space in the value (quote it)');
    } else if (c === '$' || c === '`') return fail('variable expansion and command substitution are not supported');
    else if (';&|<>()'.includes(c)) return fail(`shell syntax '${c}' is not supported (quote it)`);
    else {
      value += c;
      i++;
    }
  }
  return { kind: 'assign', key, value };
}
