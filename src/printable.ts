// Text any user may have chosen (a file name, an exclude entry, a path) as it may appear in a message on root's
// terminal and in the journal: backslashes and control characters (C0, DEL, C1) escaped as native/util/printable.cc
// escapes names (\\, \n, \t, \ooo), so it can neither break a line, forge one, nor send an escape sequence. Names
// that come from the addon are escaped there already (bytes that are not UTF-8 included).

const octal = (c: number) => `\\${c.toString(8).padStart(3, '0')}`;

export function printable(s: string): string {
  return s.replace(/[\\\x00-\x1f\x7f-\x9f]/g, (ch) =>
    ch === '\\' ? '\\\\' : ch === '\n' ? '\\n' : ch === '\t' ? '\\t' : octal(ch.charCodeAt(0)),
  );
}

/**
 * The last guard before a line is written: control characters still in it (from text built without printable())
 * escaped, backslashes left alone (so text escaped already is not escaped twice).
 */
export function oneLine(s: string): string {
  return s.replace(/[\x00-\x1f\x7f-\x9f]/g, (ch) =>
    ch === '\n' ? '\\n' : ch === '\t' ? '\\t' : octal(ch.charCodeAt(0)),
  );
}
