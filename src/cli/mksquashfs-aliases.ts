// mksquashfs spells long options with one dash (-comp, -noappend, -Xcompression-level); commander reads
// those as bundles of short flags. Each such spelling is rewritten to our long option before parsing. The
// rest of mksquashfs 4.5/4.6's options (its -help and man page) are either accepted with no effect, because
// what they ask for is what casper-snapshot always does (or cannot matter), or refused with the reason and
// what to use instead, so a ported script fails with a sentence rather than "unknown option".
const ALIASES: Record<string, string> = {
  '-comp': '--compressor',
  '-noappend': '--noappend',
  '-no-xattrs': '--no-xattrs',
  '-xattrs': '--xattrs',
  '-no-fragments': '--no-fragments',
  '-always-use-fragments': '--always-use-fragments',
  '-tailends': '--always-use-fragments',
  '-no-exports': '--no-exports',
  '-no-duplicates': '--no-duplicates',
  '-all-root': '--all-root',
  '-root-owned': '--all-root',
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
  '-no-progress': '--no-progress',
  '-progress': '--progress',
  '-version': '--version',
  '-help': '--help',
};

/** Accepted with no effect: what they ask for is what casper-snapshot does anyway. note: said on stderr (null: nothing to say). */
const ACCEPTED: Record<string, { value: boolean; note: string | null }> = {
  '-exports': { value: false, note: null }, // the export table is written by default
  '-no-tailends': { value: false, note: null }, // the default
  '-reproducible': { value: false, note: null }, // images are always reproducible
  '-no-recovery': { value: false, note: null }, // no recovery file is ever written: the output is replaced atomically
  '-recovery-path': { value: true, note: null },
  '-exit-on-error': { value: false, note: null }, // an unreadable file always fails the job (unless --ignore-errors)
  '-not-reproducible': {
    value: false,
    note: '-not-reproducible ignored: images are always reproducible (same tree, options and SOURCE_DATE_EPOCH: same bytes)',
  },
  '-nopad': { value: false, note: '-nopad ignored: the image is always padded to a multiple of 4K' },
  '-info': {
    value: false,
    note: '-info ignored: casper-snapshot does not list the files as it writes them (-d prints the policy and timings)',
  },
};

const UNCOMPRESSED =
  'casper-snapshot always compresses data, fragments and tables (a block that does not shrink is stored as it is anyway); leave it out';
const NOT_A_DIRECTORY = 'casper-snapshot reads a directory tree only (--source DIR, or a live root)';

/** mksquashfs options casper-snapshot does not offer, with the reason and what to use instead. */
const REFUSED: Record<string, string> = {
  '-noI': UNCOMPRESSED,
  '-noId': UNCOMPRESSED,
  '-noD': UNCOMPRESSED,
  '-noF': UNCOMPRESSED,
  '-noX': UNCOMPRESSED,
  '-no-compression': UNCOMPRESSED,
  '-noInodeCompression': UNCOMPRESSED,
  '-noIdTableCompression': UNCOMPRESSED,
  '-noDataCompression': UNCOMPRESSED,
  '-noFragmentCompression': UNCOMPRESSED,
  '-noXattrCompression': UNCOMPRESSED,
  '-tar': NOT_A_DIRECTORY,
  '-no-strip': NOT_A_DIRECTORY,
  '-tarstyle': NOT_A_DIRECTORY,
  '-cpiostyle': NOT_A_DIRECTORY,
  '-cpiostyle0': NOT_A_DIRECTORY,
  '-keep-as-directory':
    "the source directory's contents are the image's root; to keep the directory itself, capture its parent and -e the rest",
  '-no-hardlinks': 'hard links are always stored as one inode',
  '-no-sparse': 'sparse blocks are always detected (they cost nothing to store)',
  '-mkfs-time': 'set SOURCE_DATE_EPOCH=<time> instead (it sets the image time and clamps file times)',
  '-fstime': 'set SOURCE_DATE_EPOCH=<time> instead (it sets the image time and clamps file times)',
  '-all-time': 'set SOURCE_DATE_EPOCH=<time> instead (it clamps file times and sets the image time)',
  '-root-time': 'the root directory keeps its own attributes',
  '-root-mode': 'the root directory keeps its own attributes',
  '-root-uid': 'the root directory keeps its own attributes',
  '-root-gid': 'the root directory keeps its own attributes',
  '-default-mode': 'the root directory keeps its own attributes',
  '-default-uid': 'the root directory keeps its own attributes',
  '-default-gid': 'the root directory keeps its own attributes',
  '-throttle': 'use --jobs N, or run it under nice/ionice',
  '-limit': 'use --jobs N, or run it under nice/ionice',
  '-percentage': 'use --progress=json for machine-readable progress',
  '-info-file': 'casper-snapshot does not list the files it writes',
  '-sort': 'files are stored in directory order',
  '-p': 'pseudo files are not supported',
  '-pf': 'pseudo files are not supported',
  '-pd': 'pseudo files are not supported',
  '-pd-file': 'pseudo files are not supported',
  '-root-becomes': 'an image is always written anew, never appended to (an existing one serves as --base)',
  '-recover': 'no recovery file is ever written: an existing image is replaced atomically, or left untouched',
  '-offset': 'the image always starts at byte 0 of the output file',
  '-o': 'the image always starts at byte 0 of the output file',
  '-xattrs-exclude': 'use --no-xattrs to leave out all extended attributes',
  '-xattrs-include': 'use --no-xattrs to leave out all extended attributes',
  '-xattrs-add': 'extended attributes come from the tree only',
  '-ignore-zeros': NOT_A_DIRECTORY,
  '-one-file-system-x': 'use --one-file-system',
  '-action': 'actions are not supported; use -e, -ef, -wildcards or -regex to leave files out',
  '-log-action': 'actions are not supported; use -e, -ef, -wildcards or -regex to leave files out',
  '-true-action': 'actions are not supported; use -e, -ef, -wildcards or -regex to leave files out',
  '-false-action': 'actions are not supported; use -e, -ef, -wildcards or -regex to leave files out',
  '-action-file': 'actions are not supported; use -e, -ef, -wildcards or -regex to leave files out',
  '-log-action-file': 'actions are not supported; use -e, -ef, -wildcards or -regex to leave files out',
  '-true-action-file': 'actions are not supported; use -e, -ef, -wildcards or -regex to leave files out',
  '-false-action-file': 'actions are not supported; use -e, -ef, -wildcards or -regex to leave files out',
  '-Xhelp':
    'the compressor options are listed in casper-snapshot --help (--compression-level, --dict-size, --bcj, --xz-extreme, --lz4-hc, --lzo-algorithm)',
};

