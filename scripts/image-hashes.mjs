// Byte-identity check for changes that must move no image byte (the walk, the data path, the tables): builds the same inputs with two (or more) casper-snapshot
// checkouts and prints the sha256 of every image, one column per checkout, and "DIFFERS" where they do not
// agree. Inputs: the property test's seeded random trees, a 1,000-level tree, /usr/share/doc, and (as root)
// overlays captured in diff, full (--one-file-system) and upper mode, whose inputs are made once and read by
// every checkout, so only the code differs. Needs `npm run build` in each checkout.
//   node scripts/image-hashes.mjs --cli /tmp/before/bin/casper-snapshot.js --cli bin/casper-snapshot.js [--trees 12] [--dir /usr/share/doc]
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  appendFileSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const { makeRandomTree } = await import(join(here, '..', 'dist', 'test', 'helpers', 'random-tree.js'));
const { values } = parseArgs({
  options: {
    cli: { type: 'string', multiple: true },
    trees: { type: 'string', default: '12' },
    dir: { type: 'string', multiple: true },
    depth: { type: 'string', default: '1000' },
  },
});
const clis = (values.cli ?? []).map((c) => resolve(c));
if (clis.length === 0) throw new Error('give --cli PATH at least once');
const work = mkdtempSync(join(tmpdir(), 'cs-walk-hashes-'));
const env = { ...process.env, SOURCE_DATE_EPOCH: '1700000000' };
const mounts = [];
let differing = 0;

function sh(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
}

/** One image per checkout from the same input; prints the hashes. */
function snap(name, args) {
  const hashes = clis.map((c, k) => {
    const out = join(work, `${name}.${k}.sqfs`);
    const r = spawnSync(process.execPath, [c, '-q', '--no-space-check', ...args, out], {
      encoding: 'utf8',
      env,
      maxBuffer: 1 << 26,
    });
    if (r.status !== 0 && r.status !== 3) throw new Error(`${name} (${c}): exit ${r.status}\n${r.stderr}`);
    const h = createHash('sha256').update(readFileSync(out)).digest('hex');
    rmSync(out);
    return h;
  });
  const same = hashes.every((h) => h === hashes[0]);
  if (!same) differing++;
  process.stdout.write(`${hashes.join('  ')}  ${name}${same ? '' : '  DIFFERS'}\n`);
}

function deepTree(root, depth) {
  let p = root;
  for (let i = 0; i < depth; i++) {
    p = join(p, `d${i % 10}`);
    mkdirSync(p);
    if (i % 97 === 0) writeFileSync(join(p, 'f'), `level ${i}\n`);
  }
  writeFileSync(join(p, 'bottom'), 'the bottom\n');
  return p;
}

/** An overlay over `lower` (a directory) with a directory upper on the same filesystem. */
function overlay(name, lower) {
  const base = join(work, name);
  for (const d of ['upper', 'work', 'merged']) mkdirSync(join(base, d), { recursive: true });
  sh('mount', [
    '-t',
    'overlay',
    'overlay',
    '-o',
    `lowerdir=${lower},upperdir=${base}/upper,workdir=${base}/work`,
    `${base}/merged`,
  ]);
  mounts.unshift(`${base}/merged`);
  return join(base, 'merged');
}

