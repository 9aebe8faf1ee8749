// Writes the new ISO with one xorriso run: the base loaded as it is (-indev), its boot records replayed
// (-boot_image any replay: the El Torito catalog and images, the MBR/GPT hybrid, appended partitions such as
// the EFI system partition), the new files mapped over the old ones, the left-out ones removed, written to a
// temporary file (-outdev) that the caller renames into place. Files the base carries unchanged are copied
// from it by xorriso; nothing is unpacked to disk. ISO 9660 records every file's size and place before the
// data, so the new filesystem.squashfs must be complete on disk before xorriso starts: it is written once,
// beside the ISO, and read once by xorriso.
import { indev, runXorriso } from './xorriso.js';
import type { BaseMedium } from './base-medium.js';

export interface IsoWrite {
  base: BaseMedium;
  /** The temporary output file (it may exist, empty). */
  output: string;
  /** ISO path to the file on disk that replaces or adds it. */
  files: Map<string, string>;
  /** ISO paths left out of the new medium. */
  remove: string[];
  /** A new volume id, or null to keep the base's. */
  label: string | null;
  /** Seconds since the epoch for the new files' dates (reproducible ISOs, with SOURCE_DATE_EPOCH), or null. */
  fileTime: number | null;
  /** false: leave out the HFS+ hybrid the replay would make (see hfsPlusOverlap). */
  hfsplus?: false;
  signal?: AbortSignal;
  /** Bytes written so far, as xorriso reports them (about once a second). */
  onProgress?: (bytes: number) => void;
}

/** The xorriso arguments for a write (exported for the tests and the benchmark's manual route). */
export function isoWriteArgs(w: Omit<IsoWrite, 'signal' | 'onProgress'>): string[] {
  const args = ['-indev', indev(w.base.iso), '-outdev', `stdio:${w.output}`, '-boot_image', 'any', 'replay'];
  if (w.hfsplus === false) args.push('-hfsplus', 'off');
  // Joliet names are written only when asked for; the base's Windows view kept as it was.
  if (w.base.volume.joliet) args.push('-joliet', 'on', '-compliance', 'joliet_long_names');
  if (w.label !== null) args.push('-volid', w.label);
  for (const p of w.remove) args.push('-rm', p, '--');
  const mapped = [...w.files.keys()].sort();
  for (const p of mapped) args.push('-map', w.files.get(p)!, p);
  if (mapped.length) {
    // As the base's files are (mkisofs -r): owned by root, readable by all, writable by none.
    args.push('-chown', '0', ...mapped, '--', '-chgrp', '0', ...mapped, '--', '-chmod', '0444', ...mapped, '--');
    if (w.fileTime !== null)
      args.push(
        '-alter_date',
        'b',
        `=${w.fileTime}`,
        ...mapped,
        '--',
        '-alter_date',
        'c',
        `=${w.fileTime}`,
        ...mapped,
        '--',
      );
  }
  args.push('-commit');
  return args;
}

/** xorriso's progress line: "xorriso : UPDATE : Writing:  16082s  9.5%  fifo 100%  buf  50%". */
const WRITING = /UPDATE : Writing:\s+(\d+)s/;

export async function writeIso(w: IsoWrite): Promise<void> {
  await runXorriso(w.base.xorriso, isoWriteArgs(w), {
    signal: w.signal,
    what: `writing the new ISO '${w.output}'`,
    // xorriso takes its volume dates from it (the UUID date is replayed from the base).
    env: w.fileTime !== null ? { SOURCE_DATE_EPOCH: String(w.fileTime) } : undefined,
    onMessage: (line) => {
      const m = WRITING.exec(line);
      if (m) w.onProgress?.(Number(m[1]) * 2048);
    },
  });
}

/**
 * Whether a failed write is xorriso 1.5.4's trouble with a replayed HFS+ hybrid (grub-mkrescue's ISOs carry one,
 * for Intel Macs): its GPT then gets overlapping partitions and the write fails. Written again without the
 * HFS+ tree, such an ISO boots PCs as before (the El Torito entries, MBR and GPT EFI partition stay).
 */
export function hfsPlusOverlap(base: BaseMedium, err: unknown): boolean {
  return (
    base.bootCommands.includes('-hfsplus on') &&
    /GPT partitions \d+ and \d+ overlap/.test((err as Error)?.message ?? '')
  );
}
