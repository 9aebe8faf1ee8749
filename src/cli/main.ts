// The casper-snapshot command line.
import { Command, InvalidArgumentError, Option, type OptionValues } from 'commander';
import { writeSync } from 'node:fs';
import { snapshot } from '../api/snapshot.js';
import type { SnapshotOptions } from '../api/options.js';
import type { Cumulative, LowerStack } from '../api/capture.js';
import { loadAddon, packageVersion, runtime } from '../native/addon.js';
import { CasperError, UsageError } from '../errors.js';
import { rewriteMksquashfsArgs } from './mksquashfs-aliases.js';
import { formatSummary } from './summary.js';
import { discardAllOutputs } from '../pipeline/output-file.js';
import { cancelAll } from '../pipeline/stop.js';
import { loadCasperConf, type SnapshotConfig } from '../config/index.js';
import { plymouthReporter, progressReporter } from './progress.js';
import { persistenceName } from '../live/persistence-name.js';
import { restoreAllMedia } from '../live/medium-write.js';
import { detectLiveSystem } from '../mount/index.js';
import { jsonReport, REPORT_SCHEMA_VERSION } from './json-report.js';
import { statSync } from 'node:fs';

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
  const build = runtime.standalone ? ' (standalone executable: Node and the addon built in)' : '';
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
    .argument('[output]', 'image file to write (atomically: an existing file is replaced only once the new image is complete); default from the config')
    .option('-s, --source <dir>', 'capture this plain directory as it is (no live-system detection, no default excludes)')
    .option('--root <dir>', 'the live root to capture (default /)')
    .addOption(new Option('--mode <mode>', 'upper | diff | full (default: upper when the upper layer is reachable, else diff; full only when asked for)').choices(['upper', 'diff', 'full']))
    .addOption(new Option('--filesystem <type>', 'override the detected union filesystem').choices(['overlay', 'aufs']))
    .option('--config <file>', 'read settings from this file instead of /etc/casper.conf')
    .option('-b, --block-size <size>', 'data block size, power of two from 4K to 1M (mksquashfs -b)', '128K')
    .option('--compressor <name>', 'gzip, xz, lz4, zstd or lzo (mksquashfs -comp)', 'gzip')
    .option(
      '--compression-level <n>',
      'gzip 1-9 (6), xz 0-9 (6), lz4 --lz4-hc 1-12 (9), zstd 1-22 (15), lzo lzo1x_999 1-9 (8) (mksquashfs -Xcompression-level)',
      int('compression level'),
    )
    .option('--dict-size <size>', 'xz dictionary size: bytes, K/M suffix or % of block size; 2^n or 2^n+2^(n-1), 8K to the block size (mksquashfs -Xdict-size)')
    .option('--bcj <filters>', 'xz: also try these BCJ filters per block, keep the smallest: x86,powerpc,ia64,arm,armthumb,sparc (mksquashfs -Xbcj)')
    .option('--xz-extreme', "xz: liblzma's extreme preset (slower, sometimes smaller)")
    .option('--lz4-hc', 'lz4: high-compression mode (mksquashfs -Xhc)')
    .option('--lzo-algorithm <name>', 'lzo: lzo1x_1, lzo1x_1_11, lzo1x_1_12, lzo1x_1_15 or lzo1x_999 (default) (mksquashfs -Xalgorithm)')
    .option('--no-fragments', 'do not pack small files into fragment blocks (mksquashfs -no-fragments)')
    .option('--always-use-fragments', 'also pack the tail ends of larger files (mksquashfs -always-use-fragments)')
    .option('--no-duplicates', 'store identical files separately (mksquashfs -no-duplicates)')
    .option('--no-xattrs', 'leave out extended attributes (mksquashfs -no-xattrs)')
    .option('--no-exports', 'leave out the NFS export table (mksquashfs -no-exports)')
    .option('--all-root', 'make every file owned by root (mksquashfs -all-root)')
    .option('--force-uid <uid>', 'owner of every file (mksquashfs -force-uid)', int('uid'))
    .option('--force-gid <gid>', 'group of every file (mksquashfs -force-gid)', int('gid'))
    .option('--one-file-system', 'do not descend into other filesystems')
    .option('-e, --exclude <path>', 'leave out this path, relative to the root; repeat for more (mksquashfs -e, also as its last option: OUTPUT -e a b c)', collect)
    .option('--exclude-file <file>', 'read exclude entries from this file, one per line, # comments; repeatable (mksquashfs -ef)', collect)
    .option('--wildcards', 'exclude entries are mksquashfs wildcards (mksquashfs -wildcards)')
    .option('--regex', 'exclude entries are regular expressions (mksquashfs -regex)')
    .option('--no-default-excludes', 'capture /proc, /tmp, /var/cache… too (only the output and the live machinery stay out)')
    .option('--scrub', 'full mode: also leave out machine identity, host keys, logs and other host state')
    .option('--compare-contents', 'diff mode: also compare contents of files whose metadata is unchanged')
    .option('--no-space-check', 'do not check the free space of the output filesystem first')
    .option('--verify', 'read the new image back before it replaces the output: every table and block, and each file\'s data against a digest of what was read; in upper and diff modes, as root, also stack it over the lower layers in a private mount namespace and compare that view with the live session (differences: exit 3)')
    .option('--base <image>', 'incremental: copy the stored data of every file unchanged since IMAGE from it; without --base the output itself is the base when it holds a compatible image')
    .option('--no-base', 'a full snapshot: read and compress every file, even when the output holds an earlier image')
    .addOption(new Option('--base-check <how>', 'how a file is found unchanged since the base: quick (size, mtime, mode, owner, xattrs) or content (read and compared)').choices(['quick', 'content']))
    .option('--json', 'print a machine-readable JSON report on stdout instead of the summary')
    .option('--persistence-name <tag>', 'write onto the live medium where the next boot stacks it on top: casper/<top-layer>.<tag>.squashfs (layered casper), casper/zz-<tag>.squashfs, live/zz-<tag>.squashfs (live-boot)')
    .option('--plymouth', 'report progress through Plymouth (plymouth message) when it is running, as at shutdown')
    .option('--ignore-errors', 'leave out unreadable files (listed as warnings) instead of failing')
    .option('-j, --jobs <n>', 'worker threads (mksquashfs -processors; default: available cores)', int('jobs'))
    .option('--mem <size>', 'cap on data in flight (mksquashfs -mem)', '256M')
    .option('--force', 'replace an existing output file even when it is not a SquashFS image')
    .option('--noappend', 'mksquashfs spelling of --force --no-base (the image is written anew, nothing taken from the old one)')
    .addOption(new Option('--xattrs', 'store extended attributes (the default)').hideHelp())
    .option('--progress', 'show the progress bar even when stderr is not a terminal')
    .option('-q, --quiet', 'print nothing but errors')
    .option('-d, --debug', 'print the effective options and timings')
    .option('-v, --version', 'print versions of casper-snapshot, the addon and compression libraries')
    .helpOption('-h, --help', 'show this help')
    .addHelpText(
      'after',
      `
mksquashfs spellings are accepted: -comp, -b, -noappend, -no-xattrs, -no-fragments, -always-use-fragments,
-no-exports, -no-duplicates, -all-root, -force-uid, -force-gid, -processors, -mem, -e, -Xcompression-level,
-Xdict-size, -Xbcj, -Xhc, -Xalgorithm. lzma (LZMA1) is refused: the kernel cannot mount it.

casper-snapshot verify IMAGE [DIR] reads an image back and checks it, or compares it with DIR
(casper-snapshot verify --help).

Environment: SOURCE_DATE_EPOCH sets the image time and clamps file times (reproducible images).

Exit codes: 0 success; 1 usage error (nothing written); 2 the snapshot failed, --verify included (message names
the path and the cause; no temporary file is left and an existing image is untouched); 3 the image was written but some
files changed while being read, vanished, were replaced, or were unreadable and skipped, or --verify found the image
stacked over the lower layers different from the live session (each is named in a warning);
129/130/143 stopped by
SIGHUP/SIGINT/SIGTERM (the temporary file is removed). A second casper-snapshot writing the same output
fails with exit 2 (lock file .OUTPUT.lock beside it).`,
    )
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  return program;
}

