// /etc/casper.conf settings: parsing without executing, known and unknown keys, bad values (precedence: test/cli-features.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, loadCasperConf, parseCasperConf } from '../src/config/casper-conf.js';
import { parseAssignment } from '../src/config/shell-assign.js';
import { UsageError } from '../src/errors.js';
import { tempDir } from './helpers/image-check.js';
import { fuzzCases } from './helpers/fuzz.js';

const fixture = (name: string) =>
  readFileSync(new URL(`../../test/fixtures/casper-conf/${name}.conf`, import.meta.url), 'utf8');

test("Ubuntu's stock casper.conf: casper's own keys, no settings, no warnings", () => {
  const r = parseCasperConf(fixture('ubuntu'));
  assert.deepEqual(r.config, {});
  assert.deepEqual(r.warnings, []);
  assert.equal(r.file, '/etc/casper.conf');
});

test('every setting, with export, quotes, escapes and comments', () => {
  const r = parseCasperConf(fixture('snapshot'), 'snapshot.conf');
  assert.deepEqual(r.config, {
    mode: 'upper',
    excludes: ['/srv/cache', 'home/*/.cache', 'My Files'],
    excludeSyntax: 'wildcards',
    defaultExcludes: true,
    scrub: false,
    compressor: 'xz',
    blockSize: 1048576,
    jobs: 2,
    output: '/media/ubuntu/USB STICK/snap.squashfs',
  });
  assert.equal(r.lines.mode, 5);
  assert.equal(r.lines.output, 13);
  assert.deepEqual(r.warnings, []);
});

test('shell-style values are read, never executed', () => {
  const v = (line: string) => parseAssignment(line);
  assert.deepEqual(v(`A='it''s'`), { kind: 'assign', key: 'A', value: 'its' });
  assert.deepEqual(v(`A="a \\"b\\" \\$c \\\\ \\n"`), { kind: 'assign', key: 'A', value: 'a "b" $c \\ \\n' });
  assert.deepEqual(v('  export   A=x\\ y # note'), { kind: 'assign', key: 'A', value: 'x y' });
  assert.deepEqual(v('A=a#b'), { kind: 'assign', key: 'A', value: 'a#b' });
  assert.deepEqual(v('A='), { kind: 'assign', key: 'A', value: '' });
  assert.deepEqual(v('   # comment'), { kind: 'blank' });
  for (const [line, why] of [
    ['A=$(reboot)', /expansion/],
    ['A="`id`"', /expansion/],
    ['A=$HOME', /expansion/],
    ['A=x; rm -rf /', /';'/],
    ['A=one two', /unquoted space/],
    ["A='open", /unterminated single/],
    ['A="open', /unterminated double/],
    ['A=x\\', /backslash at the end/],
    ['A = b', /no spaces are allowed around '='/],
    ['echo hi', /not a KEY=VALUE/],
    ['A=(x)', /'\('/],
  ] as const) {
    const r = v(line);
    assert.equal(r.kind, 'error', line);
    assert.match((r as { why: string }).why, why, line);
  }
});

test('unknown keys and stray lines are warnings; casper keys are quiet', () => {
  const r = parseCasperConf(
    'export USERNAME=u\nFOO=bar\nif [ -x /x ]; then\nexport FLAVOUR\nCASPER_SNAPSHOT_MODE=full\n',
    'c.conf',
  );
  assert.equal(r.config.mode, 'full');
  assert.deepEqual(r.warnings, ['c.conf:2: unknown key FOO ignored', 'c.conf:3: ignored (not a KEY=VALUE assignment)']);
  // a typo in one of our keys is unknown too, not silently dropped
  assert.match(parseCasperConf('CASPER_SNAPSHOT_MDOE=full\n').warnings[0], /unknown key CASPER_SNAPSHOT_MDOE/);
});

test('bad values are ConfigErrors naming the file, line and key', () => {
  const cases: [string, RegExp][] = [
    ['CASPER_SNAPSHOT_MODE=fast', /x.conf:2: CASPER_SNAPSHOT_MODE: must be one of auto, upper, diff, full, got 'fast'/],
    ['CASPER_SNAPSHOT_BLOCK_SIZE=3K', /CASPER_SNAPSHOT_BLOCK_SIZE: must be a power of two from 4K to 1M/],
    ['CASPER_SNAPSHOT_BLOCK_SIZE=big', /CASPER_SNAPSHOT_BLOCK_SIZE: block size must be a size/],
    ['CASPER_SNAPSHOT_JOBS=0', /CASPER_SNAPSHOT_JOBS: must be an integer from 1 to 1024, got '0'/],
    ['CASPER_SNAPSHOT_JOBS=2x', /CASPER_SNAPSHOT_JOBS/],
    ['CASPER_SNAPSHOT_OUTPUT=snap.sqfs', /CASPER_SNAPSHOT_OUTPUT: must be an absolute path/],
    ['CASPER_SNAPSHOT_COMPRESSOR=x z', /CASPER_SNAPSHOT_COMPRESSOR: unquoted space/],
    ['CASPER_SNAPSHOT_COMPRESSOR="X Z"', /must be a compressor name/],
    ['CASPER_SNAPSHOT_SCRUB=maybe', /CASPER_SNAPSHOT_SCRUB: must be yes or no/],
    ['CASPER_SNAPSHOT_EXCLUDE_SYNTAX=glob', /must be one of exact, wildcards, regex/],
    ['CASPER_SNAPSHOT_OUTPUT=$HOME/x', /CASPER_SNAPSHOT_OUTPUT: variable expansion/],
    ['CASPER_SNAPSHOT_MODE = full', /x.conf:2: CASPER_SNAPSHOT_MODE: no spaces are allowed around '='/],
  ];
  for (const [line, re] of cases)
    assert.throws(
      () => parseCasperConf(`# settings\n${line}\n`, 'x.conf'),
      (e: unknown) =>
        e instanceof ConfigError && e instanceof UsageError && e.line === 2 && re.test((e as Error).message),
      line,
    );
});

test('empty values unset, later lines win, CRLF and a BOM are tolerated', () => {
  const r = parseCasperConf(
    '\uFEFFCASPER_SNAPSHOT_JOBS=3\r\nCASPER_SNAPSHOT_JOBS=\r\nCASPER_SNAPSHOT_MODE=diff\r\nCASPER_SNAPSHOT_MODE=full\r\n',
  );
  assert.deepEqual(r.config, { mode: 'full' });
  assert.equal(r.lines.mode, 4);
});

test('loading: the default file may be missing, an explicit --config may not', () => {
  const t = tempDir();
  try {
    const f = join(t, 'c.conf');
    writeFileSync(f, 'CASPER_SNAPSHOT_MODE=diff\n');
    assert.equal(loadCasperConf(f).config.mode, 'diff');
    assert.throws(
      () => loadCasperConf(join(t, 'missing.conf')),
      (e: unknown) =>
        e instanceof UsageError && /config file '.*missing.conf' cannot be read/.test((e as Error).message),
    );
    const dflt = loadCasperConf();
    assert.equal(dflt.file, '/etc/casper.conf');
  } finally {
    rmSync(t, { recursive: true, force: true });
  }
});

test('fuzz: mutated config files throw nothing but ConfigError', () => {
  fuzzCases('casper.conf', [fixture('ubuntu'), fixture('snapshot')], 4000, (text) => {
    try {
      const r = parseCasperConf(text, 'fuzz.conf');
      assert.ok(Array.isArray(r.warnings));
    } catch (err) {
      if (err instanceof ConfigError) return;
      throw err;
    }
  });
});
