// The casper-snapshot command line.
import { Command, InvalidArgumentError, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { snapshot } from '../api/snapshot.js';
import { loadAddon, packageRoot } from '../native/addon.js';
import { CasperError, UsageError } from '../errors.js';
import { rewriteMksquashfsArgs } from './mksquashfs-aliases.js';
import { formatSummary } from './summary.js';
import { join } from 'node:path';

export const EXIT = { ok: 0, usage: 1, failed: 2, sighup: 129, sigint: 130, sigterm: 143 } as const;
const STOP_SIGNALS = ['SIGHUP', 'SIGINT', 'SIGTERM'] as const;
const SIGNAL_EXIT = { SIGHUP: EXIT.sighup, SIGINT: EXIT.sigint, SIGTERM: EXIT.sigterm } as const;

function int(name: string) {
  return (v: string) => {
    if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`${name} must be a non-negative integer`);
    return Number(v);
  };
}

function versionText(): string {
  const pkg = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string };
  const v = loadAddon().versions();
  const comps = v.compressors.map((c) => `  ${c.name.padEnd(6)} ${c.library}`).join('\n');
  return `casper-snapshot ${pkg.version}\naddon ${v.addon} (Node-API ${v.napi}), node ${process.version}\ncompressors:\n${comps}`;
}

function buildProgram(): Command {
  const program = new Command();
  program
    .name('casper-snapshot')
    .usage('[options] --source DIR OUTPUT.squashfs')
    .description('Capture a directory tree into a SquashFS 4.0 image that the Linux kernel, unsquashfs and rdsquashfs read.')
    .argument('<output>', 'image file to write (atomically: an existing file is replaced only once the new image is complete)')
    .requiredOption('-s, --source <dir>', 'directory to capture')
    .option('-b, --block-size <size>', 'data block size, power of two from 4K to 1M (mksquashfs -b)', '128K')
    .option('--compressor <name>', 'gzip (mksquashfs -comp)', 'gzip')
    .option('--compression-level <n>', 'compressor level (mksquashfs -Xcompression-level)', int('compression level'))
    .option('--no-fragments', 'do not pack small files into fragment blocks (mksquashfs -no-fragments)')
    .option('--always-use-fragments', 'also pack the tail ends of larger files (mksquashfs -always-use-fragments)')
    .option('--no-duplicates', 'store identical files separately (mksquashfs -no-duplicates)')
    .option('--no-xattrs', 'leave out extended attributes (mksquashfs -no-xattrs)')
    .option('--no-exports', 'leave out the NFS export table (mksquashfs -no-exports)')
    .option('--all-root', 'make every file owned by root (mksquashfs -all-root)')
    .option('--force-uid <uid>', 'owner of every file (mksquashfs -force-uid)', int('uid'))
    .option('--force-gid <gid>', 'group of every file (mksquashfs -force-gid)', int('gid'))
    .option('--one-file-system', 'do not descend into other filesystems')
    .option('--exclude <path...>', 'leave out these paths, relative to the source (mksquashfs -e)')
    .option('-j, --jobs <n>', 'worker threads (mksquashfs -processors; default: available cores)', int('jobs'))
    .option('--mem <size>', 'cap on data in flight (mksquashfs -mem)', '256M')
    .option('--noappend', 'accepted for mksquashfs compatibility: the image is always written anew')
    .addOption(new Option('--xattrs', 'store extended attributes (the default)').hideHelp())
    .option('-q, --quiet', 'print nothing but errors')
    .option('-d, --debug', 'print the effective options and timings')
    .option('-v, --version', 'print versions of casper-snapshot, the addon and compression libraries')
    .helpOption('-h, --help', 'show this help')
    .addHelpText(
      'after',
      `
mksquashfs spellings are accepted: -comp, -b, -noappend, -no-xattrs, -no-fragments, -always-use-fragments,
-no-exports, -no-duplicates, -all-root, -force-uid, -force-gid, -processors, -mem, -e, -Xcompression-level.

Environment: SOURCE_DATE_EPOCH sets the image time and clamps file times (reproducible images).

Exit codes: 0 success; 1 usage error (nothing written); 2 the snapshot failed (message names the path and
the cause; no temporary file is left and an existing image is untouched); 129/130/143 stopped by
SIGHUP/SIGINT/SIGTERM.`,
    )
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const args = rewriteMksquashfsArgs(argv);
  if (args.includes('-v') || args.includes('--version')) {
    process.stdout.write(versionText() + '\n');
    return EXIT.ok;
  }
  const program = buildProgram();
  try {
    program.parse(args, { from: 'user' });
  } catch (err) {
    const e = err as { code?: string; exitCode?: number };
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.help') return EXIT.ok;
    return EXIT.usage;
  }
  const o = program.opts();
  const output = program.args[0];
  // SIGHUP/SIGINT/SIGTERM abort the job, which removes its temporary file; the exit status then says which
  // signal stopped it (128 + number, as a shell reports). A second signal gets the default action at once.
  const controller = new AbortController();
  let stoppedBy: NodeJS.Signals | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    if (stoppedBy !== undefined) {
      removeSignalHandlers();
      process.kill(process.pid, sig);
      return;
    }
    stoppedBy = sig;
    controller.abort();
  };
  const removeSignalHandlers = () => {
    for (const sig of STOP_SIGNALS) process.removeListener(sig, onSignal);
  };
  for (const sig of STOP_SIGNALS) process.on(sig, onSignal);
  try {
    const report = await snapshot({
      signal: controller.signal,
      source: o.source,
      output,
      compressor: o.compressor,
      compressionLevel: o.compressionLevel,
      blockSize: o.blockSize,
      fragments: o.fragments,
      alwaysUseFragments: o.alwaysUseFragments,
      duplicates: o.duplicates,
      xattrs: o.xattrs,
      exports: o.exports,
      allRoot: o.allRoot,
      forceUid: o.forceUid,
      forceGid: o.forceGid,
      oneFileSystem: o.oneFileSystem,
      exclude: o.exclude,
      jobs: o.jobs,
      mem: o.mem,
    });
    for (const w of report.warnings) process.stderr.write(`casper-snapshot: warning: ${w}\n`);
    if (!o.quiet) process.stdout.write(formatSummary(report) + '\n');
    if (o.debug) process.stderr.write(JSON.stringify({ options: report.options, times: report.times }, null, 2) + '\n');
    return EXIT.ok;
  } catch (err) {
    if (stoppedBy !== undefined) {
      process.stderr.write(`casper-snapshot: stopped by ${stoppedBy}; no image was written\n`);
      return SIGNAL_EXIT[stoppedBy as (typeof STOP_SIGNALS)[number]];
    }
    const e = err as CasperError;
    process.stderr.write(`casper-snapshot: ${e.message}${e.path && !e.message.includes(e.path) ? ` (${e.path})` : ''}\n`);
    if (o.debug && e.stack) process.stderr.write(e.stack + '\n');
    return err instanceof UsageError ? EXIT.usage : EXIT.failed;
  } finally {
    removeSignalHandlers();
  }
}
