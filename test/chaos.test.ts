// The chaos test: snapshots taken while a mutator renames, swaps directories and files for symlinks to a
// decoy outside the source, rewrites, truncates, grows, deletes and replaces files with FIFOs and sockets,
// renames files to hostile names, rewrites and swaps a chain deeper than PATH_MAX, mounts another user's FUSE
// filesystem in the source, while a lock planter (nobody) works in the output's directory.
// Every run must finish (no hang), exit 0 only when nothing was reported, never hold a canary byte or a
// decoy name, mount and list, and name every torn file it stored. CASPER_CHAOS_ITERATIONS sets the count
// (default 50); `npm run chaos -- --iterations 2000` is the long form.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { needs } from './helpers/capabilities.js';
import { chaosIteration } from './chaos/iteration.js';

const iterations = Number(process.env.CASPER_CHAOS_ITERATIONS ?? 50);
const firstSeed = Number(process.env.CASPER_CHAOS_SEED ?? 1);

test(
  `chaos: ${iterations} snapshots of a tree changing under them (seeds ${firstSeed}…)`,
  { skip: needs('root', 'loop', 'squashfs-tools'), timeout: 60 * 60 * 1000 },
  async () => {
    const failures: string[] = [];
    let exit3 = 0;
    let ops = 0;
    for (let i = 0; i < iterations; i++) {
      const r = await chaosIteration(firstSeed + i);
      if (r.problems.length)
        failures.push(
          `seed ${r.seed} (${r.compressor}, ${r.jobs} jobs${r.fallback ? ', no openat2' : ''}): ${r.problems.join(' || ')}`,
        );
      exit3 += r.exitCode === 3 ? 1 : 0;
      ops += r.ops;
    }
    assert.deepEqual(failures, []);
    // The mutator must really have raced the snapshots, or the test proves nothing.
    assert.ok(ops > iterations, `only ${ops} mutations in ${iterations} iterations`);
    assert.ok(exit3 > 0, 'no run saw a change under it');
  },
);
