// The casper-snapshot command line.
import { Command, InvalidArgumentError, Option, type OptionValues } from 'commander';
import { readFileSync, writeSync } from 'node:fs';
import { snapshot, type Progress, type SnapshotPlan } from '../api/snapshot.js';
import type { SnapshotOptions } from '../api/options.js';
import type { Cumulative, LowerStack } from '../api/capture.js';
import { loadAddon, packageVersion, runtime } from '../native/addon.js';
import { CasperError, UsageError } from '../errors.js';
import { oneLine, printable } from '../printable.js';
import { rewriteMksquashfsArgs } from './mksquashfs-aliases.js';
import { cliMessage, expectedFailure } from './remedies.js';
import { formatSummary } from './summary.js';
import { discardAllOutputs } from '../pipeline/output-file.js';
import { cancelAll } from '../pipeline/stop.js';
import { runStopCleanups } from '../pipeline/exit-cleanup.js';
import { CONFIG_KEYS, loadCasperConf, type SnapshotConfig } from '../config/index.js';
import { jsonProgressReporter, plymouthReporter, progressReporter, say } from './progress.js';
import { persistenceName } from '../live/persistence-name.js';
import { restoreAllMedia } from '../live/medium-write.js';
import { detectLiveSystem } from '../mount/index.js';
import { jsonReport, REPORT_SCHEMA_VERSION } from './json-report.js';
import { statSync } from 'node:fs';
import { dirname } from 'node:path';
import { writeHelp } from './help-output.js';
import { writeAllStdout } from './stdout.js';

export const EXIT = { ok: 0, usage: 1, failed: 2, incomplete: 3, sighup: 129, sigint: 130, sigterm: 143 } as const;

function int(name: string) {
  return (v: string) => {
    if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`${name} must be a non-negative integer`);
    return Number(v);
  };
}

function collect(v: string, prev: string[] | undefined): string[] {
  return [...(prev ?? []), v];
}

function versionText(): string {
  const v = loadAddon().versions();
  const comps = v.compressors.map((c) => `  ${c.name.padEnd(6)} ${c.library}`).join('\n');
  const build = runtime.standalone
    ? ` (standalone executable: Node and the addon built in; unpacked in ${runtime.addonPath ? dirname(runtime.addonPath) : '?'})`
    : '';
  return `casper-snapshot ${packageVersion()}${build}\naddon ${v.addon} (Node-API ${v.napi}), node ${process.version}\ncompressors:\n${comps}`;
}

