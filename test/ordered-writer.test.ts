// The OrderedWriter in memory (native/image/ordered_writer.cc over a DataWriter writing to a memfd, through the
// addon's test-only binding): results and compressed fragment blocks arriving in any order give the same data
// section byte for byte, fragment blocks land where the plan alone says, and call-order faults are errors.
// No files, root or mounts: part of the unit tier (npm run test:unit).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from './helpers/random-tree.js';
import { bytes } from './helpers/make-tree.js';
import {
  nativeTesting,
  STORED_RAW,
  type ClosedFragment,
  type DataSection,
  type OrderedWriterHarness,
  type PlannedTask,
  type TestFile,
  type TestImageOptions,
  type TestResult,
} from './helpers/native-testing.js';

const KiB = 1024;
const native = nativeTesting();
const LAG = native.kFragmentLag;

interface Case {
  what: string;
  o: TestImageOptions;
  files: TestFile[];
  contents: Buffer[];
  plan: PlannedTask[];
  results: TestResult[];
}

/** Results as the block reader would return them for this plan, from the files' contents. */
function resultsOf(plan: PlannedTask[], contents: Buffer[]): TestResult[] {
  return plan.map((t) => ({
    seq: t.seq,
    startsFile: t.startsFile,
    segments: t.segments.map((s) => ({
      file: s.file,
      offset: s.offset,
      length: s.length,
      last: s.last,
      data: contents[s.file].subarray(s.offset, s.offset + s.length),
    })),
  }));
}

/**
 * A random tree of small files: tails for fragment blocks, files split over tasks, all-zero blocks (stored as
 * sparse words) and, unless minBlocks is set, duplicates of earlier files.
 */
function randomCase(
  seed: number,
  opts: { fragments?: TestImageOptions['fragments']; dedup?: boolean; minBlocks?: number } = {},
): Case {
  const rng = new Rng(seed);
  const o: TestImageOptions = {
    blockSize: rng.pick([4, 8]) * KiB,
    fragments: opts.fragments ?? rng.pick(['default', 'always'] as const),
    dedup: opts.dedup ?? true,
  };
  const bs = o.blockSize;
  const files: TestFile[] = [];
  const contents: Buffer[] = [];
  for (let i = rng.int(20, 80); i > 0; i--) {
    const r = rng.next();
    let c: Buffer;
    if (opts.minBlocks === undefined && contents.length && r < 0.15)
      c = Buffer.from(rng.pick(contents)); // a duplicate
    else {
      const blocks = rng.int(opts.minBlocks ?? 0, 4);
      c = bytes(blocks * bs + rng.int(opts.minBlocks ? 1 : 0, bs - 1), seed * 1000 + i, rng.pick([4, 256]));
      if (blocks > 1 && rng.chance(0.3)) c.fill(0, bs, 2 * bs); // an all-zero block
    }
    files.push({ size: c.length });
    contents.push(c);
  }
  const taskBytes = rng.pick([1, bs, 3 * bs, 10 * bs]);
  const plan = native.planTasks(o, files, taskBytes);
  return {
    what: `seed ${seed} (bs ${bs}, fragments ${o.fragments}, dedup ${o.dedup}, task ${taskBytes}, ${plan.length} tasks)`,
    o,
    files,
    contents,
    plan,
    results: resultsOf(plan, contents),
  };
}

/** Stores a closed fragment block raw, as the pool does when compression does not pay. */
function storeRaw(w: OrderedWriterHarness, f: ClosedFragment): ClosedFragment[] {
  return w.addFragment(f.index, f.raw.length | STORED_RAW, f.raw);
}

/** Compresses (stores raw) every given fragment block and those that close meanwhile. */
function drain(w: OrderedWriterHarness, closed: ClosedFragment[]): void {
  while (closed.length) closed.push(...storeRaw(w, closed.shift()!));
}

/** Results in plan order, each fragment block compressed as soon as it closes. closedAt[k]: the task that closed fragment k. */
function inOrder(c: Case): { section: DataSection; closedAt: number[] } {
  const w = new native.OrderedWriterHarness(c.o, c.files);
  const closedAt: number[] = [];
  for (const r of c.results) {
    const closed = w.addResult(r);
    for (const f of closed) closedAt[f.index] = r.seq;
    drain(w, closed);
  }
  const last = w.end(c.plan.length);
  for (const f of last) closedAt[f.index] = c.plan.length;
  drain(w, last);
  assert.deepEqual(w.state(), { tasksWritten: c.plan.length, done: true }, c.what);
  return { section: w.section(), closedAt };
}

