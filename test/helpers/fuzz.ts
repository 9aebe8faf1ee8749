// Seeded mutation fuzzing: FUZZ_SEED=<n> replays a run; a failure names the seed, case and input.
import assert from 'node:assert/strict';

/** mulberry32: small, fast, and the same sequence on every platform for a seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Characters that matter to the parsers under test, plus a few odd ones.
const ALPHABET = [
  ' ',
  ' - ',
  '-',
  '\\',
  '\\0',
  '\\134',
  '\\040',
  '0',
  '7',
  '9',
  ':',
  '\\:',
  ',',
  '=',
  '/',
  '\n',
  '\r',
  '\t',
  '"',
  "'",
  '#',
  '$',
  '`',
  '(',
  'export ',
  'é',
  '\u0000',
  '::',
  '//',
];

export function mutate(text: string, next: () => number): string {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)];
  let s = text;
  const n = 1 + Math.floor(next() * 6);
  for (let i = 0; i < n; i++) {
    const at = Math.floor(next() * (s.length + 1));
    const len = Math.floor(next() * 12);
    switch (Math.floor(next() * 6)) {
      case 0:
        s = s.slice(0, at) + s.slice(at + len);
        break;
      case 1:
        s = s.slice(0, at) + pick(ALPHABET) + s.slice(at);
        break;
      case 2:
        s = s.slice(0, at) + s.slice(at, at + len).repeat(2) + s.slice(at + len);
        break;
      case 3:
        s = s.slice(0, at);
        break;
      case 4: {
        const lines = s.split('\n');
        const a = Math.floor(next() * lines.length),
          b = Math.floor(next() * lines.length);
        [lines[a], lines[b]] = [lines[b], lines[a]];
        s = lines.join('\n');
        break;
      }
      default:
        s = s.slice(0, at) + String.fromCharCode(Math.floor(next() * 0x250)) + s.slice(at + 1);
    }
  }
  return s;
}

/** Runs `check` on `count` mutations of the seeds; rethrows the first failure with the seed to replay it. */
export function fuzzCases(what: string, seeds: readonly string[], count: number, check: (input: string) => void): void {
  const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : Math.floor(Math.random() * 2 ** 31);
  const next = rng(seed);
  for (let i = 0; i < count; i++) {
    const input = mutate(seeds[i % seeds.length], next);
    try {
      check(input);
    } catch (err) {
      assert.fail(
        `${what} fuzz failed (FUZZ_SEED=${seed}, case ${i}): ${(err as Error)?.stack ?? err}\ninput: ${JSON.stringify(input)}`,
      );
    }
  }
}