/**
 * A single-dash word this tool does not know (mksquashfs spells its options so): one with a dash inside, or -e
 * with something glued to it. Commander would read it as a bundle of short flags, and -exit-on-error-like words
 * as `-e xit-on-error`, an exclude nobody asked for.
 */
function unknownWord(a: string): boolean {
  if (!/^-[A-Za-z]/.test(a) || a.length < 3 || a.includes('=')) return false;
  return /^-[A-Za-z][A-Za-z0-9]*-/.test(a) || a.startsWith('-e');
}

export interface RewrittenArgs {
  args: string[];
  /** Notes on accepted options that have no effect, for stderr. */
  notes: string[];
  /** A refused mksquashfs option, with why: the command is a usage error. */
  refused: string | null;
}

/**
 * Rewrites mksquashfs spellings to ours. `takesValue(flag)` says which of our flags consume the next argument,
 * so that positional arguments (the output) can be counted: after one, `-e` is mksquashfs's last option and
 * every argument that follows it up to the next option is an exclude (`OUT -e a b c`). Before one, `-e` takes
 * exactly one path, as `--exclude` does (`--source S -e x OUT`).
 */
export function rewriteMksquashfsArgs(
  argv: string[],
  takesValue: (flag: string) => boolean = () => false,
): RewrittenArgs {
  const out: string[] = [];
  const notes: string[] = [];
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
    if (Object.hasOwn(REFUSED, a))
      return { args: out, notes, refused: `${a} (a mksquashfs option) is not supported: ${REFUSED[a]}` };
    if (Object.hasOwn(ACCEPTED, a)) {
      const { value, note } = ACCEPTED[a];
      if (note) notes.push(note);
      if (value) i++;
      continue;
    }
    if (!Object.hasOwn(ALIASES, a) && unknownWord(a))
      return {
        args: out,
        notes,
        refused:
          a.startsWith('-e') && !a.includes('-', 1)
            ? `unknown option '${a}' (to exclude a path, write -e PATH with a space)`
            : `unknown option '${a}': a mksquashfs spelling casper-snapshot does not take (see casper-snapshot --help)`,
      };
    // --progress=json|bar (a value of a flag that otherwise takes none: the output could follow it)
    const progress = /^--progress=(.*)$/.exec(a);
    if (progress) {
      if (progress[1] === 'json') out.push('--progress', '--progress-json');
      else if (progress[1] === 'bar') out.push('--progress');
      else return { args: out, notes, refused: `--progress=${progress[1]}: the progress format is bar or json` };
      continue;
    }
    const b = Object.hasOwn(ALIASES, a) ? ALIASES[a] : a;
    out.push(b);
    if (!b.startsWith('-') || b === '-') positionals++;
    else if (!b.includes('=') && takesValue(b) && i + 1 < argv.length) out.push(argv[++i]);
  }
  return { args: out, notes, refused: null };
}
