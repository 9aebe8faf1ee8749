// The package list of a root, read from its dpkg database (var/lib/dpkg/status, deb822 paragraphs) without
// running dpkg: the lines `dpkg-query -W` prints, which is how casper's filesystem.manifest and live-build's
// filesystem.packages are made — "${binary:Package}\t${Version}", sorted by name then architecture. A name
// carries its architecture (libc6:amd64) where dpkg's binary:Package does: for Multi-Arch: same packages and
// packages of a foreign architecture.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CasperError } from '../errors.js';

export interface Package {
  name: string;
  architecture: string;
  version: string;
  multiArchSame: boolean;
  /** The three words of Status:, e.g. "install ok installed". */
  status: string;
}

/** Paragraphs of a deb822 file as field maps (continuation lines are left out: no listed field needs them). */
function paragraphs(text: string): Map<string, string>[] {
  const out: Map<string, string>[] = [];
  for (const block of text.split(/\n[ \t]*\n/)) {
    const fields = new Map<string, string>();
    for (const line of block.split('\n')) {
      const m = /^([A-Za-z0-9][A-Za-z0-9-]*):[ \t]*(.*)$/.exec(line);
      if (m) fields.set(m[1].toLowerCase(), m[2].trim());
    }
    if (fields.size) out.push(fields);
  }
  return out;
}

export function parseDpkgStatus(text: string): Package[] {
  const out: Package[] = [];
  for (const f of paragraphs(text)) {
    const name = f.get('package');
    if (!name) continue;
    out.push({
      name,
      architecture: f.get('architecture') ?? '',
      version: f.get('version') ?? '',
      multiArchSame: (f.get('multi-arch') ?? '') === 'same',
      status: f.get('status') ?? '',
    });
  }
  return out;
}

/** Whether dpkg-query -W lists it: everything the database knows but not-installed entries (kept for their selection). */
function listed(p: Package): boolean {
  const state = p.status.split(/\s+/)[2];
  return state !== undefined && state !== 'not-installed';
}

/** dpkg's native architecture, as the root records it: that of dpkg itself. */
function nativeArchitecture(pkgs: Package[]): string | null {
  return pkgs.find((p) => p.name === 'dpkg' && listed(p))?.architecture ?? null;
}

/** dpkg-query's ${binary:Package}. */
function binaryPackage(p: Package, native: string | null): string {
  const foreign = native !== null && p.architecture !== '' && p.architecture !== 'all' && p.architecture !== native;
  return p.multiArchSame || foreign ? `${p.name}:${p.architecture}` : p.name;
}

const byte = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The manifest lines of these packages, as dpkg-query -W prints them. */
export function manifestLines(pkgs: Package[]): string[] {
  const native = nativeArchitecture(pkgs);
  return pkgs
    .filter(listed)
    .sort((a, b) => byte(a.name, b.name) || byte(a.architecture, b.architecture))
    .map((p) => `${binaryPackage(p, native)}\t${p.version}`);
}

/** The manifest of the root at `root` (its var/lib/dpkg/status), or a clear error naming the file. */
export function readManifest(root: string): { text: string; packages: number; names: Set<string> } {
  const status = join(root, 'var/lib/dpkg/status');
  let text: string;
  try {
    text = readFileSync(status, 'utf8');
  } catch (err) {
    throw new CasperError(
      `cannot read the new root's package database '${status}': ${(err as Error).message}`,
      (err as NodeJS.ErrnoException).code ?? 'EIO',
      { path: status },
    );
  }
  const pkgs = parseDpkgStatus(text);
  const lines = manifestLines(pkgs);
  return {
    text: lines.map((l) => l + '\n').join(''),
    packages: lines.length,
    names: new Set(pkgs.filter(listed).map((p) => p.name)),
  };
}

/**
 * A -remove list (packages an installer takes off after copying the root) kept to the packages the new root
 * still has; each line's first word is the package, with or without :arch.
 */
export function keepInstalled(text: string, names: Set<string>): { text: string; dropped: string[] } {
  const dropped: string[] = [];
  const kept = text.split('\n').filter((line) => {
    const word = line.trim().split(/\s+/)[0];
    if (!word) return false;
    if (names.has(word.replace(/:.*$/, ''))) return true;
    dropped.push(word);
    return false;
  });
  return { text: kept.map((l) => l + '\n').join(''), dropped };
}