// Long: the option list itself, one line per option, in --help order.
function buildProgram(): Command {
  const program = new Command();
  program
    .name('casper-snapshot')
    .usage('[options] [OUTPUT.squashfs]')
    .description(
      'Capture a live session (the overlay upper layer, its rebuilt delta, or the whole merged system) or a plain\n' +
        'directory into a SquashFS 4.0 image that the Linux kernel, unsquashfs and rdsquashfs read.',
    )
    .argument(
      '[output]',
      'image file to write (atomically: an existing file is replaced only once the new image is complete); default from the config',
    )
    .option(
      '-s, --source <dir>',
      'capture this plain directory as it is (no live-system detection, no default excludes)',
    )
    .option('--root <dir>', 'the live root to capture (default /)')
    .addOption(
      new Option(
        '--mode <mode>',
        'upper | diff | full (default: upper when the upper layer is reachable, else diff; full only when asked for)',
      ).choices(['upper', 'diff', 'full']),
    )
    .addOption(new Option('--filesystem <type>', 'override the detected union filesystem').choices(['overlay', 'aufs']))
    .option('--config <file>', 'read settings from this file instead of /etc/casper.conf')
    .option('-b, --block-size <size>', 'data block size, power of two from 4K to 1M (mksquashfs -b)', '128K')
    .option('--compressor <name>', 'gzip, xz, lz4, zstd or lzo (mksquashfs -comp)', 'gzip')
    .option(
      '--compression-level <n>',
      'gzip 1-9 (6), xz 0-9 (6), lz4 --lz4-hc 1-12 (9), zstd 1-22 (15), lzo lzo1x_999 1-9 (8) (mksquashfs -Xcompression-level)',
      int('compression level'),
    )
    .option(
      '--dict-size <size>',
      'xz dictionary size: bytes, K/M suffix or % of block size; 2^n or 2^n+2^(n-1), 8K to the block size (mksquashfs -Xdict-size)',
    )
    .option(
      '--bcj <filters>',
      'xz: also try these BCJ filters per block, keep the smallest: x86,powerpc,ia64,arm,armthumb,sparc (mksquashfs -Xbcj)',
    )
    .option('--xz-extreme', "xz: liblzma's extreme preset (slower, sometimes smaller)")
    .option('--lz4-hc', 'lz4: high-compression mode (mksquashfs -Xhc)')
    .option(
      '--lzo-algorithm <name>',
      'lzo: lzo1x_1, lzo1x_1_11, lzo1x_1_12, lzo1x_1_15 or lzo1x_999 (default) (mksquashfs -Xalgorithm)',
    )
    .option('--no-fragments', 'do not pack small files into fragment blocks (mksquashfs -no-fragments)')
    .option('--always-use-fragments', 'also pack the tail ends of larger files (mksquashfs -always-use-fragments)')
    .option('--no-duplicates', 'store identical files separately (mksquashfs -no-duplicates)')
    .option('--no-xattrs', 'leave out extended attributes (mksquashfs -no-xattrs)')
    .option('--no-exports', 'leave out the NFS export table (mksquashfs -no-exports)')
    .option('--all-root', 'make every file owned by root (mksquashfs -all-root)')
    .option('--force-uid <uid>', 'owner of every file (mksquashfs -force-uid)', int('uid'))
    .option('--force-gid <gid>', 'group of every file (mksquashfs -force-gid)', int('gid'))
    .option('--one-file-system', 'do not descend into other filesystems')
    .option(
      '-e, --exclude <path>',
      'leave out this path, relative to the root; repeat for more (mksquashfs -e, also as its last option: OUTPUT -e a b c)',
      collect,
    )
    .option(
      '--exclude-file <file>',
      'read exclude entries from this file, one per line, # comments; repeatable (mksquashfs -ef)',
      collect,
    )
    .option('--wildcards', 'exclude entries are mksquashfs wildcards (mksquashfs -wildcards)')
    .option('--regex', 'exclude entries are regular expressions (mksquashfs -regex)')
    .option(
      '--no-default-excludes',
      'capture /proc, /tmp, /var/cache… too (only the output and the live machinery stay out)',
    )
    .option('--scrub', 'full mode: also leave out machine identity, host keys, logs and other host state')
    .option('--compare-contents', 'diff mode: also compare contents of files whose metadata is unchanged')
    .option('--no-space-check', 'do not check the free space of the output filesystem first')
    .option(
      '--verify',
      "read the new image back before it replaces the output: every table and block, and each file's data against a digest of what was read; in upper and diff modes, as root, also stack it over the lower layers in a private mount namespace and compare that view with the live session (differences: exit 3)",
    )
    .option(
      '--base <image>',
      'incremental: copy the stored data of every file unchanged since IMAGE from it; without --base the output itself is the base when it holds a compatible image',
    )
    .option('--no-base', 'a full snapshot: read and compress every file, even when the output holds an earlier image')
    .addOption(
      new Option(
        '--base-check <how>',
        'how a file is found unchanged since the base: quick (size, mtime, mode, owner, xattrs) or content (read and compared)',
      ).choices(['quick', 'content']),
    )
    .option('--json', 'print a machine-readable JSON report on stdout instead of the summary')
    .option(
      '--persistence-name <tag>',
      'write onto the live medium where the next boot stacks it on top: casper/<top-layer>.<tag>.squashfs (layered casper), casper/zz-<tag>.squashfs, live/zz-<tag>.squashfs (live-boot)',
    )
    .option('--plymouth', 'report progress through Plymouth (plymouth message) when it is running, as at shutdown')
    .option('--ignore-errors', 'leave out unreadable files (listed as warnings) instead of failing')
    .option('-j, --jobs <n>', 'worker threads (mksquashfs -processors; default: available cores)', int('jobs'))
    .option('--mem <size>', 'cap on data in flight (mksquashfs -mem)', '256M')
    .option('--force', 'replace an existing output file even when it is not a SquashFS image')
    .option(
      '--noappend',
      'mksquashfs spelling of --force --no-base (the image is written anew, nothing taken from the old one)',
    )
    .addOption(new Option('--xattrs', 'store extended attributes (the default)').hideHelp())
    .option(
      '--progress',
      'show progress even when stderr is not a terminal; --progress=json: one JSON object per line instead (for programs)',
    )
    .option('--no-progress', 'no progress bar, even on a terminal (mksquashfs -no-progress)')
    .addOption(new Option('--progress-json').hideHelp())
    .option(
      '--progress-fd <fd>',
      'write --progress=json lines to this open file descriptor instead of stderr',
      int('progress fd'),
    )
    .option('-q, --quiet', 'print nothing but errors')
    .option('-d, --debug', 'print the effective options and timings')
    .option('-v, --version', 'print versions of casper-snapshot, the addon and compression libraries')
    .helpOption('-h, --help', 'show this help')
    .addHelpText(
      'after',
      `
mksquashfs spellings are accepted: -comp, -b, -noappend, -no-xattrs, -no-fragments, -always-use-fragments,
-tailends, -no-exports, -no-duplicates, -all-root, -root-owned, -force-uid, -force-gid, -processors, -mem, -e,
-ef, -wildcards, -regex, -one-file-system, -quiet, -progress, -no-progress, -Xcompression-level, -Xdict-size,
-Xbcj, -Xhc, -Xalgorithm; -exports, -no-tailends, -reproducible, -no-recovery, -recovery-path, -exit-on-error
(what casper-snapshot does anyway) and -info, -nopad, -not-reproducible (no effect, said so) are accepted too.
Others (-noI, -noD, -sort, -p, -tar, -mkfs-time, …) are refused with the reason. lzma (LZMA1) is refused: the
kernel cannot mount it.

Settings (/etc/casper.conf, or --config FILE; KEY=VALUE lines, never executed; the command line wins):
${configHelp()}

Snapshot at shutdown (casper-snapshot.service, installed by the .deb, not enabled):
  1. set CASPER_SNAPSHOT_PERSISTENCE_NAME=session in /etc/casper.conf (the image goes onto the live medium,
     where the next boot stacks it), or CASPER_SNAPSHOT_OUTPUT for an image elsewhere
  2. only for an output on another filesystem than the live medium (the unit ships
     RequiresMountsFor=/run/live/medium /cdrom): systemctl edit casper-snapshot.service, and add under [Unit]
       RequiresMountsFor=<the directory of CASPER_SNAPSHOT_OUTPUT>
  3. systemctl enable --now casper-snapshot.service

casper-snapshot verify IMAGE [DIR] reads an image back and checks it, or compares it with DIR
(casper-snapshot verify --help).

casper-snapshot remaster OUTPUT.iso makes a bootable ISO from the live session (or a directory) and the medium
it booted from (casper-snapshot remaster --help).

Environment: SOURCE_DATE_EPOCH sets the image time and clamps file times (reproducible images).

Exit codes: 0 success; 1 usage error (nothing written); 2 the snapshot failed, --verify included (message names
the path and the cause; no temporary file is left and an existing image is untouched); 3 the image was written but some
files changed while being read, vanished, were replaced, or were unreadable and skipped, or --verify found the image
stacked over the lower layers different from the live session (each is named in a warning);
129/130/143 stopped by
SIGHUP/SIGINT/SIGTERM (at once, whatever is under way; the temporary file is removed). A second casper-snapshot
writing the same output fails with exit 2 (as root the lock is in /run/casper-snapshot, otherwise .OUTPUT.lock
beside the output).`,
    )
    .exitOverride()
    // Errors are printed by main() in the tool's own words; help goes out synchronously (EPIPE-safe).
    .configureOutput({
      writeOut: (s) => writeHelp(s),
      writeErr: (s) => process.stderr.write(s),
      outputError: () => {},
    });
  return program;
}

