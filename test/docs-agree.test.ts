// --help, the man page and the README describe the same options.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, repoRoot } from './helpers/tools.js';

test('every option in --help is in the man page and the README', () => {
  const help = cli(['--help']).stdout;
  const options = [...new Set(help.match(/--[a-z][a-z0-9-]+/g) ?? [])];
  assert.ok(options.length > 30);
  const man = readFileSync(join(repoRoot, 'man', 'casper-snapshot.1'), 'utf8').replace(/\\-/g, '-');
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const missingMan = options.filter((o) => !man.includes(o));
  const missingReadme = options.filter((o) => !['--help', '--version', '--debug', '--quiet'].includes(o) && !readme.includes(o));
  assert.deepEqual(missingMan, [], 'options missing from man/casper-snapshot.1');
  assert.deepEqual(missingReadme, [], 'options missing from README.md');
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { man: string[] };
  assert.deepEqual(pkg.man, ['./man/casper-snapshot.1']);
});

test('the exit codes in --help, the man page and the README agree', () => {
  const help = cli(['--help']).stdout;
  const man = readFileSync(join(repoRoot, 'man', 'casper-snapshot.1'), 'utf8');
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  for (const code of ['0', '1', '2', '3', '129', '130', '143']) {
    for (const [name, text] of [['--help', help], ['man page', man], ['README', readme]]) assert.match(text, new RegExp(`\\b${code}\\b`), `${code} in ${name}`);
  }
});
