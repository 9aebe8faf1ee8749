// --help, the man page and the README describe the same options.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, repoRoot } from './helpers/tools.js';
import { loadAddon } from '../src/native/addon.js';
import { CONFIG_KEYS } from '../src/config/index.js';

test('every option in --help is in the man page and the README', () => {
  const help = cli(['--help']).stdout;
  const options = [...new Set(help.match(/--[a-z][a-z0-9-]+/g) ?? [])];
  assert.ok(options.length > 30);
  const man = readFileSync(join(repoRoot, 'man', 'casper-snapshot.1'), 'utf8').replace(/\\-/g, '-');
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const missingMan = options.filter((o) => !man.includes(o));
  const missingReadme = options.filter(
    (o) => !['--help', '--version', '--debug', '--quiet'].includes(o) && !readme.includes(o),
  );
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
    for (const [name, text] of [
      ['--help', help],
      ['man page', man],
      ['README', readme],
    ])
      assert.match(text, new RegExp(`\\b${code}\\b`), `${code} in ${name}`);
  }
});

/** --help's option entries, each on one line (commander wraps them). */
function helpEntries(help: string): Map<string, string> {
  const out = new Map<string, string>();
  let cur: string | null = null;
  for (const line of help.split('\n')) {
    const m = /^ {2}(-[a-z], )?(--[a-z][a-z0-9-]*)/.exec(line);
    if (m) out.set((cur = m[2]), line.trim());
    else if (cur && /^ {6,}\S/.test(line)) out.set(cur, `${out.get(cur)} ${line.trim()}`);
    else cur = null;
  }
  return out;
}

const norm = (s: string) =>
  s
    .replace(/\\-/g, '-')
    .replace(/\\f[BIR]/g, '')
    .replace(/[`"]/g, '')
    .replace(/–/g, '-')
    .replace(/default:/gi, 'default')
    .replace(/\s+/g, ' ')
    .toLowerCase();

test('every default in --help is the same in the man page, the README and the addon', () => {
  const help = cli(['--help']).stdout;
  const entries = helpEntries(help);
  const man = readFileSync(join(repoRoot, 'man', 'casper-snapshot.1'), 'utf8');
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const manEntry = (opt: string) => {
    const i =
      man.indexOf(`.BR ${opt.replace(/-/g, '\\-')}`) >= 0
        ? man.indexOf(`.BR ${opt.replace(/-/g, '\\-')}`)
        : man.search(new RegExp(`\\.BR .*${opt.replace(/-/g, '\\\\-')}`));
    assert.ok(i >= 0, `${opt} has no entry in the man page`);
    const rest = man.slice(i);
    return norm(rest.slice(0, rest.slice(1).search(/\n\.(TP|SH)/) + 1));
  };
  const readmeRow = (opt: string) => {
    const row = readme.split('\n').find((l) => new RegExp(`^\\| \`(-[a-z], )?${opt}[ \`]`).test(l));
    assert.ok(row, `${opt} has no row in the README's option table`);
    return norm(row);
  };
  const defaults = new Map<string, string>();
  for (const [opt, text] of entries) {
    const m = /\(default:? "?([^");]+)"?[);]/.exec(text) ?? /[(;] default:? ([^)]+)\)/.exec(text);
    if (m) defaults.set(opt, norm(m[1]).trim());
  }
  // The defaults that --help states: if one of these loses its "(default …)", this list shows it.
  assert.deepEqual([...defaults.keys()].sort(), [
    '--block-size',
    '--compressor',
    '--jobs',
    '--mem',
    '--mode',
    '--root',
  ]);
  for (const [opt, value] of defaults) {
    const wanted = [`default ${value}`, `${value} (default`];
    assert.ok(
      wanted.some((w) => manEntry(opt).includes(w)),
      `man page, ${opt}: default ${value} not found in: ${manEntry(opt)}`,
    );
    assert.ok(
      wanted.some((w) => readmeRow(opt).includes(w)),
      `README, ${opt}: default ${value} not found in: ${readmeRow(opt)}`,
    );
  }
  // Compression levels: --help's "gzip 1-9 (6)" against the man page, the README and the addon itself.
  const levels = [
    ...entries.get('--compression-level')!.matchAll(/(gzip|xz|lz4|zstd|lzo)[^,(]*?(\d+)-(\d+) \((\d+)\)/g),
  ].map((m) => ({ name: m[1], range: `${m[2]}-${m[3]}`, level: m[4] }));
  assert.deepEqual(levels.map((l) => l.name).sort(), ['gzip', 'lz4', 'lzo', 'xz', 'zstd']);
  const addon = loadAddon().versions().compressors;
  for (const l of levels) {
    const native = addon.find((c) => c.name === l.name)?.defaultLevel;
    if (native !== undefined)
      assert.equal(String(native), l.level, `${l.name}: --help says ${l.level}, the addon uses ${native}`);
    const pattern = new RegExp(`${l.name}[^,;|]*?${l.range} \\(default ${l.level}\\b`);
    assert.match(manEntry('--compression-level'), pattern, `man page: ${l.name} level`);
    assert.match(readmeRow('--compression-level'), pattern, `README: ${l.name} level`);
  }
  // The lzo algorithm's default is written the same way everywhere.
  for (const text of [entries.get('--lzo-algorithm')!, manEntry('--lzo-algorithm'), readmeRow('--lzo-algorithm')])
    assert.match(norm(text), /lzo1x_999 \(default\)/);
});

test('the man page has EXAMPLES, and their options are ones --help lists', () => {
  const man = readFileSync(join(repoRoot, 'man', 'casper-snapshot.1'), 'utf8');
  const ex = man.slice(man.indexOf('.SH EXAMPLES'), man.indexOf('.SH', man.indexOf('.SH EXAMPLES') + 3));
  const lines = [...ex.matchAll(/^\.B (?:sudo )?casper-snapshot (.*)$/gm)].map((m) => m[1].replace(/\\-/g, '-'));
  assert.ok(lines.length >= 3, 'fewer than three examples');
  const help = cli(['--help']).stdout;
  for (const l of lines)
    for (const o of l.match(/--[a-z][a-z0-9-]+/g) ?? [])
      assert.ok(help.includes(o), `example option ${o} is not in --help`);
});

test('every CASPER_SNAPSHOT_* key is in --help, the man page, the README and the example file', () => {
  const help = cli(['--help']).stdout;
  const man = readFileSync(join(repoRoot, 'man', 'casper-snapshot.1'), 'utf8');
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const example = readFileSync(join(repoRoot, 'packaging', 'casper.conf.example'), 'utf8');
  const keys = Object.keys(CONFIG_KEYS);
  assert.ok(keys.includes('CASPER_SNAPSHOT_COMPRESSION_LEVEL') && keys.includes('CASPER_SNAPSHOT_VERIFY'));
  for (const k of keys) {
    assert.match(help, new RegExp(`^  ${k}=`, 'm'), `${k} missing from --help`);
    assert.ok(man.includes(`.B ${k}\n`), `${k} missing from the man page's CONFIGURATION`);
    assert.ok(readme.includes(`| \`${k}\` |`), `${k} missing from the README's key table`);
    assert.ok(example.includes(`#${k}=`), `${k} missing from packaging/casper.conf.example`);
  }
  // The shutdown unit's one manual step, where a minbase root (no man) and the man page show it.
  for (const [name, text] of [
    ['--help', help],
    ['man page', man],
  ])
    assert.match(text, /RequiresMountsFor=/, `RequiresMountsFor= step missing from ${name}`);
});
