// casper-snapshot remaster OUTPUT.iso: a bootable medium from the live session (or a directory), in one step.
// Exit codes as the snapshot's: 0 written; 1 usage error (nothing written); 2 failed (nothing written, the
// temporary files removed); 3 written, but some files changed while being read or were skipped (warnings);
// 129/130/143 stopped by a signal.
import { Command, InvalidArgumentError, Option } from 'commander';
import { remaster, type RemasterProgress, type RemasterReport } from '../api/remaster.js';
import { type CasperError, UsageError } from '../errors.js';
import { loadAddon, packageVersion } from '../native/addon.js';
import { discardAllOutputs } from '../pipeline/output-file.js';
import { runStopCleanups } from '../pipeline/exit-cleanup.js';
import { cancelAll } from '../pipeline/stop.js';
import { removeAllTemporaries } from '../remaster/temporaries.js';
import { describeBootEntries } from '../remaster/base-medium.js';
import { stopAllXorriso } from '../remaster/xorriso.js';
import { progressReporter } from './progress.js';
import { size } from './summary.js';
import { writeAllStdout } from './stdout.js';
import { jsonReport } from './json-report.js';
import { expectedFailure } from './remedies.js';

export const REMASTER_EXIT = {
  ok: 0,
  usage: 1,
  failed: 2,
  incomplete: 3,
  sighup: 129,
  sigint: 130,
  sigterm: 143,
} as const;
export const REMASTER_SCHEMA_VERSION = 1;

function int(name: string) {
  return (v: string) => {
    if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`${name} must be a non-negative integer`);
    return Number(v);
  };
}

const collect = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];

function buildRemasterProgram(): Command {
  return new Command()
    .name('casper-snapshot remaster')
    .usage('[options] OUTPUT.iso')
    .description(
      'Make a bootable ISO from the running live session (or a directory): the whole merged system is captured\n' +
        "(full mode, --scrub) as the medium's new filesystem.squashfs; its size, manifest and checksum files are\n" +
        'rewritten, a newer kernel and initrd of the root copied where the boot configuration loads them, the\n' +
        "session's persistence layers left out, and the ISO written with xorriso, replaying the base medium's boot\n" +
        'records (BIOS and UEFI El Torito images, MBR/GPT hybrid).',
    )
    .argument(
      '<output>',
      'the ISO to write (atomically: an existing file is replaced only once the new ISO is complete)',
    )
    .option(
      '--from-iso <iso>',
      'the medium to start from (default: the medium the running live system booted from, /cdrom or /run/live/medium)',
    )
    .option('-s, --source <dir>', 'capture this directory (a chroot) as the new root instead of the running system')
    .option('--root <dir>', 'the live root to capture (default /)')
    .option('--label <label>', "volume label of the new ISO, at most 32 bytes (default: the base's)")
    .option('--no-scrub', 'keep machine identity, host keys, logs and other host state in the new root')
    .option('--compressor <name>', "gzip, xz, lz4, zstd or lzo (default: the replaced image's)")
    .option('--compression-level <n>', "the compressor's level (as for a snapshot)", int('compression level'))
    .option('-b, --block-size <size>', "data block size, power of two from 4K to 1M (default: the replaced image's)")
    .option('-e, --exclude <path>', 'leave this path of the root out of the new image; repeat for more', collect)
    .option(
      '--exclude-file <file>',
      'read exclude entries from this file, one per line, # comments; repeatable',
      collect,
    )
    .option('--wildcards', 'exclude entries are mksquashfs wildcards')
    .option('--regex', 'exclude entries are regular expressions')
    .option('--ignore-errors', 'leave out unreadable files (listed as warnings) instead of failing')
    .option('-j, --jobs <n>', 'worker threads (default: available cores)', int('jobs'))
    .option('--mem <size>', 'cap on data in flight (default 256M)')
    .option('--no-space-check', 'do not check the free space for the new image and the ISO first')
    .option('--force', 'replace an existing output file even when it is not an ISO 9660 image')
    .option('--xorriso <path>', 'the xorriso program to run (default: xorriso on PATH)')
    .option('--json', 'print a machine-readable JSON report on stdout instead of the summary')
    .addOption(new Option('--progress', 'show the progress bar even when stderr is not a terminal'))
    .option('-q, --quiet', 'print nothing but errors')
    .option('-d, --debug', "print the capture's policy and options, and the timings")
    .helpOption('-h, --help', 'show this help')
    .addHelpText(
      'after',
      '\nNeeds xorriso (apt install xorriso). The output is never written on the live medium.\n' +
        'Exit codes: 0 written; 1 usage error (nothing written); 2 failed (nothing written); 3 written, but files changed\n' +
        'while being read or were skipped (warnings); 129/130/143 stopped by SIGHUP/SIGINT/SIGTERM (temporary files removed).',
    )
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
}

