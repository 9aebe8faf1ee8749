// npm run chaos -- --iterations N [--seed S]: the long chaos run. Prints one line per failing iteration and
// a closing summary (seed, iterations, escapes, hangs, unreported torn files, refused images, planted links
// followed, unescaped lines, how many iterations had each actor, …); exits 1 when any iteration failed.
import { parseArgs } from 'node:util';
import { chaosIteration, type IterationResult } from './iteration.js';

const { values } = parseArgs({
  options: {
    iterations: { type: 'string', default: '2000' },
    seed: { type: 'string', default: '1' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  process.stdout.write(
    'usage: npm run chaos -- [--iterations N (2000)] [--seed S (1)]\nRuns as root: each iteration loop-mounts its image.\n',
  );
  process.exit(0);
}
const iterations = Number(values.iterations);
const first = Number(values.seed);

async function main(): Promise<void> {
  const total = {
    iterations: 0,
    failed: 0,
    hangs: 0,
    escapes: 0,
    tornUnreported: 0,
    refused: 0,
    falseClean: 0,
    errors: 0,
    followed: 0,
    unclean: 0,
    tornReported: 0,
    exit0: 0,
    exit3: 0,
    ops: 0,
    deep: 0,
    fuse: 0,
    planter: 0,
    ms: 0,
  };
  const t0 = Date.now();
  for (let i = 0; i < iterations; i++) {
    const r: IterationResult = await chaosIteration(first + i);
    total.iterations++;
    total.hangs += r.hang ? 1 : 0;
    for (const k of [
      'escapes',
      'tornUnreported',
      'refused',
      'falseClean',
      'errors',
      'followed',
      'unclean',
      'tornReported',
    ] as const)
      total[k] += r.counts[k];
    for (const a of ['deep', 'fuse', 'planter'] as const) total[a] += r.actors.includes(a) ? 1 : 0;
    total.exit0 += r.exitCode === 0 ? 1 : 0;
    total.exit3 += r.exitCode === 3 ? 1 : 0;
    total.ops += r.ops;
    if (r.problems.length) {
      total.failed++;
      process.stdout.write(
        `FAIL seed ${r.seed} (${r.compressor}, ${r.jobs} jobs${r.fallback ? ', no openat2' : ''}${r.control ? ', control' : ''}): ${r.problems.join(' || ')}\n`,
      );
    }
    if ((i + 1) % 50 === 0)
      process.stderr.write(
        `${i + 1}/${iterations} iterations, ${total.failed} failed, ${((Date.now() - t0) / 1000).toFixed(0)} s\n`,
      );
  }
  total.ms = Date.now() - t0;
  process.stdout.write(`chaos: first seed ${first}, ${JSON.stringify(total)}\n`);
  process.exit(total.failed ? 1 : 0);
}

void main();
