// The closing summary printed after a snapshot, in the spirit of mksquashfs's.
import type { SnapshotReport } from '../api/snapshot.js';

/** Bytes as "N bytes" or "1.50 MiB". */
export function size(n: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} bytes` : `${v.toFixed(2)} ${units[i]}`;
}

export function formatSummary(r: SnapshotReport): string {
  const img = r.image;
  const t = img.types;
  const secs = r.times.total / 1000;
  const ratio = r.sourceBytes > 0 ? ((img.bytesUsed / r.sourceBytes) * 100).toFixed(2) : '0.00';
  const lines = [
    `${r.output}: SquashFS 4.0, ${r.options.compressorDescription}, ${r.options.image.blockSize / 1024}K blocks`,
    `  image size     ${size(img.imageSize)} (${img.bytesUsed} bytes used, ${ratio}% of ${size(r.sourceBytes)} of file data)`,
    `  entries        ${img.inodes} inodes: ${t.files} files, ${t.directories} directories, ${t.symlinks} symlinks, ` +
      `${t.devices} devices, ${t.fifos} fifos, ${t.sockets} sockets; ${t.hardlinks} extra hard links`,
    `  data           ${img.dataBlocks} blocks (${img.sparseBlocks} sparse), ${img.fragments} fragment blocks, ` +
      `${img.duplicates} duplicate files (${size(img.duplicateBytes)})`,
    `  ids            ${img.ids}; xattr sets ${img.xattrIds}`,
    `  time           ${secs.toFixed(2)} s (walk ${r.walk.besideData ? `${(r.walk.wallMs / 1000).toFixed(2)} beside the data` : (r.times.walk / 1000).toFixed(2)}, data ${(r.times.data / 1000).toFixed(2)}, ` +
      `tables ${(r.times.tables / 1000).toFixed(2)}${r.verified ? `, verify ${(r.times.verify / 1000).toFixed(2)}` : ''}), ${(r.sourceBytes / 1048576 / Math.max(secs, 1e-3)).toFixed(1)} MiB/s, ${r.options.jobs} jobs`,
  ];
  if (r.base?.used)
    lines.push(
      `  base           ${r.base.path}: ${r.base.files} unchanged files (${size(r.base.bytes)}) copied, ${r.base.copiedFragments} fragment blocks whole, ` +
        `${r.base.repackedTails} tails repacked; ` +
        (r.base.compared
          ? `${r.base.compared} files (${size(r.base.comparedBytes)}) compared with it`
          : `${r.base.racy + r.base.clamped} read again (modified too close to the base's creation, or an mtime stored clamped)`) +
        (r.base.rejected ? `; ${r.base.rejected} whose data in it did not check out read again` : ''),
    );
  if (r.verified)
    lines.push(
      `  verified       ${r.verified.files} files (${size(r.verified.bytes)}) read back from the image match what was read, in ${(r.verified.ms / 1000).toFixed(2)} s`,
    );
  const rc = r.restoreCheck;
  if (rc?.skipped) lines.push(`  restore proof  skipped: ${rc.skipped}`);
  else if (rc)
    lines.push(
      `  restore proof  the image over ${rc.layers.length} lower layer(s) ${rc.differences.length === 0 ? 'gives the live view back' : `differs from the live view in ${rc.differences.length} place(s)`}: ` +
        `${rc.entries} entries compared${rc.mountPoints.length ? `, ${rc.mountPoints.length} mount point(s) left out` : ''}, in ${(rc.ms / 1000).toFixed(2)} s`,
    );
  return lines.join('\n');
}
