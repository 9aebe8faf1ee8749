#!/usr/bin/env node
// Entry point: the compiled CLI lives in dist/.
import { main } from '../dist/src/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`casper-snapshot: ${err && err.stack ? err.stack : err}\n`);
    process.exitCode = 2;
  },
);