/** The settings file's keys for --help, from the parser's own table. */
function configHelp(): string {
  const width = Math.max(...Object.entries(CONFIG_KEYS).map(([k, v]) => k.length + v.example.length + 1));
  return Object.entries(CONFIG_KEYS)
    .map(([k, v]) => `  ${`${k}=${v.example}`.padEnd(width)}  ${v.doc}`)
    .join('\n');
}

const SIGNAL_EXIT: Record<string, number> = { SIGHUP: EXIT.sighup, SIGINT: EXIT.sigint, SIGTERM: EXIT.sigterm };

/** Writes to stdout synchronously; a full or closed stdout is a clear error, not a stack trace. */
function writeStdout(text: string, what: string, image: string): void {
  try {
    writeAllStdout(text);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new CasperError(
      `cannot write ${what} to standard output (${e.code ?? e.message}); the image '${image}' was written`,
      e.code ?? 'EIO',
    );
  }
}

/** One message line of ours on stderr: whatever text it carries (names, paths), it stays one line without terminal escapes. */
function tell(text: string): void {
  say(`casper-snapshot: ${oneLine(text)}\n`);
}

/**
 * On SIGINT/SIGTERM/SIGHUP: remove the temporary file and lock and whatever else the run made (the restore proof's
 * directories), say why, and end at once with 128 + the signal number, without waiting for native work under way
 * on other threads: process.exit would join them, seconds or for ever (a regexec backtracking on a hostile name
 * never looks at a cancel flag).
 */