const out = writeAllStdout;

const secs = (ms: number) => (ms / 1000).toFixed(1);

export function formatRemasterSummary(r: RemasterReport): string {
  const sq = r.squashfs;
  const img = r.capture.image;
  const base = r.base.from === 'live medium' ? `the live medium ${r.base.mountPoint} (${r.base.iso})` : r.base.iso;
  const lines = [
    `${r.output}: ISO 9660 '${r.label.written}', ${size(r.isoBytes)}, a ${r.layout.family} medium remastered from ${base}`,
    `  squashfs       ${sq.path}: ${size(sq.bytes)} (was ${size(sq.replacedBytes)}), ${r.capture.options.compressorDescription}, ${r.capture.options.image.blockSize / 1024}K blocks; ${img.inodes} inodes from ${r.capture.source}`,
  ];
  r.changes.forEach(
    (c, i) => void lines.push(`  ${i === 0 ? 'also changed   ' : '               '}${c.path} ${c.change}: ${c.why}`),
  );
  lines.push(`  kernel         ${r.kernel.verdict}: ${r.kernel.note}`);
  const entries = describeBootEntries(r.bootEntries);
  lines.push(
    `  boot records   replayed from the base: El Torito ${entries.join(', ') || 'none (the base has no El Torito boot records)'}`,
  );
  lines.push(
    `  time           ${secs(r.times.total)} s (medium ${secs(r.times.medium)}, capture ${secs(r.times.capture)}, ISO ${secs(r.times.iso)}, commit ${secs(r.times.commit)})`,
  );
  return lines.join('\n');
}

/** The --json report: the remaster's own fields, the capture as a snapshot's --json report. */
export function remasterJson(r: RemasterReport): unknown {
  const { capture, ...rest } = r;
  return {
    schemaVersion: REMASTER_SCHEMA_VERSION,
    tool: { name: 'casper-snapshot', version: packageVersion() },
    ...rest,
    capture: jsonReport(capture, null),
  };
}

/** A progress line per phase; the capture's own bar in between. */
function progressOf(o: { quiet?: boolean; json?: boolean; progress?: boolean }): (p: RemasterProgress) => void {
  const bar = progressReporter(o);
  const show = !o.quiet && (o.progress === true || process.stderr.isTTY);
  let last: string | null = null;
  let lastIso = 0;
  return (p) => {
    if (p.phase === 'capture' && p.capture) return bar.update(p.capture);
    if (p.phase !== last && last === 'capture') bar.done();
    if (!show) return;
    const now = Date.now();
    if (p.phase === 'iso' && p.phase === last && now - lastIso < 1000) return;
    lastIso = now;
    last = p.phase;
    if (p.phase === 'medium') process.stderr.write('remaster: reading the base medium\n');
    else if (p.phase === 'iso')
      process.stderr.write(`remaster: writing the ISO: ${size(p.isoBytes)} of about ${size(p.isoBytesTotal)}\n`);
    else if (p.phase === 'commit') process.stderr.write('remaster: committing the ISO\n');
  };
}

