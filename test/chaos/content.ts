// Self-verifying file contents for the chaos test: every byte is a function of (id, version, offset), and a
// 24-byte header names id, version and length, so a copy torn between two versions, cut short or padded
// with zeros is recognisable without knowing what the file held when it was read.
export const MAGIC = 'CSCHAOS1';
export const HEADER = 24;
/** Set in the header's version while a file is being rewritten in place: its body is not yet consistent. */
export const DIRTY = 0x80000000;
/** In every decoy file outside the source: it must never appear in an image. */
export const CANARY = Buffer.from('!!CANARY-OUTSIDE-THE-SOURCE!!');

function mix(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

export function header(id: number, version: number, length: number): Buffer {
  const h = Buffer.alloc(HEADER);
  h.write(MAGIC, 0, 'latin1');
  h.writeUInt32LE(id >>> 0, 8);
  h.writeUInt32LE(version >>> 0, 12);
  h.writeBigUInt64LE(BigInt(length), 16);
  return h;
}

/** Bytes [from, to) of version `version` of file `id` (from ≥ HEADER, multiples of 4 except at the end). */
export function body(id: number, version: number, from: number, to: number): Buffer {
  const b = Buffer.alloc(to - from);
  const seed = mix(id * 0x9e3779b1) ^ mix(version + 0x632be5ab);
  for (let k = from; k < to; k += 4) {
    const w = mix(seed ^ (k >>> 2));
    for (let j = 0; j < 4 && k + j < to; j++) b[k + j - from] = (w >>> (8 * j)) & 0xff;
  }
  return b;
}

export function content(id: number, version: number, length: number): Buffer {
  if (length < HEADER) throw new Error('chaos files are at least a header long');
  return Buffer.concat([header(id, version, length), body(id, version, HEADER, length)]);
}

export type Verdict =
  | { kind: 'consistent'; id: number; version: number }
  | { kind: 'in-progress' }
  | { kind: 'torn'; why: string };

/** Whether bytes are one whole version of a chaos file. */
export function verify(b: Buffer): Verdict {
  // Captured between its creation and its first write (the walk saw it empty and stored it so): a real state.
  if (b.length === 0) return { kind: 'in-progress' };
  if (b.length < HEADER || b.toString('latin1', 0, 8) !== MAGIC) return { kind: 'torn', why: 'no header' };
  const id = b.readUInt32LE(8);
  const version = b.readUInt32LE(12);
  if (version & DIRTY) return { kind: 'in-progress' };
  const length = Number(b.readBigUInt64LE(16));
  if (length !== b.length) return { kind: 'torn', why: `header says ${length} bytes, ${b.length} stored` };
  if (!body(id, version, HEADER, length).equals(b.subarray(HEADER)))
    return { kind: 'torn', why: `body is not version ${version}` };
  return { kind: 'consistent', id, version };
}
