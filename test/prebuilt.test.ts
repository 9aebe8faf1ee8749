// The addon as shipped: built in a Debian bullseye root (scripts/build-prebuilt.sh), it must need nothing but
// glibc ≤ 2.31 (no codec or C++ runtime .so), and the packed tarball must work installed with --ignore-scripts
// from both import and require.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './helpers/image-check.js';
import { has, must, repoRoot, run } from './helpers/tools.js';
import { file, bytes } from './helpers/make-tree.js';
import { describeTree, diffTrees } from './helpers/tree-compare.js';

/** Libraries a prebuilt may need: every glibc system has them. */
const ALLOWED = /^(libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|ld-linux-x86-64\.so\.2)$/;

export function neededLibraries(path: string): string[] {
  return [...must('readelf', ['-d', path]).matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
}

/** The highest GLIBC_x.y version among the symbols the file imports, as [major, minor]. */
export function highestGlibc(path: string): [number, number] {
  const versions = [...must('objdump', ['-T', path]).matchAll(/GLIBC_(\d+)\.(\d+)/g)].map(
    (m) => [Number(m[1]), Number(m[2])] as [number, number],
  );
  assert.ok(versions.length > 0, 'no GLIBC symbol versions found');
  return versions.reduce((a, b) => (b[0] > a[0] || (b[0] === a[0] && b[1] > a[1]) ? b : a));
}

export function checkPortable(path: string): void {
  const needed = neededLibraries(path);
  assert.ok(needed.includes('libc.so.6'), `readelf found no NEEDED entries in ${path}`);
  assert.deepEqual(
    needed.filter((l) => !ALLOWED.test(l)),
    [],
    `${path} needs libraries beyond glibc`,
  );
  const [maj, min] = highestGlibc(path);
  assert.ok(maj === 2 && min <= 31, `${path} needs GLIBC_${maj}.${min} (at most 2.31 wanted)`);
  assert.doesNotMatch(must('objdump', ['-T', path]), /GLIBCXX_|CXXABI_/, 'links libstdc++ dynamically');
}

/** Why scripts/build-prebuilt.sh cannot run here (exit 3: no root, debootstrap or mirror), or false. */
function prebuiltSkip(): string | false {
  if (process.env.CASPER_SANITIZE)
    return 'packaging builds and tests its own addon: not run again under scripts/sanitize.sh';
  if (process.arch !== 'x64') return 'the prebuilt is built for linux-x64 only';
  if (process.getuid?.() !== 0) return 'needs root (debootstrap, chroot)';
  if (!has('debootstrap')) return 'debootstrap is not installed (scripts/install-system-deps.sh installs it)';
  if (!has('readelf') || !has('objdump')) return 'binutils (readelf, objdump) not installed';
  return false;
}

function buildPrebuilt(out: string): { skip: string } | { stderr: string } {
  const r = run('bash', [join(repoRoot, 'scripts', 'build-prebuilt.sh'), out]);
  if (r.status === 3) return { skip: r.stderr.trim() };
  if (r.status !== 0) throw new Error(`build-prebuilt.sh failed (${r.status}):\n${r.stderr.slice(-3000)}`);
  return { stderr: r.stderr };
}

test(
  "the prebuilt addon needs only glibc (at most 2.31), has the source build's codecs, and is built once",
  { skip: prebuiltSkip() },
  (t) => {
    const dir = tempDir('cs-prebuilt-');
    const out = join(dir, 'casper_snapshot.node');
    const built = buildPrebuilt(out);
    if ('skip' in built) return t.skip(built.skip);
    assert.doesNotMatch(built.stderr, /warning/i, 'the build printed warnings');
    checkPortable(out);
    // Built again with nothing changed: the cached result (npm run package, then npm pack, build it once).
    const again = buildPrebuilt(join(dir, 'again.node'));
    assert.ok('stderr' in again && /inputs unchanged, reused/.test(again.stderr), JSON.stringify(again));
    assert.ok(readFileSync(out).equals(readFileSync(join(dir, 'again.node'))));
    // The same codec libraries as the source build (this machine's -dev packages), so the same image bytes.
    const libs = (path: string) =>
      must(process.execPath, [
        '-e',
        `const m = { exports: {} }; process.dlopen(m, ${JSON.stringify(path)}); console.log(JSON.stringify(m.exports.versions().compressors.map((c) => c.library)))`,
      ]).trim();
    assert.equal(libs(out), libs(join(repoRoot, 'build', 'Release', 'casper_snapshot.node')));
    const src = join(dir, 'src');
    file(join(src, 'text'), bytes(3 << 20, 11, 64));
    file(join(src, 'small', 'a'), bytes(5000, 12, 64));
    for (const comp of ['gzip', 'xz', 'zstd', 'lz4', 'lzo']) {
      const make = (name: string, addon?: string) => {
        const env = {
          ...process.env,
          SOURCE_DATE_EPOCH: '1700000000',
          CASPER_SNAPSHOT_ADDON: addon ?? join(repoRoot, 'build', 'Release', 'casper_snapshot.node'),
        };
        const r = run(
          process.execPath,
          [join(repoRoot, 'bin', 'casper-snapshot.js'), '--source', src, join(dir, name), '-comp', comp, '-q'],
          { env },
        );
        assert.equal(r.status, 0, r.stderr);
        return readFileSync(join(dir, name));
      };
      assert.ok(
        make(`src-${comp}.sqfs`).equals(make(`pre-${comp}.sqfs`, out)),
        `${comp}: the prebuilt writes other bytes than the source build`,
      );
    }
    // It loads and round-trips data through every codec (the static libraries are complete).
    const script = `
    const m = { exports: {} }; process.dlopen(m, ${JSON.stringify(out)});
    const data = Buffer.from('casper '.repeat(15000));
    for (const c of m.exports.versions().compressors) {
      const spec = { compressor: c.name, blockSize: 131072 };
      const z = m.exports.compress(data, spec);
      if (!z) throw new Error(c.name + ' did not compress');
      if (!Buffer.from(m.exports.decompress(z, spec, 131072)).equals(data)) throw new Error(c.name + ' round trip');
    }
    console.log(m.exports.versions().compressors.map((c) => c.name).join(','));`;
    assert.equal(must(process.execPath, ['-e', script]).trim().split(',').sort().join(','), 'gzip,lz4,lzo,xz,zstd');
  },
);

/** A copy of the working tree (tracked and unignored files) with node_modules linked: `npm pack` runs there. */
function checkoutCopy(dir: string): string {
  const copy = join(dir, 'checkout');
  const files = must('git', ['-C', repoRoot, 'ls-files', '-co', '--exclude-standard', '-z'])
    .split('\0')
    .filter(Boolean);
  for (const f of files)
    if (existsSync(join(repoRoot, f))) cpSync(join(repoRoot, f), join(copy, f), { recursive: true });
  symlinkSync(join(repoRoot, 'node_modules'), join(copy, 'node_modules'));
  return copy;
}

const NETWORK = /ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|network|offline/i;

test(
  'the packed tarball installs with --ignore-scripts and snapshots from import and require',
  {
    skip: prebuiltSkip() || (!has('git') && 'git not installed') || (!has('unsquashfs') && 'unsquashfs not installed'),
  },
  (t) => {
    const dir = tempDir('cs-pack-');
    const copy = checkoutCopy(dir);
    const pack = run('sh', ['-c', `cd '${copy}' && npm pack --silent --pack-destination '${dir}'`]);
    if (pack.status === 3 || /debian-root\.sh: .*(cannot be reached|debootstrap)/.test(pack.stderr))
      return t.skip(pack.stderr.trim().split('\n').pop());
    assert.equal(pack.status, 0, `npm pack failed:\n${pack.stderr.slice(-3000)}`);
    // The test above built this prebuilt from the same inputs: npm pack takes it from the cache.
    assert.match(pack.stderr, /build-prebuilt\.sh: inputs unchanged, reused/);
    const tgz = readdirSync(dir).find((f) => f.endsWith('.tgz'));
    assert.ok(tgz, 'npm pack wrote no tarball');
    const listing = must('tar', ['-tzf', join(dir, tgz)]);
    for (const f of [
      'package/LICENSE',
      'package/prebuilds/linux-x64/casper_snapshot.node',
      'package/dist/src/api/index.js',
      'package/dist/cjs/index.cjs',
      'package/dist/src/pipeline/worker.js',
      'package/scripts/install.cjs',
    ])
      assert.ok(listing.includes(f), `${f} is not in the tarball`);
    assert.doesNotMatch(listing, /package\/dist\/test\//, 'tests are packed');

    const app = join(dir, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
    const inst = run('sh', [
      '-c',
      `cd '${app}' && npm install --ignore-scripts --no-audit --no-fund --prefer-offline '${join(dir, tgz)}'`,
    ]);
    if (inst.status !== 0 && NETWORK.test(inst.stderr))
      return t.skip(`npm cannot reach the registry for the dependencies: ${inst.stderr.trim().split('\n')[0]}`);
    assert.equal(inst.status, 0, `npm install failed:\n${inst.stderr.slice(-3000)}`);
    const pkgDir = join(app, 'node_modules', 'casper-snapshot');
    assert.ok(!existsSync(join(pkgDir, 'build')), 'an --ignore-scripts install has a build/ directory');
    // A lean install: the source-build tools are optional peers, not installed with the package.
    for (const tool of ['cmake-js', 'node-addon-api', 'node-api-headers'])
      assert.ok(!existsSync(join(app, 'node_modules', tool)), `${tool} was installed with the package`);
    assert.match(readFileSync(join(pkgDir, 'LICENSE'), 'utf8'), /GNU GENERAL PUBLIC LICENSE\s+Version 2/);
    checkPortable(join(pkgDir, 'prebuilds', 'linux-x64', 'casper_snapshot.node'));

    // A tree with a file above the small-job threshold, so the worker pool (piscina, the ESM worker) runs too.
    const src = join(dir, 'src');
    file(join(src, 'small.txt'), 'hello\n');
    file(join(src, 'big.bin'), bytes(12 * 1024 * 1024, 7, 48));
    file(join(src, 'sub', 'x'), 'x');
    const runApp = (name: string, body: string) => {
      writeFileSync(join(app, name), body);
      const r = run(process.execPath, [join(app, name)], { env: { ...process.env, CASPER_SNAPSHOT_ADDON: '' } });
      assert.equal(r.status, 0, `${name} failed:\n${r.stderr}`);
      return r.stdout.trim();
    };
    const job = (
      img: string,
    ) => `snapshot({ source: ${JSON.stringify(src)}, output: ${JSON.stringify(img)}, compressor: 'zstd', jobs: 2 })
    .then((r) => console.log(r.image.types.files + ' ' + r.pipeline.tasks), (e) => { console.error(e); process.exit(1); });`;
    const esm = join(dir, 'esm.sqfs');
    const cjs = join(dir, 'cjs.sqfs');
    const outEsm = runApp(
      'esm.mjs',
      `import { snapshot, loadAddon } from 'casper-snapshot';\nif (!loadAddon().versions) process.exit(9);\n${job(esm)}`,
    );
    const outCjs = runApp('cjs.cjs', `const { snapshot } = require('casper-snapshot');\n${job(cjs)}`);
    for (const [img, out] of [
      [esm, outEsm],
      [cjs, outCjs],
    ]) {
      assert.match(out, /^3 [1-9]/, `${img}: files and pipeline tasks: ${out}`);
      const x = join(dir, `x-${img.endsWith('esm.sqfs') ? 'esm' : 'cjs'}`);
      must('unsquashfs', ['-q', '-n', '-d', x, img]);
      assert.deepEqual(diffTrees(describeTree(src), describeTree(x)), []);
    }
  },
);
