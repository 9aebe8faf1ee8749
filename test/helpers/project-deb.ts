// The project's Debian package from `npm run package` (scripts/package.sh), built at most once for the
// content that goes into it: the tests that need it (test/deb.test.ts, test/vm-persistence.test.ts) share
// one build, so a CI run that has both packages once.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, run } from './tools.js';

/** What the package is built from (package.sh rebuilds the addon, the bundles and the executable). */
const INPUTS = [
  'native',
  'src',
  'bin',
  'systemd',
  'man',
  'packaging',
  'scripts/package.sh',
  'scripts/build-prebuilt.sh',
  'scripts/build-bundles.mjs',
  'scripts/debian-root.sh',
  'build-config.json',
  'package.json',
  'package-lock.json',
];
/**
 * Written beside the .deb once it is built; package.sh removes it when it puts another .deb there (a failed run
 * changes nothing), so it always names the inputs of the .deb beside it.
 */
const STAMP = join(repoRoot, 'dist-bin', '.built-from');

function inputsKey(): string {
  const h = createHash('sha256');
  const add = (rel: string) => {
    const abs = join(repoRoot, rel);
    if (!existsSync(abs)) return;
    if (statSync(abs).isDirectory()) {
      for (const n of readdirSync(abs).sort()) add(join(rel, n));
      return;
    }
    h.update(rel + '\0')
      .update(readFileSync(abs))
      .update('\0');
  };
  for (const i of INPUTS) add(i);
  h.update(process.version);
  return h.digest('hex').slice(0, 24);
}

function findDeb(): string | undefined {
  const dir = join(repoRoot, 'dist-bin');
  if (!existsSync(dir)) return undefined;
  const deb = readdirSync(dir).find((f) => /^casper-snapshot_.*_amd64\.deb$/.test(f));
  return deb && join(dir, deb);
}

/**
 * The path of dist-bin/casper-snapshot_<version>_amd64.deb for the current sources, building it when the one
 * there was built from other sources (or is missing); or why it cannot be built here (package.sh exit 3:
 * no debootstrap or no mirror for the bullseye build root).
 */
export function projectDeb(): { deb: string } | { skip: string } {
  const key = inputsKey();
  const have = findDeb();
  if (have && existsSync(STAMP) && readFileSync(STAMP, 'utf8').trim() === key) return { deb: have };
  const pkg = run('bash', [join(repoRoot, 'scripts', 'package.sh')]);
  if (pkg.status === 3 || /debian-root\.sh: .*(cannot be reached|not installed)/.test(pkg.stderr))
    return { skip: pkg.stderr.trim().split('\n').pop() ?? 'npm run package cannot run here' };
  if (pkg.status !== 0) throw new Error(`npm run package failed (${pkg.status}):\n${pkg.stderr.slice(-3000)}`);
  // No flood of tool warnings (strip's, postject's): a warning here is something to look at.
  if (/warning/i.test(pkg.stderr)) throw new Error(`npm run package printed warnings:\n${pkg.stderr.slice(-3000)}`);
  const deb = findDeb();
  if (!deb) throw new Error('npm run package made no .deb in dist-bin/');
  writeFileSync(STAMP, key + '\n');
  return { deb };
}
