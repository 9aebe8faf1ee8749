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

export function rewriteMksquashfsArgs(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      out.push(...argv.slice(i));
      break;
    }
    out.push(ALIASES[a] ?? a);
  }
  return out;
}
