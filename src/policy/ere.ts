// POSIX extended regular expressions (what mksquashfs -regex hands to regcomp(REG_EXTENDED|REG_NOSUB))
// translated to a JavaScript RegExp. Matching is a search, not anchored, exactly like regexec: "gz"
// matches "x.gz"; write ^…$ to anchor. The native walker can pass the same text to regcomp instead.

const CLASSES: Record<string, string> = {
  alpha: 'A-Za-z',
  digit: '0-9',
  alnum: 'A-Za-z0-9',
  upper: 'A-Z',
  lower: 'a-z',
  space: ' \\t\\n\\r\\f\\v',
  blank: ' \\t',
  punct: '!-\\/:-@\\[-`{-~',
  xdigit: '0-9A-Fa-f',
  cntrl: '\\x00-\\x1f\\x7f',
  print: ' -~',
  graph: '!-~',
};

/** Compiles one ERE; throws Error with the reason when it is not a valid expression. */
export function compileEre(src: string): RegExp {
  let out = '';
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (c === '\\') {
      if (i + 1 >= src.length) throw new Error('trailing backslash');
      const n = src[++i];
      if (n === '<' || n === '>')
        out += '\\b'; // GNU word boundaries
      else if (n === '`') out += '^';
      else if (n === "'") out += '$';
      else if (/[wWsSbB1-9]/.test(n))
        out += '\\' + n; // GNU classes, boundaries, back-references
      else if (/[A-Za-z0-9]/.test(n))
        out += n; // other escaped letters are the letter itself
      else out += '\\' + n;
    } else if (c === '[') {
      let j = i + 1;
      let cls = '[';
      if (src[j] === '^') {
        cls += '^';
        j++;
      }
      let first = true;
      for (; j < src.length && (src[j] !== ']' || first); j++) {
        first = false;
        const d = src[j];
        if (d === '[' && /[:=.]/.test(src[j + 1] ?? '')) {
          const kind = src[j + 1];
          const end = src.indexOf(kind + ']', j + 2);
          if (end < 0) throw new Error('unmatched [ in a bracket expression');
          const name = src.slice(j + 2, end);
          if (kind === ':') {
            if (!(name in CLASSES)) throw new Error(`invalid character class [:${name}:]`);
            cls += CLASSES[name];
          } else cls += name.replace(/[\\\]^[-]/g, '\\$&');
          j = end + 1;
        } else if (d === '\\' || d === ']' || d === '[' || (d === '^' && cls.length > 1)) cls += '\\' + d;
        else cls += d;
      }
      if (j >= src.length) throw new Error('unmatched [');
      out += cls + ']';
      i = j;
    } else out += c;
  }
  try {
    return new RegExp(out);
  } catch (err) {
    throw new Error((err as Error).message.replace(/^Invalid regular expression: \/.*\/: /, ''));
  }
}
