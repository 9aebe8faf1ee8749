// Bundles made with esbuild from the TypeScript sources:
//   cjs: dist/cjs/index.cjs, the library for require() (its npm dependencies stay external; the pool's worker
//        is the ESM build's dist/src/pipeline/worker.js, which piscina imports whatever loaded the pool);
//   cli: dist/cli/main.js, the command line in one ESM file with commander (bin/casper-snapshot.js loads it):
//        resolving and reading ~40 modules was half of a small job's start-up. `verify` is a chunk of its own,
//        loaded only for verify; piscina stays external (imported only when a job needs workers).
//   sea: DIR/{main.cjs,worker.cjs,worker.js} (DIR: dist-bin/sea unless given), the single executable's main
//        script, its worker and piscina's worker shell (a SEA main script can require only built-in modules, so
//        nothing external).
// Usage: node scripts/build-bundles.mjs cjs|cli|sea [DIR]
import { build } from 'esbuild';
import { readFileSync, rmSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
// import.meta.url has no meaning in a CommonJS file: every use becomes the bundle's own file URL.
const banner = { js: "const __casper_import_meta_url = require('node:url').pathToFileURL(__filename).href;" };
const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  banner,
  define: { 'import.meta.url': '__casper_import_meta_url' },
  logLevel: 'warning',
  // piscina tries this optional package inside a try/catch.
  external: ['@napi-rs/nice'],
};

const what = process.argv[2];
if (what === 'cli') {
  rmSync('dist/cli', { recursive: true, force: true }); // chunk names carry hashes: no stale chunk stays behind
  await build({
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    splitting: true,
    entryPoints: ['src/cli/main.ts'],
    outdir: 'dist/cli',
    external: ['piscina', '@napi-rs/nice'],
    // commander is CommonJS: its require() calls of built-ins need a require in an ES module.
    banner: {
      js: "import { createRequire as __casperRequire } from 'node:module'; const require = __casperRequire(import.meta.url);",
    },
    logLevel: 'warning',
  });
} else if (what === 'cjs') {
  await build({ ...common, entryPoints: ['src/api/index.ts'], outfile: 'dist/cjs/index.cjs', packages: 'external' });
} else if (what === 'sea') {
  const dir = process.argv[3] ?? 'dist-bin/sea';
  await build({
    ...common,
    entryPoints: ['src/standalone/main.ts'],
    outfile: `${dir}/main.cjs`,
    // piscina starts its worker shell from resolve(__dirname, 'worker.js'): the unpacked assets' directory.
    define: {
      ...common.define,
      __dirname: 'globalThis.__casperAssetDir',
      __CASPER_VERSION__: JSON.stringify(pkg.version),
    },
  });
  // piscina marks moved results with a symbol private to its own copy: the worker shell (worker.js) and our
  // worker must share one. The shell's bundle carries piscina and leaves it on globalThis; in the worker's
  // bundle `piscina` resolves to that.
  await build({
    ...common,
    stdin: {
      contents:
        "globalThis.__casperPiscina = require('./node_modules/piscina/dist/index.js');\nrequire('./node_modules/piscina/dist/worker.js');\n",
      resolveDir: process.cwd(),
      loader: 'js',
    },
    outfile: `${dir}/worker.js`,
  });
  const sharedPiscina = {
    name: 'shared-piscina',
    setup(b) {
      b.onResolve({ filter: /^piscina$/ }, () => ({ path: 'piscina', namespace: 'shared-piscina' }));
      b.onLoad({ filter: /.*/, namespace: 'shared-piscina' }, () => ({
        contents: 'module.exports = globalThis.__casperPiscina;',
        loader: 'js',
      }));
    },
  };
  await build({
    ...common,
    entryPoints: ['src/pipeline/worker.ts'],
    outfile: `${dir}/worker.cjs`,
    plugins: [sharedPiscina],
  });
} else {
  console.error('usage: node scripts/build-bundles.mjs cjs|cli|sea');
  process.exit(64);
}
