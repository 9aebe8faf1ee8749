// Describes a directory tree as the kernel shows it (type, mode, owner, mtime, content, link target,
// device number, xattrs, hard-link groups) and lists the differences between two trees.
// Names are handled as raw bytes (Buffers), so names that are not UTF-8 compare exactly; in the description
// every path component and link target is shown with showBytes().
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, openSync, readSync, closeSync, readdirSync, readlinkSync, type Stats } from 'node:fs';

export interface NodeInfo {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  size?: number;
  content?: string;
  target?: string;
  rdev?: number;
  nlink?: number;
  xattrs: Record<string, string>;
}

export interface TreeDescription {
  nodes: Map<string, NodeInfo>;
  linkGroups: string[][];
}

function typeOf(st: Stats): string {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'chardev';
  if (st.isBlockDevice()) return 'blockdev';
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  return 'unknown';
}

/**
 * A readable, injective rendering of raw name bytes: valid UTF-8 is kept (control characters as \\xNN),
 * anything else is printable ASCII with every other byte as \\xNN; a backslash is always doubled.
 */
export function showBytes(b: Buffer): string {
  const s = b.toString('utf8');
  let out = '';
  if (Buffer.from(s, 'utf8').equals(b)) {
    for (const ch of s) {
      const c = ch.codePointAt(0)!;
      out += ch === '\\' ? '\\\\' : c < 0x20 || c === 0x7f ? `\\x${c.toString(16).padStart(2, '0')}` : ch;
    }
    return out;
  }
  for (const c of b) {
    out +=
      c === 0x5c ? '\\\\' : c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`;
  }
  return out;
}

function joinBytes(dir: Buffer, name: Buffer): Buffer {
  return Buffer.concat([dir, Buffer.from('/'), name]);
}

/** Undoes getfattr's octal escapes (\\ooo) of a file name. */
function unescapeOctal(s: Buffer): Buffer {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === 0x5c && i + 3 < s.length && /^[0-7]{3}$/.test(s.subarray(i + 1, i + 4).toString('latin1'))) {
      out.push(parseInt(s.subarray(i + 1, i + 4).toString('latin1'), 8));
      i += 3;
    } else out.push(s[i]);
  }
  return Buffer.from(out);
}

/** The description key of a path relative to the root: '' for the root, else '/' + shown components. */
function relKey(rel: Buffer): string {
  if (rel.length === 0) return '';
  return rel
    .toString('latin1')
    .split('/')
    .filter((c) => c !== '')
    .map((c) => '/' + showBytes(Buffer.from(c, 'latin1')))
    .join('');
}

const EMPTY_HASH = createHash('sha256').digest('hex');
const hashBuf = Buffer.allocUnsafe(1 << 20); // shared: allocating 1 MiB per file dominated big trees

function fileHash(path: Buffer): string {
  const h = createHash('sha256');
  const fd = openSync(path, 'r');
  const buf = hashBuf;
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

/** Xattrs of every entry under root (one getfattr run), keyed by path relative to root. ACLs are left out. */
function readXattrs(root: string): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>();
  const r = spawnSync('getfattr', ['-R', '-P', '-h', '-d', '-m', '-', '-e', 'hex', '--absolute-names', root], {
    maxBuffer: 1 << 30,
  });
  if (r.error) throw r.error;
  const rootBytes = Buffer.from(root);
  let current = '';
  // Lines are split on raw bytes: file names may hold any byte but '/' and NUL (newlines come escaped).
  const text = r.stdout.toString('latin1');
  for (const line of text.split('\n')) {
    if (line.startsWith('# file: ')) {
      const p = unescapeOctal(Buffer.from(line.slice(8), 'latin1'));
      current = p.equals(rootBytes) ? '/' : relKey(p.subarray(rootBytes.length));
      out.set(current, {});
    } else if (line.includes('=') && current) {
      const i = line.indexOf('=');
      const key = line.slice(0, i);
      if (key.startsWith('system.')) continue;
      out.get(current)![key] = line.slice(i + 1);
    }
  }
  return out;
}

export function describeTree(
  root: string,
  opts: { contents?: boolean; skip?: (rel: string) => boolean } = {},
): TreeDescription {
  const nodes = new Map<string, NodeInfo>();
  const inodes = new Map<string, string[]>();
  const xattrs = readXattrs(root);
  const walk = (abs: Buffer, rel: string) => {
    const st = lstatSync(abs);
    const type = typeOf(st);
    const info: NodeInfo = {
      type,
      mode: st.mode & 0o7777,
      uid: st.uid,
      gid: st.gid,
      mtime: Math.floor(st.mtimeMs / 1000),
      xattrs: xattrs.get(rel === '' ? '/' : rel) ?? {},
    };
    if (type === 'file') {
      info.size = st.size;
      info.nlink = st.nlink;
      if (opts.contents !== false) info.content = st.size === 0 ? EMPTY_HASH : fileHash(abs);
      if (st.nlink > 1) {
        const k = `${st.dev}:${st.ino}`;
        inodes.set(k, [...(inodes.get(k) ?? []), rel]);
      }
    }
    if (type === 'symlink') info.target = showBytes(readlinkSync(abs, { encoding: 'buffer' }));
    if (type === 'chardev' || type === 'blockdev') info.rdev = st.rdev;
    nodes.set(rel === '' ? '/' : rel, info);
    if (type === 'dir') {
      for (const name of readdirSync(abs, { encoding: 'buffer' }).sort(Buffer.compare)) {
        const r = `${rel}/${showBytes(name)}`;
        if (opts.skip?.(r)) continue;
        walk(joinBytes(abs, name), r);
      }
    }
  };
  walk(Buffer.from(root), '');
  const linkGroups = [...inodes.values()]
    .filter((g) => g.length > 1)
    .map((g) => g.sort())
    .sort((a, b) => (a[0] < b[0] ? -1 : 1));
  return { nodes, linkGroups };
}

/**
 * describeTree of a union mount's view, in which a directory may list a name that cannot be looked up (a
 * whiteout left in a directory that no lower layer has: overlayfs passes such a directory's listing through
 * unfiltered). Those names are left out of the description and returned as `ghosts`.
 */
export function describeView(
  root: string,
  opts: { skip?: (rel: string) => boolean } = {},
): { tree: TreeDescription; ghosts: string[] } {
  const ghosts: string[] = [];
  for (;;) {
    try {
      return {
        tree: describeTree(root, { skip: (rel) => (opts.skip?.(rel) ?? false) || ghosts.includes(rel) }),
        ghosts,
      };
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const rel = typeof e.path === 'string' && e.path.startsWith(root + '/') ? e.path.slice(root.length) : null;
      if (e.code !== 'ENOENT' || !rel || ghosts.includes(rel) || ghosts.length >= 100) throw err;
      ghosts.push(rel);
    }
  }
}

/** The lines diffTrees adds for a view's ghosts (names listed that cannot be looked up). */
export const ghostLines = (ghosts: string[]) =>
  ghosts.map((g) => `listed but cannot be looked up (a whiteout with nothing beneath): ${g}`);

/** Differences between two descriptions, as readable lines (empty when equal). */
export function diffTrees(
  a: TreeDescription,
  b: TreeDescription,
  opts: { ignore?: (keyof NodeInfo)[] } = {},
): string[] {
  const out: string[] = [];
  const ignore = new Set(opts.ignore ?? []);
  for (const [p, x] of a.nodes) {
    const y = b.nodes.get(p);
    if (!y) {
      out.push(`only in first: ${p}`);
      continue;
    }
    for (const k of Object.keys(x) as (keyof NodeInfo)[]) {
      if (ignore.has(k)) continue;
      const xv = JSON.stringify(x[k]);
      const yv = JSON.stringify(y[k]);
      if (xv !== yv) out.push(`${p}: ${k} ${xv} != ${yv}`);
    }
  }
  for (const p of b.nodes.keys()) if (!a.nodes.has(p)) out.push(`only in second: ${p}`);
  if (!ignore.has('nlink') && JSON.stringify(a.linkGroups) !== JSON.stringify(b.linkGroups))
    out.push(
      `hard-link groups differ: ${JSON.stringify(a.linkGroups).slice(0, 500)} != ${JSON.stringify(b.linkGroups).slice(0, 500)}`,
    );
  return out;
}