/** Results in a random order, fragment blocks compressed at random later moments, end() at a random point. */
function shuffled(c: Case, seed: number): DataSection {
  const rng = new Rng(seed);
  const w = new native.OrderedWriterHarness(c.o, c.files);
  const todo = [...c.results];
  for (let i = todo.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [todo[i], todo[j]] = [todo[j], todo[i]];
  }
  const waiting: ClosedFragment[] = [];
  const endAt = rng.int(0, todo.length);
  let ended = false;
  let given = 0;
  while (todo.length || waiting.length || !ended) {
    if (!ended && given >= endAt) {
      waiting.push(...w.end(c.plan.length));
      ended = true;
    } else if (todo.length && (!waiting.length || rng.chance(0.6))) {
      waiting.push(...w.addResult(todo.pop()!));
      given++;
    } else if (waiting.length) {
      const [f] = waiting.splice(rng.int(0, waiting.length - 1), 1);
      waiting.push(...storeRaw(w, f));
    }
  }
  assert.deepEqual(w.state(), { tasksWritten: c.plan.length, done: true }, `${c.what}, order seed ${seed}`);
  return w.section();
}

/** Each file's bytes read back from the data section: raw blocks, sparse words as zeros, the fragment tail. */
function readBack(c: Case, s: DataSection): void {
  const bs = c.o.blockSize;
  c.contents.forEach((want, i) => {
    const d = s.files[i];
    const parts: Buffer[] = [];
    let pos = d.blocksStart;
    for (let b = 0; b < d.nblocks; b++) {
      const word = s.words[d.firstWord + b];
      const len = Math.min(bs, want.length - b * bs);
      if (word === 0) parts.push(Buffer.alloc(len));
      else {
        assert.ok(word & STORED_RAW, 'the harness stores blocks raw');
        parts.push(s.bytes.subarray(pos, pos + (word & 0xffffff)));
        pos += word & 0xffffff;
      }
    }
    if (d.fragment >= 0) {
      const f = s.fragments[d.fragment];
      const tail = want.length - d.nblocks * bs;
      parts.push(s.bytes.subarray(f.start + d.fragmentOffset, f.start + d.fragmentOffset + tail));
    }
    assert.ok(Buffer.concat(parts).equals(want), `${c.what}: file ${i} (${want.length} bytes) reads back other bytes`);
  });
}

test('ordered writer: in plan order, every file reads back from the data section', () => {
  for (let seed = 1; seed <= 40; seed++) {
    const c = randomCase(seed);
    const { section } = inOrder(c);
    readBack(c, section);
    // Fragment blocks are written in index order.
    for (let k = 1; k < section.fragments.length; k++)
      assert.ok(section.fragments[k].start > section.fragments[k - 1].start, `${c.what}: fragment ${k}`);
  }
});

test('ordered writer: any arrival order of results and compressed fragments gives the same data section', () => {
  for (let seed = 1; seed <= 40; seed++) {
    const c = randomCase(seed);
    const ref = inOrder(c).section;
    for (let order = 1; order <= 5; order++)
      assert.deepEqual(shuffled(c, seed * 100 + order), ref, `${c.what}: arrival order ${order}`);
  }
});

test('ordered writer: results from several threads at once give the same data section', () => {
  for (let seed = 1; seed <= 20; seed++) {
    const c = randomCase(seed);
    const ref = inOrder(c).section;
    for (const [threads, results] of [
      [4, c.results],
      [3, [...c.results].reverse()],
    ] as const) {
      const w = new native.OrderedWriterHarness(c.o, c.files);
      w.addAllThreaded([...results], threads);
      drain(w, w.end(c.plan.length));
      assert.deepEqual(w.state(), { tasksWritten: c.plan.length, done: true }, c.what);
      assert.deepEqual(w.section(), ref, `${c.what}: ${threads} threads`);
    }
  }
});