function installSignalHandlers(onStop: (sig: NodeJS.Signals) => void): void {
  for (const sig of Object.keys(SIGNAL_EXIT) as NodeJS.Signals[]) {
    process.once(sig, () => {
      cancelAll(); // native work stops, so the exit below does not wait for it
      discardAllOutputs();
      runStopCleanups();
      restoreAllMedia(); // after the temporary file is gone, so the medium can go read-only again
      tell(`stopped by ${sig}; no image written`);
      onStop(sig);
      try {
        loadAddon().exitNow(SIGNAL_EXIT[sig]);
      } catch {
        process.exit(SIGNAL_EXIT[sig]);
      }
    });
  }
}

/** The compressor-specific flags, by their option names in the addon. */
function compressorOptions(o: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  if (o.dictSize !== undefined) out['dict-size'] = String(o.dictSize);
  if (o.bcj !== undefined) out.bcj = String(o.bcj);
  if (o.xzExtreme) out.extreme = 'true';
  if (o.lz4Hc) out.hc = 'true';
  if (o.lzoAlgorithm !== undefined) out.algorithm = String(o.lzoAlgorithm);
  return out;
}

/** --json: failures are a JSON object on stdout too (the message also goes to stderr). */
/** -d: the lower stack diff mode compared against (which layer images were loop-mounted, how they were stacked). */
function describeLowerStack(st: LowerStack): string {
  const how =
    st.stacked === 'overlay'
      ? `a read-only overlay of ${st.layers.length} layers, mounted at ${st.view}`
      : `one layer, read at ${st.view}`;
  const lines = st.layers.map(
    (l, k) =>
      `  ${k + 1}. ${l.shownAs}: ${l.loopMounted ? `image ${l.image} loop-mounted at ${l.path}` : `reachable at ${l.path}`}`,
  );
  return `lower stack (topmost first), compared against as ${how}:\n${lines.join('\n')}\n`;
}

/** -d: a cumulative save — which layer the image replaced (folded in) and which it was compared against. */
function describeCumulative(c: Cumulative): string {
  const how =
    c.how === 'fold' ? 'its tree merged under the upper layer' : 'the merged view compared with the layers beneath it';
  const lines = [
    `cumulative save: the image replaces the lower layer ${c.replaces.shownAs} (${c.replaces.image}, same ${c.replaces.by}), folded in: ${how}`,
  ];
  if (c.above.length) lines.push(`  layers above it, kept above: ${c.above.join(', ')}`);
  lines.push(`  compared against the layers beneath it: ${c.comparedWith.join(', ')}`);
  return lines.join('\n') + '\n';
}

