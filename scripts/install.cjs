#!/usr/bin/env node
// npm's install script: use the prebuilt addon when it loads here; build from source with cmake-js only when
// it does not (another CPU or libc, or a checkout without prebuilds/). Installs with --ignore-scripts (and
// npm 11, which runs no install script unless allowed) skip this and still work wherever the prebuilt loads.
// The build tools (cmake-js, node-addon-api, node-api-headers) are optional peer dependencies, not installed
// with the package: a source build needs them installed first (README, "Install").
'use strict';
const { existsSync } = require('node:fs');
const { join } = require('node:path');
const { spawnSync } = require('node:child_process');

const root = join(__dirname, '..');
const prebuilt = join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'casper_snapshot.node');

function loads(path) {
  try {
    const m = { exports: {} };
    process.dlopen(m, path);
    return typeof m.exports.versions === 'function' ? m.exports.versions().addon : false;
  } catch (err) {
    process.stderr.write(
      `casper-snapshot: the prebuilt addon does not load here (${err.message}); building from source\n`,
    );
    return false;
  }
}

if (process.env.CASPER_SNAPSHOT_BUILD_FROM_SOURCE !== '1' && existsSync(prebuilt) && loads(prebuilt)) process.exit(0);
let cmakeJs;
try {
  cmakeJs = require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
  require.resolve('node-addon-api', { paths: [root] });
  require.resolve('node-api-headers', { paths: [root] });
} catch {
  process.stderr.write(
    'casper-snapshot: the prebuilt addon does not load here and the build tools are not installed; to build the\n' +
      'addon from source: npm install cmake-js node-addon-api node-api-headers && npm rebuild casper-snapshot\n' +
      '(needs g++, cmake and the -dev packages of libdeflate, liblzma, liblz4, libzstd and liblzo2)\n',
  );
  process.exit(1);
}
const r = spawnSync(process.execPath, [cmakeJs, 'compile', '-l', 'error'], { cwd: root, stdio: 'inherit' });
if (r.status !== 0) {
  process.stderr.write(
    'casper-snapshot: building the addon from source failed; it needs g++, cmake and the -dev packages of\n' +
      'libdeflate, liblzma, liblz4, libzstd and liblzo2 (Debian/Ubuntu: see scripts/install-system-deps.sh)\n',
  );
}
process.exit(r.status ?? 1);