const SIGNAL_EXIT: Record<string, number> = {
  SIGHUP: REMASTER_EXIT.sighup,
  SIGINT: REMASTER_EXIT.sigint,
  SIGTERM: REMASTER_EXIT.sigterm,
};

/** As the snapshot's handlers: what the run made is removed, and the process ends at once (native work not waited for). */
function installSignalHandlers(): void {
  for (const sig of Object.keys(SIGNAL_EXIT) as NodeJS.Signals[]) {
    process.once(sig, () => {
      cancelAll();
      stopAllXorriso();
      discardAllOutputs();
      removeAllTemporaries();
      runStopCleanups();
      process.stderr.write(`casper-snapshot remaster: stopped by ${sig}; no ISO written\n`);
      try {
        loadAddon().exitNow(SIGNAL_EXIT[sig]);
      } catch {
        process.exit(SIGNAL_EXIT[sig]);
      }
    });
  }
}

export async function remasterMain(argv: string[]): Promise<number> {
  const program = buildRemasterProgram();
  const json = argv.includes('--json');
  try {
    program.parse(argv, { from: 'user' });
  } catch (err) {
    const e = err as { code?: string; message?: string };
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.help') return REMASTER_EXIT.ok;
    if (json)
      out(
        JSON.stringify(
          {
            schemaVersion: REMASTER_SCHEMA_VERSION,
            error: { code: 'EUSAGE', message: String(e.message ?? err).replace(/^error: /, ''), exitCode: 1 },
          },
          null,
          2,
        ) + '\n',
      );
    return REMASTER_EXIT.usage;
  }
  const o = program.opts();
  installSignalHandlers();
  try {
    const report = await remaster({
      output: program.args[0],
      fromIso: o.fromIso,
      source: o.source,
      root: o.root,
      label: o.label,
      scrub: o.scrub,
      compressor: o.compressor,
      compressionLevel: o.compressionLevel,
      blockSize: o.blockSize,
      exclude: o.exclude,
      excludeFiles: o.excludeFile,
      excludeSyntax: o.regex ? 'regex' : o.wildcards ? 'wildcards' : undefined,
      ignoreErrors: o.ignoreErrors,
      jobs: o.jobs,
      mem: o.mem,
      noSpaceCheck: o.spaceCheck === false,
      force: o.force,
      xorriso: o.xorriso,
      onProgress: progressOf(o),
    });
    for (const w of report.warnings) process.stderr.write(`casper-snapshot remaster: warning: ${w}\n`);
    if (o.json) out(JSON.stringify(remasterJson(report), null, 2) + '\n');
    else if (!o.quiet) out(formatRemasterSummary(report) + '\n');
    if (o.debug) {
      process.stderr.write(`policy:\n${report.capture.policy}\n`);
      process.stderr.write(
        JSON.stringify(
          { options: report.capture.options, times: report.times, captureTimes: report.capture.times },
          null,
          2,
        ) + '\n',
      );
    }
    const img = report.capture.image;
    return img.changedFiles.length > 0 || img.skipped.length > 0 ? REMASTER_EXIT.incomplete : REMASTER_EXIT.ok;
  } catch (err) {
    const e = err as CasperError;
    const usage = err instanceof UsageError;
    process.stderr.write(
      `casper-snapshot remaster: ${e.message}${e.path && !e.message.includes(e.path) ? ` (${e.path})` : ''}\n`,
    );
    if (o.debug && e.stack && !usage && !expectedFailure(err)) process.stderr.write(e.stack + '\n');
    if (o.json)
      out(
        JSON.stringify(
          {
            schemaVersion: REMASTER_SCHEMA_VERSION,
            error: { code: usage ? 'EUSAGE' : (e.code ?? 'EFAILED'), message: e.message, exitCode: usage ? 1 : 2 },
          },
          null,
          2,
        ) + '\n',
      );
    return usage ? REMASTER_EXIT.usage : REMASTER_EXIT.failed;
  }
}