const SIGNAL_EXIT: Record<string, number> = { SIGHUP: EXIT.sighup, SIGINT: EXIT.sigint, SIGTERM: EXIT.sigterm };

/** Writes to stdout synchronously; a full or closed stdout is a clear error, not a stack trace. */
function writeStdout(text: string, what: string, image: string): void {
  const buf = Buffer.from(text);
  try {
    for (let off = 0; off < buf.length; ) {
      try {
        off += writeSync(1, buf, off);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10); // a non-blocking pipe is full: wait
      }
    }
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new CasperError(`cannot write ${what} to standard output (${e.code ?? e.message}); the image '${image}' was written`, e.code ?? 'EIO');
  }
}

/** On SIGINT/SIGTERM/SIGHUP: remove the temporary file and lock, exit 128 + signal number. */
function installSignalHandlers(): void {
  for (const sig of Object.keys(SIGNAL_EXIT) as NodeJS.Signals[]) {
    process.once(sig, () => {
      cancelAll(); // native work stops, so the exit below does not wait for it
      discardAllOutputs();
      restoreAllMedia(); // after the temporary file is gone, so the medium can go read-only again
      process.stderr.write(`casper-snapshot: stopped by ${sig}; no image written\n`);
      process.exit(SIGNAL_EXIT[sig]);
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
  const how = st.stacked === 'overlay' ? `a read-only overlay of ${st.layers.length} layers, mounted at ${st.view}` : `one layer, read at ${st.view}`;
  const lines = st.layers.map((l, k) => `  ${k + 1}. ${l.shownAs}: ${l.loopMounted ? `image ${l.image} loop-mounted at ${l.path}` : `reachable at ${l.path}`}`);
  return `lower stack (topmost first), compared against as ${how}:\n${lines.join('\n')}\n`;
}

/** -d: a cumulative save — which layer the image replaced (folded in) and which it was compared against. */
function describeCumulative(c: Cumulative): string {
  const how = c.how === 'fold' ? 'its tree merged under the upper layer' : 'the merged view compared with the layers beneath it';
  const lines = [`cumulative save: the image replaces the lower layer ${c.replaces.shownAs} (${c.replaces.image}, same ${c.replaces.by}), folded in: ${how}`];
  if (c.above.length) lines.push(`  layers above it, kept above: ${c.above.join(', ')}`);
  lines.push(`  compared against the layers beneath it: ${c.comparedWith.join(', ')}`);
  return lines.join('\n') + '\n';
}

function printJsonError(code: string, message: string, exitCode: number): void {
  try {
    writeSync(1, JSON.stringify({ schemaVersion: REPORT_SCHEMA_VERSION, error: { code, message, exitCode } }, null, 2) + '\n');
  } catch {
    /* stdout itself is what failed: the message is on stderr already */
  }
}

/** An error the tool anticipates and explains (errno codes, locks, mounts, images): no stack trace under -d. */
function expectedFailure(err: unknown): boolean {
  const code = (err as CasperError).code;
  return err instanceof CasperError && typeof code === 'string' && /^(E[A-Z0-9_]+|ABORT_ERR)$/.test(code) && code !== 'EINTERNAL';
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** mksquashfs's order is SOURCE DEST; ours takes the source as --source. */
function sourceDestHint(positionals: string[]): string | null {
  if (positionals.length === 2 && isDirectory(positionals[0]) && !isDirectory(positionals[1]))
    return `'${positionals[0]}' is a directory: to capture it as mksquashfs would, type casper-snapshot --source ${positionals[0]} ${positionals[1]}`;
  if (positionals.length === 1 && isDirectory(positionals[0]))
    return `the argument is the output image, and '${positionals[0]}' is a directory: to capture it, type casper-snapshot --source ${positionals[0]} OUTPUT.squashfs`;
  return null;
}

/** The library options from the command line (o), /etc/casper.conf (c) and defaults, in that order of precedence. */
function snapshotOptions(o: OptionValues, c: SnapshotConfig, given: (name: string) => boolean, output: string): SnapshotOptions {
  const syntax = o.regex ? 'regex' : o.wildcards ? 'wildcards' : (c.excludeSyntax as 'exact' | 'wildcards' | 'regex' | undefined);
  return {
    source: o.source,
    root: o.root,
    mode: o.mode ?? (c.mode && c.mode !== 'auto' ? c.mode : undefined),
    filesystem: o.filesystem,
    output,
    compressor: given('compressor') ? o.compressor : (c.compressor ?? o.compressor),
    compressionLevel: o.compressionLevel,
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
    verify: o.verify,
    base: o.noappend ? false : o.base,
    baseCheck: o.baseCheck,
  };
}

export async function main(argv: string[]): Promise<number> {
  // `verify IMAGE [DIR]` is a command of its own (an output image named 'verify' is written as ./verify).
  if (argv[0] === 'verify') return (await import('./verify.js')).verifyMain(argv.slice(1)); // loaded only for verify
  const program = buildProgram();
  const valueFlags = new Set(program.options.filter((opt) => opt.required || opt.optional).flatMap((opt) => [opt.short, opt.long].filter((f): f is string => !!f)));
  const args = rewriteMksquashfsArgs(argv, (f) => valueFlags.has(f));
  const json = args.includes('--json');
  if (args.includes('-v') || args.includes('--version')) {
    process.stdout.write(versionText() + '\n');
    return EXIT.ok;
  }
  try {
    program.parse(args, { from: 'user' });
  } catch (err) {
    const e = err as { code?: string; exitCode?: number; message?: string };
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.help') return EXIT.ok;
    const hint = e.code === 'commander.excessArguments' ? sourceDestHint(program.args) : null;
    if (hint) process.stderr.write(`casper-snapshot: ${hint}\n`);
    if (json) printJsonError('EUSAGE', [String(e.message ?? err).replace(/^error: /, ''), hint].filter(Boolean).join('; '), EXIT.usage);
    return EXIT.usage;
  }
  const o = program.opts();
  installSignalHandlers();
  let plymouth: ReturnType<typeof plymouthReporter> | null = null;
  try {
    // Settings: command line > config file > defaults.
    const conf = loadCasperConf(o.config);
    const given = (name: string) => program.getOptionValueSource(name) === 'cli';
    const c = conf.config;
    for (const w of conf.warnings) process.stderr.write(`casper-snapshot: ${conf.file}: ${w}\n`);
    let output: string | undefined = program.args[0] ?? c.output;
    let bootNote: string | null = null;
    // The persistence name (option, or the config's when no output is named) puts the image where the next boot stacks it.
    const tag: string | undefined = o.persistenceName ?? (program.args[0] === undefined ? c.persistenceName : undefined);
    if (tag) {
      const named = persistenceName(detectLiveSystem({ root: o.root ?? '/' }), tag);
      output = program.args[0] ?? named.output;
      bootNote = named.bootOption && `boot with ${named.bootOption} on the kernel command line to stack this snapshot`;
    }
    if (!output) throw new UsageError('no output image given (argument, or CASPER_SNAPSHOT_OUTPUT in the config)');
    if (!o.source && program.args.length === 1) {
      const hint = sourceDestHint(program.args);
      if (hint) throw new UsageError(hint);
    }
    const options = snapshotOptions(o, conf.config, given, output);
    const progress = progressReporter(o);
    plymouth = o.plymouth ? plymouthReporter() : null;
    const report = await snapshot({ ...options, onProgress: (p) => (progress.update(p), plymouth?.update(p)) });
    progress.done();
    plymouth?.done();
    if (report.replaced === 'file (--force)' && !o.quiet) process.stderr.write(`casper-snapshot: replaced '${report.output}', which was not a SquashFS image (--force)\n`);
    if (bootNote && !o.quiet) process.stderr.write(`casper-snapshot: ${bootNote}\n`);
    for (const w of report.warnings) process.stderr.write(`casper-snapshot: warning: ${w}\n`);
    if (o.json) writeStdout(JSON.stringify(jsonReport(report, conf.found ? conf.file : null), null, 2) + '\n', 'the JSON report', report.output);
    else if (!o.quiet) writeStdout(formatSummary(report) + '\n', 'the summary', report.output);
    if (o.debug) {
      process.stderr.write(`mode: ${report.mode}\n${report.layout ? `layout: ${report.layout.kind}\n` : ''}${report.notes.map((n) => n + '\n').join('')}`);
      if (report.cumulative) process.stderr.write(describeCumulative(report.cumulative));
      if (report.lowerStack) process.stderr.write(describeLowerStack(report.lowerStack));
      if (report.remountedMedium) process.stderr.write(`live medium ${report.remountedMedium}: remounted read-write for the save, read-only again after it\n`);
      process.stderr.write(`policy:\n${report.policy}\n`);
      process.stderr.write(JSON.stringify({ options: report.options, times: report.times, pipeline: report.pipeline }, null, 2) + '\n');
    }
    // Differences found by --verify's restore proof: the image is written, but does not give the session back.
    const incomplete = report.image.changedFiles.length > 0 || report.image.skipped.length > 0 || (report.restoreCheck?.differences.length ?? 0) > 0;
    return incomplete ? EXIT.incomplete : EXIT.ok;
  } catch (err) {
    const e = err as CasperError;
    const usage = err instanceof UsageError;
    // At shutdown (--plymouth, as the unit runs it) the console and the splash say plainly that nothing was saved.
    const lost = o.plymouth ? 'THE LIVE SESSION WAS NOT SAVED: ' : '';
    process.stderr.write(`casper-snapshot: ${lost}${e.message}${e.path && !e.message.includes(e.path) ? ` (${e.path})` : ''}\n`);
    plymouth?.failed(e.message);
    // A stack helps only with a failure inside the tool: never with a usage error or an expected one (a system
    // call's error, a lock held, a corrupt image: the message says it all).
    if (o.debug && e.stack && !usage && !expectedFailure(err)) process.stderr.write(e.stack + '\n');
    if (o.json) printJsonError(usage ? 'EUSAGE' : (e.code ?? 'EFAILED'), e.message, usage ? EXIT.usage : EXIT.failed);
    return usage ? EXIT.usage : EXIT.failed;
  }
}