try {
  const comps = ['gzip', 'xz', 'lz4', 'zstd', 'lzo'];
  const trees = [];
  for (let seed = 1; seed <= Number(values.trees); seed++) {
    const root = join(work, `tree${seed}`);
    const scratch = join(work, `scratch${seed}`);
    mkdirSync(root);
    mkdirSync(scratch);
    const t = makeRandomTree(root, seed, scratch);
    trees.push(root);
    const comp = comps[seed % comps.length];
    for (const jobs of ['1', '2'])
      snap(`tree${seed}-${comp}-j${jobs}`, ['--source', root, ...t.args, '-comp', comp, '--jobs', jobs]);
  }
  const deep = join(work, 'deep');
  mkdirSync(deep);
  const bottom = deepTree(deep, Number(values.depth));
  snap(`deep${values.depth}`, ['--source', deep]);
  for (const d of values.dir ?? []) snap(`${d.replaceAll('/', '_')}`, ['--source', d]);

  // --base: a base of a tree made once (by the first checkout), then the tree changed (files grown, one
  // rewritten in place at the same size and an old mtime, one added) and every checkout's image with that
  // base, by the quick check and by the content check. The last trees: the overlays below use the first.
  for (const [k, root] of trees.slice(-3).entries()) {
    const base = join(work, `base${k}.sqfs`);
    const r = spawnSync(process.execPath, [clis[0], '-q', '--no-space-check', '--source', root, base], {
      encoding: 'utf8',
      env,
    });
    if (r.status !== 0 && r.status !== 3) throw new Error(`base${k}: exit ${r.status}\n${r.stderr}`);
    sh('sh', [
      '-c',
      `cd '${root}' && find . -type f -size +0 | LC_ALL=C sort | head -2 | while read f; do echo more >> "$f"; done; ` +
        `f=$(find . -type f -size +0 | LC_ALL=C sort | tail -1); [ -z "$f" ] || { printf X | dd of="$f" conv=notrunc status=none; touch -d @1000000000 "$f"; }; echo new > added-file`,
    ]);
    snap(`base${k}-quick`, ['--source', root, '--base', base]);
    snap(`base${k}-content`, ['--source', root, '--base', base, '--base-check', 'content', '--jobs', '2']);
    rmSync(base);
  }

  if (process.getuid?.() === 0) {
    // Diff mode over a random tree and over the deep tree: new, changed, deleted, linked entries, and
    // unchanged directories (pruned after their subtree is walked).
    for (const [k, lower] of trees.slice(0, 4).entries()) {
      const m = overlay(`ov${k}`, lower);
      mkdirSync(join(m, 'new-dir/inner'), { recursive: true });
      writeFileSync(join(m, 'new-dir/inner/file'), `session ${k}\n`);
      spawnSync('sh', [
        '-c',
        `cd '${m}' && find . -type f | sort | head -3 | while read f; do echo more >> "$f"; done; find . -mindepth 1 -maxdepth 1 | sort | tail -1 | xargs -r rm -rf`,
      ]);
      snap(`diff-tree${k + 1}`, ['--root', m, '--mode', 'diff']);
      snap(`full-tree${k + 1}`, ['--root', m, '--mode', 'full', '--one-file-system', '--no-default-excludes']);
      snap(`upper-tree${k + 1}`, ['--root', m, '--mode', 'upper']);
    }
    const m = overlay('ovdeep', deep);
    const rel = bottom.slice(deep.length);
    appendFileSync(join(m, rel, 'bottom'), 'changed\n');
    const mid = rel.split('/').slice(0, 500).join('/');
    writeFileSync(join(m, mid, 'new'), 'new at level 500\n');
    linkSync(join(m, mid, 'new'), join(m, 'd0', 'link-to-new'));
    linkSync(join(m, 'd0', 'f'), join(m, 'd0', 'f-link')); // a link to an unchanged lower file: the second walk
    unlinkSync(join(m, rel.split('/').slice(0, 99).join('/'), 'f'));
    snap('diff-deep', ['--root', m, '--mode', 'diff']);
    snap('full-deep', ['--root', m, '--mode', 'full', '--one-file-system', '--no-default-excludes']);
  } else {
    process.stdout.write('(not root: overlay cases left out)\n');
  }
} finally {
  for (const m of mounts) spawnSync('umount', ['-l', m]);
  rmSync(work, { recursive: true, force: true });
}
process.stdout.write(differing === 0 ? 'all images identical\n' : `${differing} images differ\n`);
process.exitCode = differing === 0 ? 0 : 1;
