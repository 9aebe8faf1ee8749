// The base medium as xorriso reads it (an ISO file, or the device the live medium was mounted from): its
// files and their sizes, its boot records (El Torito entries and the commands that replay them), and small
// files copied out of it. Nothing is mounted and nothing on the base is ever written.
import { mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { indev, runXorriso } from './xorriso.js';
import { readIsoVolume, type IsoVolume } from './iso9660.js';
import { CasperError } from '../errors.js';

export interface BaseMedium {
  /** What xorriso reads: an ISO file or a block device. */
  iso: string;
  xorriso: string;
  /** Every regular file: ISO path ("/live/filesystem.squashfs") to its size in bytes. */
  files: Map<string, number>;
  volume: IsoVolume;
  /** -report_el_torito plain: the El Torito catalog and entries, one line each. */
  bootEntries: string[];
  /** -report_el_torito cmd: the commands that make the same boot records (what -boot_image any replay runs). */
  bootCommands: string[];
  /** Bytes of the loaded session (its data blocks). */
  bytes: number;
}

const SECTIONS = [
  '@@casper-snapshot:plain',
  '@@casper-snapshot:cmd',
  '@@casper-snapshot:files',
  '@@casper-snapshot:toc',
];

/** Undoes xorriso's shell-safe quoting: 'text' pieces, with a quote inside written '"'"'. */
function unquote(s: string): string {
  let out = '';
  for (const m of s.matchAll(/'([^']*)'|"(')"/g)) out += m[1] ?? m[2];
  return out;
}

/** -find / -type f -exec lsdl: permissions, links, owner, group, size, date (3 fields), the quoted path (may hold newlines). */
const LSDL = /^\S{10} +\d+ +\S+ +\S+ +(\d+) +\S+ +\S+ +\S+ +((?:'[^']*'|"'")+)$/gm;

export function parseFileList(text: string): Map<string, number> {
  const files = new Map<string, number>();
  for (const m of text.matchAll(LSDL)) files.set(unquote(m[2]), Number(m[1]));
  return files;
}

function section(stdout: string, name: string): string {
  const start = stdout.indexOf(name + '\n');
  if (start < 0) return '';
  const from = start + name.length + 1;
  const next = SECTIONS.map((s) => stdout.indexOf(s + '\n', from)).filter((i) => i >= 0);
  return stdout.slice(from, next.length ? Math.min(...next) : undefined);
}

/** Reads the base's tree and boot records with one xorriso run. */
export async function readBaseMedium(xorriso: string, iso: string, signal?: AbortSignal): Promise<BaseMedium> {
  const volume = readIsoVolume(iso);
  if (!volume)
    throw new CasperError(`'${iso}' holds no ISO 9660 image (no volume descriptor at byte 32768)`, 'ENOTISO', {
      path: iso,
    });
  const r = await runXorriso(
    xorriso,
    [
      '-indev',
      indev(iso),
      '-print',
      SECTIONS[0],
      '-report_el_torito',
      'plain',
      '-print',
      SECTIONS[1],
      '-report_el_torito',
      'cmd',
      '-print',
      SECTIONS[2],
      '-find',
      '/',
      '-type',
      'f',
      '-exec',
      'lsdl',
      '--',
      '-print',
      SECTIONS[3],
      '-toc',
    ],
    { signal, what: `reading the base medium '${iso}'` },
  );
  const lines = (t: string) => t.split('\n').filter((l) => l.trim() !== '');
  const blocks = /Media summary: \d+ sessions?, (\d+) data blocks/.exec(section(r.stdout, SECTIONS[3]));
  return {
    iso,
    xorriso,
    files: parseFileList(section(r.stdout, SECTIONS[2])),
    volume,
    bootEntries: lines(section(r.stdout, SECTIONS[0])),
    bootCommands: lines(section(r.stdout, SECTIONS[1])),
    bytes: blocks ? Number(blocks[1]) * 2048 : 0,
  };
}

/**
 * The El Torito entries as they must come out of a replay: each entry's platform, bootable flag, emulation,
 * load segment and size, its path or hidden image, and options; the block addresses left out (they move).
 */
export function bootEntrySignature(entries: string[]): string[] {
  return entries
    .filter((l) => /^El Torito (boot img|img path|img opts|cat path)/.test(l))
    .map((l) => (l.startsWith('El Torito boot img') ? l.replace(/\s+\d+\s*$/, '') : l).replace(/\s+/g, ' '));
}

/** Copies small files out of the base into a new directory under `tmp`: ISO path to the file's path on disk. */
export async function extractFiles(
  base: BaseMedium,
  paths: string[],
  tmp: string,
  signal?: AbortSignal,
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  if (paths.length === 0) return out;
  const dir = mkdtempSync(join(tmp, 'base-'));
  const args = ['-osirrox', 'on', '-indev', indev(base.iso)];
  paths.forEach((p, i) => {
    const disk = join(dir, String(i));
    out.set(p, disk);
    args.push('-extract', p, disk);
  });
  await runXorriso(base.xorriso, args, { signal, what: `copying ${paths.length} file(s) out of '${base.iso}'` });
  return out;
}

/** The first `bytes` of a file of the base (a kernel's header, an image's superblock). */
export async function readHead(
  base: BaseMedium,
  path: string,
  bytes: number,
  tmp: string,
  signal?: AbortSignal,
): Promise<Buffer> {
  const dir = mkdtempSync(join(tmp, 'head-'));
  const disk = join(dir, 'head');
  const size = Math.min(bytes, base.files.get(path) ?? bytes);
  await runXorriso(
    base.xorriso,
    ['-osirrox', 'on', '-indev', indev(base.iso), '-extract_cut', path, '0', String(size), disk],
    {
      signal,
      what: `reading the start of ${path} in '${base.iso}'`,
    },
  );
  return readFileSync(disk);
}

/** The El Torito entries in words: "BIOS /boot/grub/i386-pc/eltorito.img", "UEFI (an image outside the ISO tree)". */
export function describeBootEntries(entries: string[]): string[] {
  const out: string[] = [];
  for (const l of entries) {
    const m = /^El Torito boot img\s*:\s*(\d+)\s+(\S+)/.exec(l);
    if (!m) continue;
    const path = entries
      .map((e) => new RegExp(`^El Torito img path\\s*:\\s*${m[1]}\\s+(.*)$`).exec(e))
      .find(Boolean)?.[1];
    out.push(`${m[2]} ${path ?? '(an image outside the ISO tree, e.g. an appended EFI partition)'}`);
  }
  return out;
}
