// The compressor and block size of the image a remaster replaces, from its superblock (SquashFS 4.0:
// magic "hsqs", block_size at byte 12, compression id at byte 20): the new image uses the same by default, so
// the medium's kernel reads it as it read the old one.
export const SUPERBLOCK_BYTES = 96;

const NAMES: Record<number, string> = { 1: 'gzip', 2: 'lzma', 3: 'lzo', 4: 'xz', 5: 'lz4', 6: 'zstd' };

export interface SquashfsCodec {
  compressor: string;
  blockSize: number;
}

/** The codec of a SquashFS 4.0 superblock, or null when the bytes are not one. */
export function squashfsCodec(head: Buffer): SquashfsCodec | null {
  if (head.length < SUPERBLOCK_BYTES || head.toString('latin1', 0, 4) !== 'hsqs' || head.readUInt16LE(28) !== 4)
    return null;
  const compressor = NAMES[head.readUInt16LE(20)];
  return compressor ? { compressor, blockSize: head.readUInt32LE(12) } : null;
}
