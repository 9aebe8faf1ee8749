// casper-snapshot verify IMAGE [DIR]: reads an image back and checks it; with DIR, compares it with that tree.
// Exit codes: 0 the image is sound (and equal to DIR); 1 usage error; 2 the image is corrupt or unreadable;
// 3 the image is sound but differs from DIR.
import { Command, InvalidArgumentError } from 'commander';
import { verify, VERIFY_IGNORE_FIELDS, type VerifyIgnoreField, type VerifyReport } from '../api/verify.js';
import { type CasperError, UsageError } from '../errors.js';
import { oneLine, printable } from '../printable.js';
import { packageVersion } from '../native/addon.js';
import { size } from './summary.js';
import { writeAllStdout } from './stdout.js';
import { writeHelp } from './help-output.js';

export const VERIFY_EXIT = { ok: 0, usage: 1, corrupt: 2, differ: 3 } as const;
export const VERIFY_SCHEMA_VERSION = 1;

export function formatVerifySummary(r: VerifyReport): string {
  const s = r.superblock;
  const c = r.counts;
  const verdict = !r.ok
    ? 'CORRUPT'
    : r.identical === false
      ? `sound, differs from ${r.dir}`
      : r.identical
        ? `sound, same as ${r.dir}`
        : 'sound';
  const lines = [`${r.image}: ${verdict}`];
  if (s) {
    lines.push(
      `  image          SquashFS 4.0, ${s.compressor}, ${s.blockSize / 1024}K blocks, ${size(s.imageSize)} (${s.bytesUsed} bytes used), ` +
        `${s.inodes} inodes, ${s.ids} ids, ${s.xattrIds} xattr sets, export table ${s.exportTable ? 'yes' : 'no'}`,
      `  entries        ${c.entries}: ${c.files} files, ${c.directories} directories, ${c.symlinks} symlinks, ${c.devices} devices, ` +
        `${c.fifos} fifos, ${c.sockets} sockets; ${c.hardlinks} extra hard links`,
      `  data read      ${size(c.fileBytes)} in files: ${c.dataBlocks} blocks (${c.sparseBlocks} sparse), ${s.fragmentBlocks} fragment blocks, ` +
        `${c.fragmentTails} tails; ${size(c.dataBytesRead)} on disk, ${c.metadataBlocks} metadata blocks`,
      `  integrity      ${integrityLine(r.integrity)}`,
    );
  }
  if (r.problems.length) lines.push(`  problems       ${r.problems.length}${r.problemsTruncated ? '+' : ''}`);
  if (r.dir !== null) lines.push(`  differences    ${r.differences.length}`);
  lines.push(
    `  time           ${r.seconds.toFixed(2)} s, ${(c.dataBytesRead / 1048576 / Math.max(r.seconds, 1e-3)).toFixed(1)} MiB/s`,
  );
  return lines.join('\n');
}

function integrityLine(g: VerifyReport['integrity']): string {
  if (g.record === 'absent') return 'no integrity record (an image of another tool or an older casper-snapshot)';
  if (g.record === 'broken') return 'the integrity record does not check out (see the problems)';
  return `record checked: ${g.blocks} stored blocks against their digests, ${g.files} files against their content tags, ${g.fragments} fragment blocks`;
}

function ignoreList(v: string, prev: VerifyIgnoreField[] | undefined): VerifyIgnoreField[] {
  const out = [...(prev ?? [])];
  for (const f of v
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)) {
    if (!(VERIFY_IGNORE_FIELDS as readonly string[]).includes(f))
      throw new InvalidArgumentError(`unknown field '${f}' (known: ${VERIFY_IGNORE_FIELDS.join(', ')})`);
    out.push(f as VerifyIgnoreField);
  }
  return out;
}

function positiveInt(v: string): number {
  if (!/^[1-9]\d*$/.test(v)) throw new InvalidArgumentError('jobs must be a positive integer');
  return Number(v);
}

