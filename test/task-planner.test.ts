// The TaskPlanner in memory (native/image/task_planner.cc through the addon's test-only binding): how the walked
// files' data is cut into read tasks. No files, root or mounts: part of the unit tier (npm run test:unit).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from './helpers/random-tree.js';
import { nativeTesting, type PlannedTask, type TestFile, type TestImageOptions } from './helpers/native-testing.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const { planTasks } = nativeTesting();

function hasData(f: TestFile): boolean {
  return !f.dir && f.hardlinkOf === undefined && !f.fromBase && (f.size ?? 0) > 0;
}

function tailInFragment(o: TestImageOptions, size: number): boolean {
  const mode = o.fragments ?? 'default';
  return mode !== 'none' && size % o.blockSize !== 0 && (mode === 'always' || size < o.blockSize);
}

/** Every rule of the plan, checked on one plan; `what` names the case in failures. */
function checkPlan(what: string, o: TestImageOptions, files: TestFile[], taskBytes: number, plan: PlannedTask[]): void {
  const bs = o.blockSize;
  const maxSeg = Math.max(bs, Math.floor(taskBytes / bs) * bs);
  // Tasks are numbered 0, 1, 2, … and report the bytes they cover.
  plan.forEach((t, i) => {
    assert.equal(t.seq, i, `${what}: seq`);
    assert.ok(
      t.segments.length > 0 && t.segments.length <= 4096,
      `${what}: task ${i} has ${t.segments.length} segments`,
    );
    assert.equal(
      t.bytes,
      t.segments.reduce((n, s) => n + s.length, 0),
      `${what}: task ${i} bytes`,
    );
    assert.equal(t.startsFile, t.segments[0].offset === 0, `${what}: task ${i} startsFile`);
  });
  // The segments, in plan order, cover each file with data exactly once, whole, in entry order.
  const segs = plan.flatMap((t) => t.segments);
  const want = files.map((f, i) => ({ f, i })).filter(({ f }) => hasData(f));
  let k = 0;
  for (const { f, i } of want) {
    const size = f.size!;
    const sparse = (f.diskBytes ?? Math.ceil(size / 4096) * 4096) < size;
    let offset = 0;
    while (offset < size) {
      const s = segs[k++];
      assert.ok(s, `${what}: file ${i} covered only up to ${offset} of ${size}`);
      assert.deepEqual([s.file, s.offset], [i, offset], `${what}: segment ${k - 1}`);
      assert.ok(s.length > 0, `${what}: empty segment`);
      assert.equal(s.last, offset + s.length === size, `${what}: file ${i} last`);
      if (!s.last)
        assert.equal(s.length % bs, 0, `${what}: file ${i}: a segment that does not end the file holds whole blocks`);
      assert.equal(s.tailFragment, tailInFragment(o, size), `${what}: file ${i} tailFragment`);
      assert.equal(s.maybeSparse, sparse, `${what}: file ${i} maybeSparse`);
      assert.equal(s.rel, `f${String(i).padStart(6, '0')}`, `${what}: rel`);
      if (!sparse)
        assert.ok(s.length <= maxSeg, `${what}: file ${i}: a ${s.length}-byte segment over the ${maxSeg}-byte cap`);
      offset += s.length;
    }
  }
  assert.equal(k, segs.length, `${what}: segments beyond the files with data`);
  // A task takes no more than taskBytes unless it is one segment (a large file's share of whole blocks).
  for (const t of plan)
    if (t.segments.length > 1)
      assert.ok(t.bytes <= taskBytes, `${what}: task ${t.seq}: ${t.bytes} bytes over ${taskBytes}`);
}

test('planner: a small tree cut by hand', () => {
  const o = { blockSize: 4 * KiB };
  const plan = planTasks(
    o,
    [
      { size: 10_000 },
      { size: 0 },
      { size: 5000 },
      { dir: true },
      { size: 300, hardlinkOf: 0 },
      { size: 4096, fromBase: true },
      { size: 1 },
    ],
    8 * KiB,
  );
  const cut = plan.map((t) => [
    t.seq,
    t.startsFile,
    t.segments.map((s) => `${s.file}@${s.offset}+${s.length}${s.last ? '.' : ''}`).join(' '),
  ]);
  assert.deepEqual(cut, [
    [0, true, '0@0+8192'],
    [1, false, '0@8192+1808. 2@0+5000. 6@0+1.'],
  ]);
  assert.deepEqual(
    plan[1].segments.map((s) => s.tailFragment),
    [false, false, true],
    'default fragments: only files smaller than a block',
  );
});