test(`ordered writer: a fragment block closed during task s goes just before the first file-starting task at or after s + ${LAG}`, () => {
  let checked = 0;
  for (let seed = 1; seed <= 30; seed++) {
    // Every file has a block of its own, so each task's place in the section shows; no duplicates share blocks.
    const c = randomCase(seed, { fragments: 'always', dedup: false, minBlocks: 1 });
    const { section: s, closedAt } = inOrder(c);
    const bs = c.o.blockSize;
    const stored = (i: number) =>
      s.files[i].nblocks &&
      s.words
        .slice(s.files[i].firstWord, s.files[i].firstWord + s.files[i].nblocks)
        .reduce((n, w) => n + (w & 0xffffff), 0);
    // Where task t's first file's blocks begin, and where the blocks of every file begun before task t end.
    const startOf = (t: number) => s.files[c.plan[t].segments[0].file].blocksStart;
    const endBefore = (t: number) => {
      let end = 0;
      for (const task of c.plan.slice(0, t))
        for (const seg of task.segments)
          if (seg.offset === 0) end = Math.max(end, s.files[seg.file].blocksStart + stored(seg.file));
      return end;
    };
    assert.ok(
      c.files.every((f) => f.size! > bs),
      'every file has a block',
    );
    closedAt.forEach((closed, k) => {
      const due = c.plan.find((t) => t.seq >= closed + LAG && t.startsFile)?.seq ?? c.plan.length;
      const at = s.fragments[k].start;
      assert.ok(
        at >= endBefore(due),
        `${c.what}: fragment ${k} (closed in task ${closed}) at ${at}, inside the data of tasks before ${due}`,
      );
      if (due < c.plan.length)
        assert.ok(
          at < startOf(due),
          `${c.what}: fragment ${k} (closed in task ${closed}) at ${at}, not before task ${due} at ${startOf(due)}`,
        );
      checked++;
    });
  }
  assert.ok(checked > 300, `only ${checked} fragment blocks placed`);
});

test('ordered writer: a file-starting task waits for the fragment blocks due before it', () => {
  const c = randomCase(7, { fragments: 'always', dedup: false, minBlocks: 1 });
  const ref = inOrder(c);
  const w = new native.OrderedWriterHarness(c.o, c.files);
  const waiting: ClosedFragment[] = [];
  for (const r of c.results) waiting.push(...w.addResult(r));
  // Nothing compressed yet: the writer stops at the first task the first closed fragment block is due before.
  const firstDue = c.plan.find((t) => t.seq >= ref.closedAt[0] + LAG && t.startsFile)!.seq;
  assert.equal(w.state().tasksWritten, firstDue, c.what);
  // Compressed in index order, each block lets the writer on until the next one is due.
  waiting.push(...w.end(c.plan.length));
  while (waiting.length) {
    const before = w.state().tasksWritten;
    waiting.push(...storeRaw(w, waiting.shift()!));
    assert.ok(w.state().tasksWritten >= before);
  }
  assert.deepEqual(w.state(), { tasksWritten: c.plan.length, done: true });
  assert.deepEqual(w.section(), ref.section);
});

test('ordered writer: a result before its turn is held until the ones before it come', () => {
  const c = randomCase(3);
  assert.ok(c.plan.length >= 3, c.what);
  const w = new native.OrderedWriterHarness(c.o, c.files);
  const waiting: ClosedFragment[] = [];
  waiting.push(...w.addResult(c.results[2]));
  waiting.push(...w.addResult(c.results[1]));
  assert.equal(w.state().tasksWritten, 0);
  waiting.push(...w.addResult(c.results[0]));
  assert.equal(w.state().tasksWritten, 3, `no fragment block can be due before task ${LAG}`);
  assert.equal(w.state().done, false);
});