function buildVerifyProgram(): Command {
  return new Command()
    .name('casper-snapshot verify')
    .usage('[options] IMAGE [DIR]')
    .description(
      'Read a SquashFS image back without mounting it: every table parses, every data and fragment block ' +
        'decompresses to its declared size, directories are sorted and point at valid inodes, link counts and the ' +
        'export table agree. With DIR, also compare the image with that tree (content, mode, owner, mtime, xattrs, ' +
        'hard links, device numbers, symlink targets), one line per difference like diff -r.',
    )
    .argument('<image>', 'the image to check')
    .argument('[dir]', 'a directory tree to compare the image with')
    .option('--json', 'print a machine-readable JSON report on stdout')
    .option(
      '--ignore <fields>',
      `leave these out of the comparison, comma-separated: ${VERIFY_IGNORE_FIELDS.join(', ')}`,
      ignoreList,
    )
    .option('--no-data', 'check the tables only, not the data and fragment blocks')
    .option('-j, --jobs <n>', 'threads reading data blocks (default: available cores)', positiveInt)
    .option('-q, --quiet', 'print only problems and differences, no summary')
    .helpOption('-h, --help', 'show this help')
    .addHelpText(
      'after',
      '\nExit codes: 0 the image is sound (and the same as DIR); 1 usage error; 2 the image is corrupt or cannot be read;\n3 the image is sound but differs from DIR.',
    )
    .exitOverride()
    .configureOutput({
      writeOut: (s) => writeHelp(s),
      writeErr: (s) => process.stderr.write(s),
      outputError: () => {},
    });
}

const out = writeAllStdout;

export async function verifyMain(argv: string[]): Promise<number> {
  const program = buildVerifyProgram();
  const json = argv.includes('--json');
  try {
    program.parse(argv, { from: 'user' });
  } catch (err) {
    const e = err as { code?: string; message?: string };
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.help') return VERIFY_EXIT.ok;
    process.stderr.write(
      `casper-snapshot verify: ${String(e.message ?? err).replace(/^error: /, '')} (casper-snapshot verify -h lists the options)\n`,
    );
    if (json)
      out(
        JSON.stringify(
          {
            schemaVersion: VERIFY_SCHEMA_VERSION,
            error: { code: 'EUSAGE', message: String(e.message ?? err).replace(/^error: /, ''), exitCode: 1 },
          },
          null,
          2,
        ) + '\n',
      );
    return VERIFY_EXIT.usage;
  }
  const o = program.opts();
  const [image, dir] = program.args;
  try {
    const r = await verify(image, { dir, jobs: o.jobs, data: o.data, ignore: o.ignore });
    const code = !r.ok ? VERIFY_EXIT.corrupt : r.identical === false ? VERIFY_EXIT.differ : VERIFY_EXIT.ok;
    if (o.json) {
      out(
        JSON.stringify(
          {
            schemaVersion: VERIFY_SCHEMA_VERSION,
            tool: { name: 'casper-snapshot', version: packageVersion() },
            exitCode: code,
            ...r,
          },
          null,
          2,
        ) + '\n',
      );
    } else {
      const lines: string[] = [];
      for (const p of r.problems)
        lines.push(oneLine(`${printable(image)}: ${p.message}${p.path ? ` (file ${printable(p.path)})` : ''}`));
      if (r.problemsTruncated)
        lines.push(`${printable(image)}: more problems were found; only the first ${r.problems.length} are listed`);
      for (const d of r.differences) lines.push(oneLine(d.line));
      if (!o.quiet) lines.push(formatVerifySummary(r));
      if (lines.length) out(lines.join('\n') + '\n');
    }
    return code;
  } catch (err) {
    const e = err as CasperError;
    const usage = err instanceof UsageError;
    process.stderr.write(
      `casper-snapshot verify: ${oneLine(`${e.message}${e.path && !e.message.includes(e.path) && !e.message.includes(printable(e.path)) ? ` (${printable(e.path)})` : ''}`)}\n`,
    );
    if (o.json)
      out(
        JSON.stringify(
          {
            schemaVersion: VERIFY_SCHEMA_VERSION,
            error: { code: e.code ?? 'EFAILED', message: e.message, exitCode: usage ? 1 : 2 },
          },
          null,
          2,
        ) + '\n',
      );
    return usage ? VERIFY_EXIT.usage : VERIFY_EXIT.corrupt;
  }
}