test('planner: the plan rules hold on random trees, block sizes, task sizes and fragment modes', () => {
  for (let seed = 1; seed <= 300; seed++) {
    const rng = new Rng(seed);
    const o: TestImageOptions = {
      blockSize: rng.pick([4, 8, 64, 128, 1024]) * KiB,
      fragments: rng.pick(['default', 'none', 'always'] as const),
    };
    const bs = o.blockSize;
    const taskBytes = rng.pick([1, 4 * KiB, 100 * KiB, 2 * MiB, 2 * MiB + 1, 9 * MiB]);
    // Large files up to ~64 tasks each: enough to split them, few enough to keep the test fast.
    const large = Math.min(12 * MiB, 64 * Math.max(bs, taskBytes));
    const files: TestFile[] = [];
    for (let i = rng.int(0, 60); i > 0; i--) {
      const r = rng.next();
      const size =
        r < 0.1
          ? 0
          : r < 0.4
            ? rng.int(1, bs * 2)
            : r < 0.7
              ? rng.int(1, 8) * bs + rng.pick([-1, 0, 1])
              : rng.int(1, large);
      const f: TestFile = { size: Math.max(0, size) };
      const kind = rng.next();
      if (kind < 0.05) f.dir = true;
      else if (kind < 0.1 && files.length) f.hardlinkOf = rng.int(0, files.length - 1);
      else if (kind < 0.15) f.fromBase = true;
      else if (kind < 0.25 && f.size! > 0) f.diskBytes = rng.int(0, f.size!); // holes
      files.push(f);
    }
    const what = `seed ${seed} (bs ${bs}, task ${taskBytes}, fragments ${o.fragments})`;
    const plan = planTasks(o, files, taskBytes);
    checkPlan(what, o, files, taskBytes, plan);
    assert.deepEqual(planTasks(o, files, taskBytes), plan, `${what}: the same walk gives the same plan`);
    // The walk overlapped with the data phase: the same files published a directory at a time, the planner
    // drawing all it can before each next one, give the same plan (it waits rather than cut a task short).
    for (let k = 0; k < 3; k++) {
      const chunks: number[] = [];
      for (let n = files.length; n > 0; ) {
        const c = rng.pick([0, 1, 1, 2, 5, 17]);
        chunks.push(c);
        n -= c;
      }
      assert.deepEqual(planTasks(o, files, taskBytes, chunks), plan, `${what}: published in chunks ${chunks}`);
    }
  }
});

test('planner: a sparse file is cut by its allocated bytes, up to 1 GiB of length per segment', () => {
  const o = { blockSize: 128 * KiB };
  // 1 TiB with one allocated block: 1 GiB segments, one per task (a plan by length would be half a million tasks).
  const huge = planTasks(o, [{ size: 2 ** 40, diskBytes: 4096 }], 2 * MiB);
  assert.equal(huge.length, 1024);
  assert.ok(
    huge.every((t) => t.segments.length === 1 && t.segments[0].length === 2 ** 30 && t.segments[0].maybeSparse),
  );
  // Half allocated: each segment covers about twice the task size of length.
  const half = planTasks(o, [{ size: 64 * MiB, diskBytes: 32 * MiB }], 2 * MiB);
  assert.deepEqual(
    half.map((t) => t.segments[0].length),
    Array(16).fill(4 * MiB),
  );
  checkPlan('sparse', o, [{ size: 64 * MiB, diskBytes: 32 * MiB }], 2 * MiB, half);
});

test('planner: at most 4096 segments per task, whatever the task size', () => {
  const files: TestFile[] = Array.from({ length: 10_000 }, () => ({ size: 1 }));
  const plan = planTasks({ blockSize: 128 * KiB }, files, 1 << 30);
  assert.deepEqual(
    plan.map((t) => t.segments.length),
    [4096, 4096, 1808],
  );
  assert.ok(plan.every((t) => t.startsFile));
});

test('planner: nothing to read is an empty plan', () => {
  assert.deepEqual(planTasks({ blockSize: 4096 }, [], 2 * MiB), []);
  assert.deepEqual(planTasks({ blockSize: 4096 }, [], 2 * MiB, [0, 0]), [], 'through a feed that gives nothing');
  assert.deepEqual(
    planTasks({ blockSize: 4096 }, [{ size: 0 }, { dir: true }, { size: 9, fromBase: true }], 2 * MiB),
    [],
  );
});
