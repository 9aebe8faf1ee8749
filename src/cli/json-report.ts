// The --json report: stable, versioned, machine-readable.
import type { SnapshotReport } from '../api/snapshot.js';
import { loadAddon, packageVersion } from '../native/addon.js';

export const REPORT_SCHEMA_VERSION = 1;

export function jsonReport(r: SnapshotReport, configFile: string | null): unknown {
  const v = loadAddon().versions();
  return {
    schemaVersion: REPORT_SCHEMA_VERSION,
    tool: { name: 'casper-snapshot', version: packageVersion(), addon: v.addon, node: process.version },
    output: r.output,
    source: r.source,
    mode: r.mode,
    layout: r.layout && {
      kind: r.layout.kind,
      root: r.layout.root,
      upper: r.layout.upper,
      lowers: r.layout.lowers,
      notes: r.layout.notes,
    },
    lowerStack: r.lowerStack,
    cumulative: r.cumulative,
    remountedMedium: r.remountedMedium,
    configFile,
    options: r.options,
    counts: {
      entries: r.image.inodes,
      ...r.image.types,
      duplicates: r.image.duplicates,
      fragments: r.image.fragments,
      ids: r.image.ids,
    },
    bytes: {
      source: r.sourceBytes,
      image: r.image.imageSize,
      used: r.image.bytesUsed,
      duplicates: r.image.duplicateBytes,
    },
    times: r.times,
    pipeline: r.pipeline,
    walk: r.walk,
    // The table phase's metadata blocks (inode, directory, lookup tables) and the waves compressing them took.
    tables: {
      metadataBlocks: r.image.metadataBlocks,
      metadataWaves: r.image.metadataWaves,
      compressCpuMs: r.image.tablesCompressCpuMs,
      serialCpuMs: r.image.tablesSerialCpuMs,
      parallelCpuMs: r.image.tablesParallelCpuMs,
    },
    verified: r.verified,
    base: r.base,
    restoreCheck: r.restoreCheck,
    changedFiles: r.image.changedFiles,
    skipped: r.image.skipped,
    warnings: r.warnings,
  };
}