test('ordered writer: call-order faults are errors, not a corrupt section', () => {
  const c = randomCase(5);
  const fault = (fn: () => unknown, message: RegExp) =>
    assert.throws(fn, (e: unknown) => {
      assert.match((e as Error).message, message);
      assert.equal((e as { code?: unknown }).code, 'EINTERNAL_ORDER', 'a call-order fault is a bug, not a bad option');
      return true;
    });
  let w = new native.OrderedWriterHarness(c.o, c.files);
  drain(w, w.addResult(c.results[0]));
  fault(() => w.addResult(c.results[0]), /result 0 given twice or beyond the plan/);
  drain(w, w.addResult(c.results[2]));
  fault(() => w.addResult(c.results[2]), /result 2 given twice or beyond the plan/);
  fault(() => w.addFragment(999, 1 | STORED_RAW, Buffer.alloc(1)), /fragment 999 was not waiting/);
  fault(() => w.end(2), /results beyond the 2 planned tasks/);
  fault(() => w.end(0), /results beyond the 0 planned tasks/);
  w.end(c.plan.length);
  fault(() => w.end(c.plan.length), /the data phase ended twice/);
  w = new native.OrderedWriterHarness(c.o, c.files);
  w.end(1);
  fault(() => w.addResult(c.results[1]), /result 1 given twice or beyond the plan/);
  // A fragment block compressed twice.
  w = new native.OrderedWriterHarness({ ...c.o, fragments: 'always' }, c.files);
  const plan = native.planTasks({ ...c.o, fragments: 'always' }, c.files, 1);
  const closed: ClosedFragment[] = [];
  for (const r of resultsOf(plan, c.contents)) closed.push(...w.addResult(r));
  assert.ok(closed.length > 0, 'a fragment block closed');
  storeRaw(w, closed[0]);
  fault(() => storeRaw(w, closed[0]), new RegExp(`fragment ${closed[0].index} was not waiting`));
});

test('ordered writer: a file that vanishes after its first blocks were written is taken back and left out', () => {
  const bs = 4 * KiB;
  const contents = [bytes(3 * bs, 1), bytes(5 * bs + 100, 2), bytes(2 * bs, 3)];
  const files = contents.map((b) => ({ size: b.length }));
  const o = { blockSize: bs };
  const plan = native.planTasks(o, files, bs); // one block per task: file 1 spans five tasks
  const results = resultsOf(plan, contents);
  const third = results.find((r) => r.segments.some((s) => s.file === 1 && s.offset === 2 * bs))!;
  third.segments = third.segments.map((s) =>
    s.file === 1 ? { file: 1, offset: s.offset, length: s.length, last: s.last, status: 'failed', error: 2 } : s,
  );
  const w = new native.OrderedWriterHarness(o, files);
  for (const r of results) drain(w, w.addResult(r));
  drain(w, w.end(plan.length));
  const s = w.section();
  assert.deepEqual(s.skipped, ['/nonexistent-test-tree/f000001 ENOENT']);
  assert.equal(s.files[1].skipped, true);
  assert.equal(s.files[2].blocksStart, 3 * bs, "file 2's blocks are written where file 1's were taken back");
  assert.equal(s.bytes.length, 5 * bs);
  assert.ok(s.bytes.subarray(3 * bs).equals(contents[2]));
});

// Each step's writes are made after the writer's lock is released, so from several threads a rewind (a file
// dropped in a later task, a duplicate's blocks taken back) can meet an earlier step's write still in flight
// in its range; the section must still be the one written in plan order.
test('ordered writer: drops and duplicates from several threads at once give the in-order data section', () => {
  let drops = 0;
  for (let seed = 1; seed <= 12; seed++) {
    const c = randomCase(seed, { dedup: true });
    const rng = new Rng(seed * 7);
    // Drop the files whose data spans several tasks from a middle segment on (vanished while being read).
    const spanning = new Set(c.results.flatMap((r) => r.segments.filter((s) => s.offset > 0).map((s) => s.file)));
    const dropped = new Set([...spanning].filter(() => rng.chance(0.5)));
    const results = c.results.map((r) => ({
      ...r,
      segments: r.segments.map((s) =>
        dropped.has(s.file) && s.offset > 0
          ? { file: s.file, offset: s.offset, length: s.length, last: s.last, status: 'failed' as const, error: 2 }
          : s,
      ),
    }));
    const ref = new native.OrderedWriterHarness(c.o, c.files);
    for (const r of results) drain(ref, ref.addResult(r));
    drain(ref, ref.end(c.plan.length));
    const want = ref.section();
    drops += want.skipped.length;
    for (const threads of [2, 4, 8]) {
      for (let round = 0; round < 3; round++) {
        const w = new native.OrderedWriterHarness(c.o, c.files);
        w.addAllThreaded(
          results.map((r) => ({ ...r })),
          threads,
        );
        drain(w, w.end(c.plan.length));
        assert.deepEqual(w.section(), want, `${c.what}: ${dropped.size} dropped, ${threads} threads, round ${round}`);
      }
    }
  }
  assert.ok(drops > 0, 'some files were dropped');
});
