// Image hashes for proving that a change moves no byte: snapshots of the property test's seeded random
// trees (every compressor, 1 and 2 jobs) and optionally of a real directory, with a fixed SOURCE_DATE_EPOCH,
// each printed as "sha256  name". Run before and after a change and diff the output.
//   node dist/bench/image-hashes.js [--trees N] [--dir /usr/share] [--work DIR]
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { makeRandomTree } from '../test/helpers/random-tree.js';
import { cli } from '../test/helpers/tools.js';

const { values } = parseArgs({ options: { trees: { type: 'string', default: '20' }, dir: { type: 'string', multiple: true }, work: { type: 'string' } } });
const work = values.work ?? mkdtempSync(join(tmpdir(), 'cs-hashes-'));
const env = { SOURCE_DATE_EPOCH: '1700000000' };

function snap(name: string, src: string, args: string[]): void {
  const out = join(work, `${name}.sqfs`);
  const r = cli(['-q', '--no-space-check', '--source', src, out, ...args], env);
  if (r.status !== 0 && r.status !== 3) throw new Error(`${name}: exit ${r.status}\n${r.stderr}`);
  process.stdout.write(`${createHash('sha256').update(readFileSync(out)).digest('hex')}  ${name}\n`);
  rmSync(out);
}

try {
  const comps = ['gzip', 'xz', 'lz4', 'zstd', 'lzo'];
  for (let seed = 1; seed <= Number(values.trees); seed++) {
    const root = join(work, `tree${seed}`);
    const scratch = join(work, `scratch${seed}`);
    mkdirSync(root);
    mkdirSync(scratch);
    const t = makeRandomTree(root, seed, scratch);
    const comp = comps[seed % comps.length];
    for (const jobs of ['1', '2']) snap(`tree${seed}-${comp}-j${jobs}`, root, [...t.args, '-comp', comp, '--jobs', jobs]);
    rmSync(root, { recursive: true, force: true });
    rmSync(scratch, { recursive: true, force: true });
  }
  for (const d of values.dir ?? []) for (const jobs of ['1', '2']) snap(`${d.replaceAll('/', '_')}-gzip-j${jobs}`, d, ['--jobs', jobs]);
} finally {
  if (!values.work) rmSync(work, { recursive: true, force: true });
}