function printJsonError(code: string, message: string, exitCode: number): void {
  try {
    writeSync(
      1,
      JSON.stringify({ schemaVersion: REPORT_SCHEMA_VERSION, error: { code, message, exitCode } }, null, 2) + '\n',
    );
  } catch {
    /* stdout itself is what failed: the message is on stderr already */
  }
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** An argument as a shell would need it typed. */
function shellWord(a: string): string {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

/**
 * mksquashfs's order is SOURCE DEST; ours takes the source as --source. The command to type is the one given,
 * every other option kept, with --source before the directory (and OUTPUT.squashfs added when there is none).
 */
function sourceDestHint(positionals: string[], argv: string[], at: number[]): string | null {
  const command = (extra: string[]) => {
    const words = [...argv];
    words.splice(at[0], 0, '--source');
    return ['casper-snapshot', ...words, ...extra].map(shellWord).join(' ');
  };
  if (positionals.length === 2 && at.length === 2 && isDirectory(positionals[0]) && !isDirectory(positionals[1]))
    return `'${positionals[0]}' is a directory: to capture it as mksquashfs would, type ${command([])}`;
  if (positionals.length === 1 && at.length === 1 && isDirectory(positionals[0]))
    return `the argument is the output image, and '${positionals[0]}' is a directory: to capture it, type ${command(['OUTPUT.squashfs'])}`;
  return null;
}

/** Where the arguments that are not options or option values are in argv (as the rewrite counted them). */
function positionalIndices(
  argv: string[],
  takesValue: (flag: string) => boolean,
  rewritten: (a: string) => string,
): number[] {
  const at: number[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      for (let j = i + 1; j < argv.length; j++) at.push(j);
      break;
    }
    if (!a.startsWith('-') || a === '-') at.push(i);
    else if (a === '-e' && at.length > 0)
      break; // mksquashfs's trailing -e: excludes to the end
    else if (!a.includes('=') && takesValue(rewritten(a))) i++;
  }
  return at;
}

/** The library options from the command line (o), /etc/casper.conf (c) and defaults, in that order of precedence. */
function snapshotOptions(
  o: OptionValues,
  c: SnapshotConfig,
  given: (name: string) => boolean,
  output: string,
): SnapshotOptions {
  const syntax = o.regex
    ? 'regex'
    : o.wildcards
      ? 'wildcards'
      : (c.excludeSyntax as 'exact' | 'wildcards' | 'regex' | undefined);
  return {
    source: o.source,
    root: o.root,
    mode: o.mode ?? (c.mode && c.mode !== 'auto' ? c.mode : undefined),
    filesystem: o.filesystem,
    output,
    compressor: given('compressor') ? o.compressor : (c.compressor ?? o.compressor),
    // The file's level goes with the file's compressor: a compressor named on the command line drops it.
    compressionLevel: o.compressionLevel ?? (given('compressor') ? undefined : c.compressionLevel),
    compressorOptions: compressorOptions(o),
    blockSize: given('blockSize') ? o.blockSize : (c.blockSize ?? o.blockSize),
    fragments: o.fragments,
    alwaysUseFragments: o.alwaysUseFragments,
    duplicates: o.duplicates,
    xattrs: o.xattrs,
    exports: o.exports,
    allRoot: o.allRoot,
    forceUid: o.forceUid,
    forceGid: o.forceGid,
    oneFileSystem: o.oneFileSystem,
    exclude: [...(c.excludes ?? []), ...(o.exclude ?? [])],
    excludeFiles: o.excludeFile,
    excludeSyntax: syntax,
    defaultExcludes: given('defaultExcludes') ? o.defaultExcludes : (c.defaultExcludes ?? true),
    scrub: o.scrub ?? c.scrub,
    compareContents: o.compareContents,
    noSpaceCheck: o.spaceCheck === false,
    jobs: o.jobs ?? c.jobs,
    mem: o.mem,
    ignoreErrors: o.ignoreErrors,
    force: o.force || o.noappend,
    verify: o.verify ?? c.verify,
    base: o.noappend ? false : o.base,
    baseCheck: o.baseCheck,
  };
}

/** How progress is shown: a bar (or plain lines), JSON lines on a descriptor, and Plymouth messages. */
function reporters(o: OptionValues) {
  const stop = new AbortController();
  const json = o.progressJson ? jsonProgressReporter(o.progressFd ?? 2, () => stop.abort()) : null;
  const bar = json ? null : progressReporter(o);
  const plymouth = o.plymouth ? plymouthReporter() : null;
  return {
    json,
    plymouth,
    /** Aborted when the --progress=json reader has gone away. */
    signal: stop.signal,
    update: (p: Progress) => {
      json?.update(p);
      bar?.update(p);
      plymouth?.update(p);
    },
    done: () => {
      bar?.done();
      plymouth?.done();
    },
  };
}

/** Prints a usage error in the tool's words, with the pointer to -h (and as JSON with --json). */
function usageFailure(message: string, json: boolean, help = true): number {
  tell(`${message}${help ? ' (casper-snapshot -h lists the options)' : ''}`);
  if (json) printJsonError('EUSAGE', message, EXIT.usage);
  return EXIT.usage;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * An argument that is not UTF-8 (Node hands it over with U+FFFD in place of the byte, and an image would be written
 * under another name, an exclude would match nothing): the raw bytes of our own command line, when argv is it.
 */
function notUtf8Argument(argv: string[]): string | null {
  let raw: Buffer[];
  try {
    const cmdline = readFileSync('/proc/self/cmdline');
    raw = [];
    for (let at = 0; at < cmdline.length; ) {
      const end = cmdline.indexOf(0, at);
      raw.push(cmdline.subarray(at, end < 0 ? cmdline.length : end));
      at = end < 0 ? cmdline.length : end + 1;
    }
  } catch {
    return null;
  }
  const tail = raw.slice(raw.length - argv.length);
  if (tail.length !== argv.length || tail.some((b, i) => b.toString() !== argv[i])) return null; // argv is not this process's
  for (const b of tail) {
    try {
      utf8.decode(b);
    } catch {
      return b
        .toString('latin1')
        .replace(/[\x80-\xff\\\x00-\x1f\x7f]/g, (c) =>
          c === '\\' ? '\\\\' : `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`,
        );
    }
  }
  return null;
}

export async function main(argv: string[]): Promise<number> {
  const bad = notUtf8Argument(argv);
  if (bad !== null) {
    tell(
      `the argument '${bad}' holds bytes that are not UTF-8: casper-snapshot takes paths and names as UTF-8 (rename the file, or name it with a wildcard and -wildcards)`,
    );
    return EXIT.usage;
  }
  // `verify IMAGE [DIR]` is a command of its own (an output image named 'verify' is written as ./verify).
  if (argv[0] === 'verify') return (await import('./verify.js')).verifyMain(argv.slice(1)); // loaded only for verify
  // `remaster OUTPUT.iso` likewise (a bootable medium from the live session; loaded only for remaster).
  if (argv[0] === 'remaster') return (await import('./remaster.js')).remasterMain(argv.slice(1));
  const program = buildProgram();
  const valueFlags = new Set(
    program.options
      .filter((opt) => opt.required || opt.optional)
      .flatMap((opt) => [opt.short, opt.long].filter((f): f is string => !!f)),
  );
  const takesValue = (f: string) => valueFlags.has(f);
  const rewritten = rewriteMksquashfsArgs(argv, takesValue);
  const args = rewritten.args;
  const json = argv.includes('--json');
  if (rewritten.refused) return usageFailure(rewritten.refused, json, false);
  if (args.includes('-v') || args.includes('--version')) {
    writeHelp(versionText() + '\n');
    return EXIT.ok;
  }
  try {
    program.parse(args, { from: 'user' });
  } catch (err) {
    const e = err as { code?: string; exitCode?: number; message?: string };
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.help' || e.code === 'commander.version')
      return EXIT.ok;
    const aliasOf = (a: string) => rewriteMksquashfsArgs([a]).args[0] ?? a;
    const hint =
      e.code === 'commander.excessArguments'
        ? sourceDestHint(program.args, argv, positionalIndices(argv, takesValue, aliasOf))
        : null;
    // The hint says what to type; commander's own sentence only when there is none.
    return usageFailure(hint ?? String(e.message ?? err).replace(/^error: /, ''), json, !hint);
  }
  const o = program.opts();
  if (o.progressFd !== undefined && !o.progressJson) return usageFailure('--progress-fd needs --progress=json', json);
  const progress = reporters(o);
  installSignalHandlers((sig) =>
    progress.json?.event({
      type: 'error',
      code: 'ABORT_ERR',
      message: `stopped by ${sig}`,
      exitCode: SIGNAL_EXIT[sig],
    }),
  );
  for (const note of rewritten.notes) if (!o.quiet) tell(`${note}`);
  try {
    // Settings: command line > config file > defaults.
    const conf = loadCasperConf(o.config);
    const given = (name: string) => program.getOptionValueSource(name) === 'cli';
    const c = conf.config;
    for (const w of conf.warnings) tell(`${conf.file}: ${w}`);
    let output: string | undefined = program.args[0] ?? c.output;
    let bootNote: string | null = null;
    // The persistence name (option, or the config's when no output is named) puts the image where the next boot stacks it.
    const tag: string | undefined =
      o.persistenceName ?? (program.args[0] === undefined ? c.persistenceName : undefined);
    if (tag) {
      const named = persistenceName(detectLiveSystem({ root: o.root ?? '/' }), tag);
      output = program.args[0] ?? named.output;
      bootNote = named.bootOption && `boot with ${named.bootOption} on the kernel command line to stack this snapshot`;
    }
    if (!output) throw new UsageError('no output image given (argument, or CASPER_SNAPSHOT_OUTPUT in the config)');
    if (!o.source && program.args.length === 1) {
      const hint = sourceDestHint(
        program.args,
        argv,
        positionalIndices(argv, takesValue, (a) => rewriteMksquashfsArgs([a]).args[0] ?? a),
      );
      if (hint) throw new UsageError(hint);
    }
    const options = snapshotOptions(o, conf.config, given, output);
    // -d: what is about to happen (layout, lower stack, policy) before the job, not after it.
    let planned: SnapshotPlan | null = null;
    const onPlan = o.debug
      ? (plan: SnapshotPlan) => {
          planned = plan;
          say(describePlan(plan));
        }
      : undefined;
    // threadNice 0: the command has no event loop of its own to keep responsive (and runs as mksquashfs does).
    const report = await snapshot({
      ...options,
      onProgress: progress.update,
      onPlan,
      signal: progress.signal,
      threadNice: 0,
    });
    progress.done();
    const warn = (text: string) =>
      progress.json ? progress.json.event({ type: 'warning', message: text }) : tell(`${text}`);
    if (report.replaced === 'file (--force)' && !o.quiet)
      warn(`replaced '${printable(report.output)}', which was not a SquashFS image (--force)`);
    if (bootNote && !o.quiet) tell(`${bootNote}`);
    for (const w of report.warnings) warn(`warning: ${w}`);
    if (o.json)
      writeStdout(
        JSON.stringify(jsonReport(report, conf.found ? conf.file : null), null, 2) + '\n',
        'the JSON report',
        report.output,
      );
    else if (!o.quiet) writeStdout(formatSummary(report) + '\n', 'the summary', report.output);
    if (o.debug) {
      // Notes the job added after the plan (what the walk found), then the options and timings.
      const later = report.notes.filter((n) => !(planned as SnapshotPlan | null)?.notes.includes(n));
      say(
        later.map((n) => n + '\n').join('') +
          JSON.stringify({ options: report.options, times: report.times, pipeline: report.pipeline }, null, 2) +
          '\n',
      );
    }
    // Differences found by --verify's restore proof: the image is written, but does not give the session back.
    const incomplete =
      report.image.changedFiles.length > 0 ||
      report.image.skipped.length > 0 ||
      (report.restoreCheck?.differences.length ?? 0) > 0;
    const code = incomplete ? EXIT.incomplete : EXIT.ok;
    progress.json?.event({
      type: 'result',
      exitCode: code,
      output: report.output,
      imageSize: report.image.imageSize,
      warnings: report.warnings.length,
    });
    return code;
  } catch (err) {
    progress.done();
    const e = err as CasperError;
    const usage = err instanceof UsageError;
    const message =
      e.code === 'ABORT_ERR' && progress.signal.aborted
        ? 'stopped: the reader of the --progress=json lines went away; no image written'
        : cliMessage(e);
    // At shutdown (--plymouth, as the unit runs it) the console and the splash say plainly that nothing was saved.
    const lost = o.plymouth ? 'THE LIVE SESSION WAS NOT SAVED: ' : '';
    tell(
      `${lost}${message}${e.path && !message.includes(e.path) && !message.includes(printable(e.path)) ? ` (${printable(e.path)})` : ''}`,
    );
    progress.plymouth?.failed(message);
    // A stack helps only with a failure inside the tool: never with a usage error or an expected one (a system
    // call's error, a lock held, a corrupt image: the message says it all).
    if (o.debug && e.stack && !usage && !expectedFailure(err)) say(e.stack + '\n');
    const code = usage ? EXIT.usage : EXIT.failed;
    if (o.json) printJsonError(usage ? 'EUSAGE' : (e.code ?? 'EFAILED'), message, code);
    progress.json?.event({ type: 'error', code: usage ? 'EUSAGE' : (e.code ?? 'EFAILED'), message, exitCode: code });
    return code;
  }
}

/** -d: the layout found, how it was decided, the lower stack (diff mode) and the exclusion policy. */
function describePlan(plan: SnapshotPlan): string {
  let text = `mode: ${plan.mode}\n${plan.layout ? `layout: ${plan.layout.kind}\n` : ''}${plan.notes.map((n) => `${n}\n`).join('')}`;
  if (plan.cumulative) text += describeCumulative(plan.cumulative);
  if (plan.lowerStack) text += describeLowerStack(plan.lowerStack);
  if (plan.remountedMedium)
    text += `live medium ${plan.remountedMedium}: remounted read-write for the save, read-only again after it\n`;
  return `${text}policy:\n${plan.policy}\n`;
}
