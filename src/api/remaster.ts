// remaster(): from a live session (or a directory) to an ISO that boots, in one step. The new root is
// captured with snapshot() (full mode, --scrub), the base medium read with xorriso (src/remaster/), the
// image, its size, manifest and checksum files (and the kernel and initrd, when the root's are newer) put
// in place of the base's, the session's persistence layers left out, and the ISO written by xorriso with
// the base's boot records replayed, to a temporary name that is renamed over the output when complete.
import {
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { randomBytes } from 'node:crypto';
import { snapshot, type Progress, type RunOptions, type SnapshotReport } from './snapshot.js';
import type { CompressorName, SnapshotOptions } from './options.js';
import { verify } from './verify.js';
import { loadAddon } from '../native/addon.js';
import { OutputFile } from '../pipeline/output-file.js';
import { AbortError, CasperError, UsageError, toCasperError } from '../errors.js';
import { findXorriso } from '../remaster/xorriso.js';
import {
  bootEntrySignature,
  extractFiles,
  readBaseMedium,
  readHead,
  type BaseMedium,
} from '../remaster/base-medium.js';
import { recogniseLayout, type MediumLayout } from '../remaster/layout.js';
import { checkNotOnMedium, isoFileSource, liveMediumSource, type MediumSource } from '../remaster/medium-source.js';
import { checkIsoTarget, type ExistingIso } from '../remaster/output-iso.js';
import { checkSpaceBefore, checkSpaceForIso } from '../remaster/space.js';
import { squashfsCodec, SUPERBLOCK_BYTES } from '../remaster/squashfs-codec.js';
import { keepInstalled, readManifest } from '../remaster/manifest.js';
import { bootFiles } from '../remaster/boot-config.js';
import {
  checkKernel,
  kernelVersionOf,
  rootKernels,
  KERNEL_HEAD_BYTES,
  type KernelCheck,
  type MediumKernel,
} from '../remaster/kernel.js';
import { editChecksums, hashFile, type Algorithm } from '../remaster/checksums.js';
import { hfsPlusOverlap, writeIso } from '../remaster/iso-write.js';
import { checkVolumeId } from '../remaster/iso9660.js';
import { forgetTemporary, keepTemporary } from '../remaster/temporaries.js';

/** The snapshot options a remaster passes on to the capture of the new root. */
export type RemasterCaptureOptions = Pick<
  SnapshotOptions,
  | 'source'
  | 'root'
  | 'exclude'
  | 'excludeFiles'
  | 'excludeSyntax'
  | 'defaultExcludes'
  | 'compressor'
  | 'compressionLevel'
  | 'compressorOptions'
  | 'blockSize'
  | 'jobs'
  | 'mem'
  | 'ignoreErrors'
  | 'sourceDateEpoch'
  | 'xattrs'
>;

export interface RemasterOptions extends RemasterCaptureOptions {
  /** The ISO to write (atomically: a temporary file beside it is renamed over it when complete). */
  output: string;
  /**
   * The medium to start from: an ISO file (or a device holding one). Without it, the medium the running live
   * system booted from (/cdrom, /run/live/medium), read through the device behind it.
   */
  fromIso?: string;
  /** The volume label of the new ISO (default: the base's). At most 32 bytes. */
  label?: string;
  /**
   * Leave out machine identity, host keys, logs and other host state from the new root (default true; see
   * the snapshot option of that name). A remaster is meant for other machines.
   */
  scrub?: boolean;
  /** Skip the free-space checks (the new image and the ISO, in the output's directory). */
  noSpaceCheck?: boolean;
  /** Replace an existing output file that is not an ISO 9660 image. */
  force?: boolean;
  /** The xorriso program (default: xorriso on PATH). */
  xorriso?: string;
  /**
   * The compressor (default: the replaced image's, so the medium's kernel reads it as it read the old one)
   * and block size (default: the replaced image's).
   */
  compressor?: CompressorName;
}

export type RemasterPhase = 'medium' | 'capture' | 'iso' | 'commit' | 'done';

export interface RemasterProgress {
  phase: RemasterPhase;
  /** Phase 'capture': the capture's own progress, as snapshot() reports it. */
  capture?: Progress;
  /** Phase 'iso' and after: bytes of the ISO written, and about how many it will have. */
  isoBytes: number;
  isoBytesTotal: number;
}

export interface RemasterRunOptions
  extends RemasterOptions,
    Pick<RunOptions, 'pool' | 'workerFilename' | 'nativeBinding'> {
  signal?: AbortSignal;
  onProgress?: (p: RemasterProgress) => void;
}

/** One file of the medium that the remaster changed, besides the image itself. */
export interface MediumChange {
  /** ISO path ("/live/filesystem.packages"). */
  path: string;
  change: 'rewritten' | 'replaced' | 'added' | 'removed';
  why: string;
}

export interface RemasterReport {
  output: string;
  /** Where the base was read: the ISO file or the live medium's device, and the live medium's mount point. */
  base: MediumSource;
  layout: { family: MediumLayout['family']; squashfs: string };
  label: { base: string; written: string };
  /** The capture of the new root (its image became the medium's squashfs). */
  capture: SnapshotReport;
  squashfs: { path: string; bytes: number; replacedBytes: number };
  /** Every change on the medium besides the squashfs. */
  changes: MediumChange[];
  kernel: KernelCheck;
  /** Packages in the new root's dpkg database (0 when it has none); bytes written as filesystem.size (the root unpacked, in 4 KiB blocks). */
  packages: number;
  installedBytes: number;
  /** The El Torito entries of the new ISO (the same as the base's, block addresses aside). */
  bootEntries: string[];
  isoBytes: number;
  replaced: ExistingIso;
  warnings: string[];
  times: { medium: number; capture: number; iso: number; commit: number; total: number };
}

/** Paths of the output's own files, as image paths of the captured root, when they lie inside it. */
function ownFiles(walkRoot: string, paths: string[]): string[] {
  const out: string[] = [];
  for (const p of paths) {
    const rel = relative(walkRoot, p);
    if (rel !== '' && !rel.startsWith('..') && !rel.startsWith(sep)) out.push('/' + rel.split(sep).join('/'));
  }
  return out;
}

/** Image files of earlier runs that died before removing them (the output's lock is held, so none is live). */
function removeStaleImages(dir: string, prefix: string): void {
  for (const n of readdirSync(dir))
    if (n.startsWith(prefix))
      try {
        unlinkSync(join(dir, n));
      } catch {
        /* already gone */
      }
}

function checkOptions(o: RemasterRunOptions): void {
  if (!o || typeof o !== 'object') throw new UsageError('options are required');
  if (typeof o.output !== 'string' || o.output === '') throw new UsageError('an output ISO path is required');
  if (o.fromIso !== undefined && (typeof o.fromIso !== 'string' || o.fromIso === ''))
    throw new UsageError('fromIso must be the path of an ISO image');
  if (o.label !== undefined) {
    const bad = typeof o.label === 'string' ? checkVolumeId(o.label) : 'the label must be a string';
    if (bad) throw new UsageError(`--label: ${bad}`);
  }
  if (o.source !== undefined && o.root !== undefined)
    throw new UsageError('--source captures a directory; --root a live root: give one of them');
}

function sourceDateEpoch(o: RemasterRunOptions): number | null {
  if (o.sourceDateEpoch !== undefined) return o.sourceDateEpoch;
  const env = process.env.SOURCE_DATE_EPOCH;
  return env && /^\d+$/.test(env) ? Number(env) : null;
}

/** What the boot configuration loads, and the medium's kernels with their version strings. */
async function mediumKernels(
  base: BaseMedium,
  configs: Map<string, string>,
  tmp: string,
  signal?: AbortSignal,
): Promise<{ kernels: MediumKernel[]; initrds: string[] }> {
  const boot = bootFiles(configs);
  const kernels: MediumKernel[] = [];
  for (const path of [...boot.kernels.keys()].filter((p) => base.files.has(p)).sort())
    kernels.push({ path, full: kernelVersionOf(await readHead(base, path, KERNEL_HEAD_BYTES, tmp, signal)) });
  return { kernels, initrds: [...boot.initrds.keys()].filter((p) => base.files.has(p)).sort() };
}

/** The text of a base file copied out, or null. */
const textOf = (extracted: Map<string, string>, path: string | null) =>
  path && extracted.has(path) ? readFileSync(extracted.get(path)!, 'utf8') : null;

/**
 * Makes a bootable ISO from the running live session (or `source`, a directory) and a base medium (`fromIso`, or
 * the medium the live system booted from): the new root captured in full mode with scrub, the medium's
 * filesystem.squashfs replaced, its size, package and checksum files rewritten, a newer kernel and initrd of the
 * root copied where the boot configuration loads them, the session's persistence layers left out, and the ISO
 * written by xorriso with the base's boot records replayed, atomically (a temporary file renamed over `output`).
 *
 * Resolves with the report (every change on the medium besides the image, the kernel verdict, the capture's own
 * SnapshotReport, warnings, times). Rejects with a UsageError for bad options or inputs (nothing written), an
 * AbortError when `signal` aborts (xorriso stopped, temporary files removed), or a CasperError naming the path
 * and cause (ENOXORRISO when xorriso is missing, ENOSPC, ELAYOUT, EXORRISO, EBOOTRECORDS, …); an existing
 * output is replaced only by a complete, checked ISO.
 */
export async function remaster(options: RemasterRunOptions): Promise<RemasterReport> {
  const t0 = performance.now();
  checkOptions(options);
  const signal = options.signal;
  const aborted = () => {
    if (signal?.aborted) throw new AbortError('remaster aborted');
  };
  const xorriso = findXorriso(options.xorriso);
  const addon = loadAddon(options.nativeBinding);
  const output = resolve(options.output);
  const dir = dirname(output);
  const source = options.fromIso !== undefined ? isoFileSource(options.fromIso) : liveMediumSource();
  const replaced = checkIsoTarget(output, options.force === true);
  checkNotOnMedium(output, source);
  const sde = sourceDateEpoch(options);
  const warnings: string[] = [];
  let isoTotal = 0;
  const emit = (phase: RemasterPhase, extra: Partial<RemasterProgress> = {}) =>
    options.onProgress?.({ phase, isoBytes: 0, isoBytesTotal: isoTotal, ...extra });
  const times = { medium: 0, capture: 0, iso: 0, commit: 0, total: 0 };
  let mark = performance.now();
  const lap = (k: keyof typeof times) => {
    const now = performance.now();
    times[k] = now - mark;
    mark = now;
  };

  // 1. The base: its files, layout, boot records, and the small files this remaster edits.
  emit('medium');
  const tmp = mkdtempSync(join(tmpdir(), 'casper-remaster-'));
  try {
    const base = await readBaseMedium(xorriso, source.iso, signal);
    const where =
      source.from === 'live medium' ? `the live medium ${source.mountPoint} (${source.iso})` : `'${source.iso}'`;
    const layout = recogniseLayout(base.files, where);
    const wanted = [
      ...layout.bootConfigs,
      ...layout.checksums.map((c) => c.path),
      ...layout.removeLists,
      ...layout.moduleFiles,
    ];
    for (const p of [layout.size, layout.manifest]) if (p && base.files.has(p)) wanted.push(p);
    const extracted = await extractFiles(base, wanted, tmp, signal);
    const configs = new Map(layout.bootConfigs.map((p) => [p, textOf(extracted, p) ?? '']));
    const codec = squashfsCodec(await readHead(base, layout.squashfs, SUPERBLOCK_BYTES, tmp, signal));
    if (!codec)
      warnings.push(
        `${layout.squashfs} on the base is not a SquashFS 4.0 image: the new one uses the defaults (gzip, 128K blocks)`,
      );
    const onMedium = await mediumKernels(base, configs, tmp, signal);
    const oldSquashfs = base.files.get(layout.squashfs)!;
    if (!options.noSpaceCheck) checkSpaceBefore(dir, output, base.bytes, oldSquashfs);
    aborted();
    lap('medium');

    // 2. The new root, captured into an image beside the ISO (xorriso needs it whole before it starts).
    const iso = new OutputFile(output, addon);
    const imagePrefix = `.${basename(output)}.squashfs-`;
    const image = join(dir, `${imagePrefix}${process.pid}-${randomBytes(4).toString('hex')}`);
    try {
      removeStaleImages(dir, imagePrefix);
      keepTemporary(image);
      const walkRoot = resolve(options.source ?? options.root ?? '/');
      const compressor =
        options.compressor ?? (codec && codec.compressor !== 'lzma' ? (codec.compressor as CompressorName) : undefined);
      if (codec?.compressor === 'lzma' && options.compressor === undefined)
        warnings.push(
          `${layout.squashfs} on the base uses lzma, which casper-snapshot does not write: the new image uses gzip`,
        );
      emit('capture');
      const capture = await snapshot({
        source: options.source,
        root: options.root,
        mode: options.source === undefined ? 'full' : undefined,
        scrub: options.scrub ?? true,
        exclude: [...(options.exclude ?? []), ...ownFiles(walkRoot, [output, iso.tempPath, iso.lockPath])],
        excludeFiles: options.excludeFiles,
        excludeSyntax: options.excludeSyntax,
        defaultExcludes: options.defaultExcludes,
        compressor,
        compressionLevel: options.compressionLevel,
        compressorOptions: options.compressorOptions,
        blockSize: options.blockSize ?? codec?.blockSize,
        jobs: options.jobs,
        mem: options.mem,
        ignoreErrors: options.ignoreErrors,
        sourceDateEpoch: options.sourceDateEpoch,
        xattrs: options.xattrs,
        // The image must be written anew: it is a temporary file, and the space check is done here for both.
        base: false,
        noSpaceCheck: options.noSpaceCheck,
        output: image,
        signal,
        pool: options.pool,
        workerFilename: options.workerFilename,
        nativeBinding: options.nativeBinding,
        onProgress: (p) => {
          if (p.phase !== 'done') emit('capture', { capture: p });
        },
      });
      // The image is a temporary file: the capture's word about its place is said of the ISO instead.
      for (const w of capture.warnings)
        warnings.push(
          w.startsWith(`'${image}' is on a tmpfs`)
            ? `'${options.output}' is on a tmpfs (memory): it will not survive a reboot`
            : w,
        );
      aborted();
      lap('capture');

      // 3. What else changes on the medium.
      const files = new Map<string, string>([[layout.squashfs, image]]);
      const changes: MediumChange[] = [];
      // A file whose new text is the base's is left as the base has it (and not listed as a change).
      const put = (path: string, text: string, why: string) => {
        if (textOf(extracted, path) === text) return;
        const disk = join(tmp, `new-${files.size}`);
        writeFileSync(disk, text);
        files.set(path, disk);
        changes.push({ path, change: base.files.has(path) ? 'rewritten' : 'added', why });
      };
      const root = capture.source;
      // The package database is needed for the medium's package lists; without them a root may have none.
      const needed = layout.manifest !== null || layout.removeLists.length > 0;
      const manifest = needed || existsSync(join(root, 'var/lib/dpkg/status')) ? readManifest(root) : null;
      const tree = await verify(image, { data: false, signal });
      if (!tree.ok)
        throw new CasperError(
          `the new image '${image}' does not read back: ${tree.problems[0]?.message ?? 'corrupt'}`,
          'ESQUASH_CORRUPT',
          { path: image },
        );
      const installed = tree.counts.installedBytes;
      if (layout.size) {
        const old = textOf(extracted, layout.size);
        put(
          layout.size,
          `${installed}${old === null || old.endsWith('\n') ? '\n' : ''}`,
          `the new root's size unpacked (4 KiB blocks): ${installed} bytes${old !== null ? `, was ${old.trim()}` : ''}`,
        );
      }
      if (layout.manifest && manifest)
        put(
          layout.manifest,
          manifest.text,
          `the new root's packages, from its var/lib/dpkg/status: ${manifest.packages}`,
        );
      for (const list of layout.removeLists) {
        const kept = keepInstalled(textOf(extracted, list) ?? '', manifest!.names);
        if (kept.dropped.length)
          put(list, kept.text, `packages the new root no longer has taken off: ${kept.dropped.join(', ')}`);
      }
      const left = new Set(layout.leftOut.map((l) => basename(l.path)));
      for (const mod of layout.moduleFiles) {
        const names = (textOf(extracted, mod) ?? '').split(/\s+/).filter(Boolean);
        const kept = names.filter((n) => !left.has(n));
        if (kept.length !== names.length)
          put(
            mod,
            kept.map((n) => n + '\n').join(''),
            `the layers left out are no longer listed: ${names.filter((n) => left.has(n)).join(', ')}`,
          );
      }
      const kernel = checkKernel(onMedium.kernels, onMedium.initrds, rootKernels(root));
      for (const c of kernel.copies) {
        files.set(c.to, c.from);
        changes.push({ path: c.to, change: 'replaced', why: `the new root's ${basename(c.from)}` });
      }
      if (
        kernel.verdict === 'updated' &&
        manifest &&
        !manifest.names.has(layout.family === 'casper' ? 'casper' : 'live-boot')
      )
        warnings.push(
          `the new root's initrd comes from a root without the ${layout.family === 'casper' ? 'casper' : 'live-boot'} package: it may not boot the live medium`,
        );
      if (kernel.verdict === 'kept' || kernel.verdict === 'unknown') warnings.push(`kernel: ${kernel.note}`);
      for (const l of layout.leftOut) changes.push({ path: l.path, change: 'removed', why: l.why });
      const removed = new Set(layout.leftOut.map((l) => l.path));
      if (layout.checksums.length) {
        const algorithms = [...new Set(layout.checksums.map((c) => c.algorithm))] as Algorithm[];
        const hashes = new Map<string, Record<Algorithm, string>>();
        for (const [path, disk] of files) hashes.set(path, await hashFile(disk, algorithms, signal));
        for (const c of layout.checksums) {
          const edit = editChecksums(
            textOf(extracted, c.path) ?? '',
            new Map([...hashes].map(([p, h]) => [p, h[c.algorithm]])),
            removed,
          );
          const what = [
            edit.updated.length && `${edit.updated.length} line(s) with new hashes`,
            edit.dropped.length && `${edit.dropped.length} dropped`,
            edit.added.length && `${edit.added.length} added`,
          ].filter(Boolean);
          put(c.path, edit.text, `${c.algorithm} sums of the new files: ${what.join(', ') || 'no line changed'}`);
        }
      }
      const label = options.label ?? base.volume.volumeId;
      if (label !== base.volume.volumeId) {
        changes.push({
          path: '(volume label)',
          change: 'rewritten',
          why: `'${base.volume.volumeId}' became '${label}'`,
        });
        const mentions = [...configs].filter(([, text]) => text.includes(base.volume.volumeId)).map(([p]) => p);
        if (mentions.length)
          warnings.push(
            `the boot configuration names the old label '${base.volume.volumeId}' (${mentions.join(', ')}): a boot that looks for it will not find the new medium`,
          );
      }
      // The ISO: the base less what is replaced or left out, plus the new files.
      let size = base.bytes;
      for (const p of [...files.keys(), ...removed]) size -= base.files.get(p) ?? 0;
      for (const disk of files.values()) size += statSync(disk).size;
      isoTotal = size;
      if (!options.noSpaceCheck) checkSpaceForIso(dir, output, size);
      aborted();

      // 4. The ISO, then a look at what was written: the same boot entries as the base.
      emit('iso');
      const write = {
        base,
        output: iso.tempPath,
        files,
        remove: [...removed],
        label: label === base.volume.volumeId ? null : label,
        fileTime: sde,
        signal,
        onProgress: (b: number) => emit('iso', { isoBytes: b }),
      };
      try {
        await writeIso(write);
      } catch (err) {
        if (!hfsPlusOverlap(base, err)) throw err;
        truncateSync(iso.tempPath, 0); // xorriso would take a written file for a medium to append to
        await writeIso({ ...write, hfsplus: false });
        warnings.push(
          `the base's HFS+ hybrid (for Intel Macs) cannot be replayed by this xorriso (${(err as Error).message.replace(/^.*?(GPT partitions[^;]*).*$/, '$1')}): the new ISO has none; its El Torito, MBR and GPT boot records are the base's`,
        );
        changes.push({ path: '(HFS+ hybrid)', change: 'removed', why: 'this xorriso cannot replay it' });
      }
      aborted();
      const written = await readBaseMedium(xorriso, iso.tempPath, signal);
      const want = bootEntrySignature(base.bootEntries);
      const got = bootEntrySignature(written.bootEntries);
      if (want.join('\n') !== got.join('\n'))
        throw new CasperError(
          `the new ISO's boot entries differ from the base's (base: ${want.join('; ') || 'none'}; new: ${got.join('; ') || 'none'}): not written`,
          'EBOOTRECORDS',
          { path: output },
        );
      lap('iso');
      emit('commit', { isoBytes: written.bytes });
      await iso.commit();
      lap('commit');
      times.total = performance.now() - t0;
      emit('done', { isoBytes: written.bytes });
      return {
        output: options.output,
        base: source,
        layout: { family: layout.family, squashfs: layout.squashfs },
        label: { base: base.volume.volumeId, written: label },
        capture,
        squashfs: { path: layout.squashfs, bytes: statSync(image).size, replacedBytes: oldSquashfs },
        changes,
        kernel,
        packages: manifest?.packages ?? 0,
        installedBytes: installed,
        bootEntries: written.bootEntries,
        isoBytes: statSync(output).size,
        replaced,
        warnings,
        times,
      };
    } catch (err) {
      iso.discard();
      throw err instanceof CasperError ? err : toCasperError(err);
    } finally {
      rmSync(image, { force: true });
      forgetTemporary(image);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
