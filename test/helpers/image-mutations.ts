// Mutations of SquashFS images for fuzz tests of everything that reads an image (verify, --base).

const TABLE_FIELDS = [48, 56, 64, 72, 80, 88];

/** One random mutation of an image: bit flips, a truncation, swapped or moved table offsets, overwritten bytes. */
export function mutateImage(base: Buffer, next: () => number): { data: Buffer; what: string } {
  const b = Buffer.from(base);
  const int = (n: number) => Math.floor(next() * n);
  const at = () =>
    next() < 0.3 ? int(96) : next() < 0.6 ? b.length - 1 - int(Math.min(b.length, 4096)) : int(b.length);
  switch (int(6)) {
    case 0: {
      const n = 1 + int(8);
      for (let i = 0; i < n; i++) {
        const p = at();
        b[p] ^= 1 << int(8);
      }
      return { data: b, what: `${n} bit flips` };
    }
    case 1: {
      const len = int(b.length);
      return { data: b.subarray(0, len), what: `truncated to ${len}` };
    }
    case 2: {
      const x = TABLE_FIELDS[int(6)],
        y = TABLE_FIELDS[int(6)];
      const vx = b.readBigUInt64LE(x);
      b.writeBigUInt64LE(b.readBigUInt64LE(y), x);
      b.writeBigUInt64LE(vx, y);
      return { data: b, what: `table offsets at ${x} and ${y} swapped` };
    }
    case 3: {
      const p = at();
      const v = [0, 0xff, 0x7f, 0x80][int(4)];
      const n = 1 + int(16);
      b.fill(v, p, Math.min(b.length, p + n));
      return { data: b, what: `${n} bytes at ${p} set to ${v}` };
    }
    case 4: {
      // A table offset moved by a little: misaligned reads of every table.
      const f = TABLE_FIELDS[int(6)];
      const v = b.readBigUInt64LE(f);
      if (v !== 0xffffffffffffffffn) b.writeBigUInt64LE(BigInt.asUintN(64, v + BigInt(int(64) - 32)), f);
      return { data: b, what: `table at ${f} moved` };
    }
    default: {
      // Bytes inside the metadata tables (the last part of the image), flipped in a run.
      const p = Math.max(96, b.length - 1 - int(Math.min(b.length - 96, 16384)));
      for (let i = 0; i < 4; i++) if (p + i < b.length) b[p + i] = int(256);
      return { data: b, what: `4 random bytes at ${p}` };
    }
  }
}
