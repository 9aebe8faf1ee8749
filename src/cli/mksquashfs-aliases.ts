// mksquashfs spells long options with one dash (-comp, -noappend, -Xcompression-level); commander reads
// those as bundles of short flags. Each such spelling is rewritten to our long option before parsing.
const ALIASES: Record<string, string> = {
  '-comp': '--compressor',
  '-noappend': '--noappend',
  '-no-xattrs': '--no-xattrs',
  '-xattrs': '--xattrs',
  '-no-fragments': '--no-fragments',
  '-always-use-fragments': '--always-use-fragments',
  '-no-exports': '--no-exports',
  '-no-duplicates': '--no-duplicates',
  '-all-root': '--all-root',
  '-force-uid': '--force-uid',
  '-force-gid': '--force-gid',
  '-processors': '--jobs',
  '-mem': '--mem',
  '-one-file-system': '--one-file-system',
  '-Xcompression-level': '--compression-level',
  '-Xdict-size': '--dict-size',
  '-Xbcj': '--bcj',
  '-Xhc': '--lz4-hc',
  '-Xalgorithm': '--lzo-algorithm',
  '-e': '--exclude',
  '-ef': '--exclude-file',
  '-wildcards': '--wildcards',
  '-regex': '--regex',
  '-quiet': '--quiet',
};

/**
 * Rewrites mksquashfs spellings to ours. `takesValue(flag)` says which of our flags consume the next argument,
 * so that positional arguments (the output) can be counted: after one, `-e` is mksquashfs's last option and
 * every argument that follows it up to the next option is an exclude (`OUT -e a b c`). Before one, `-e` takes
 * exactly one path, as `--exclude` does (`--source S -e x OUT`).
 */
export function rewriteMksquashfsArgs(argv: string[], takesValue: (flag: string) => boolean = () => false): string[] {
  const out: string[] = [];
  let positionals = 0;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      out.push(...argv.slice(i));
      break;
    }
    if (a === '-e' && positionals > 0 && i + 1 < argv.length && !argv[i + 1].startsWith('-')) {
      for (; i + 1 < argv.length && !argv[i + 1].startsWith('-'); i++) out.push('--exclude', argv[i + 1]);
      continue;
    }
    const b = ALIASES[a] ?? a;
    out.push(b);
    if (!b.startsWith('-') || b === '-') positionals++;
    else if (!b.includes('=') && takesValue(b) && i + 1 < argv.length) out.push(argv[++i]);
  }
  return out;
}
