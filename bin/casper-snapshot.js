#!/usr/bin/env node
// Entry point: the CLI bundled into dist/cli/ (scripts/build-bundles.mjs), which starts faster than the
// module tree in dist/src/.
import { main } from '../dist/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`casper-snapshot: ${err && err.stack ? err.stack : err}\n`);
    process.exitCode = 2;
  },
);
