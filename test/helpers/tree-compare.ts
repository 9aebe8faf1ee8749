// Describes a directory tree as the kernel shows it (type, mode, owner, mtime, content, link target,
// device number, xattrs, hard-link groups) and lists the differences between two trees.
import { createHash } from 'node:crypto';
import { lstatSync, openSync, readSync, closeSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { run } from './tools.js';

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

function fileHash(path: string): string {
  const h = createHash('sha256');
  const fd = openSync(path, 'r');
  const buf = Buffer.alloc(1 << 20);
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
  const r = run('getfattr', ['-R', '-P', '-h', '-d', '-m', '-', '-e', 'hex', '--absolute-names', root]);
  let current = '';
  for (const line of r.stdout.split('\n')) {
    if (line.startsWith('# file: ')) {
      current = line.slice(8);
      current = current === root ? '/' : current.slice(root.length);
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

export function describeTree(root: string, opts: { contents?: boolean; skip?: (rel: string) => boolean } = {}): TreeDescription {
  const nodes = new Map<string, NodeInfo>();
  const inodes = new Map<string, string[]>();
  const xattrs = readXattrs(root);
  const walk = (abs: string, rel: string) => {
    const st = lstatSync(abs);
    const type = typeOf(st);
    const info: NodeInfo = { type, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: Math.floor(st.mtimeMs / 1000), xattrs: xattrs.get(rel === '' ? '/' : rel) ?? {} };
    if (type === 'file') {
      info.size = st.size;
      info.nlink = st.nlink;
      if (opts.contents !== false) info.content = fileHash(abs);
      if (st.nlink > 1) {
        const k = `${st.dev}:${st.ino}`;
        inodes.set(k, [...(inodes.get(k) ?? []), rel]);
      }
    }
    if (type === 'symlink') info.target = readlinkSync(abs);
    if (type === 'chardev' || type === 'blockdev') info.rdev = st.rdev;
    nodes.set(rel === '' ? '/' : rel, info);
    if (type === 'dir') {
      for (const name of readdirSync(abs).sort()) {
        const r = `${rel}/${name}`;
        if (opts.skip?.(r)) continue;
        walk(join(abs, name), r);
      }
    }
  };
  walk(root, '');
  const linkGroups = [...inodes.values()].filter((g) => g.length > 1).map((g) => g.sort()).sort((a, b) => (a[0] < b[0] ? -1 : 1));
  return { nodes, linkGroups };
}

/** Differences between two descriptions, as readable lines (empty when equal). */
export function diffTrees(a: TreeDescription, b: TreeDescription, opts: { ignore?: (keyof NodeInfo)[] } = {}): string[] {
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
    out.push(`hard-link groups differ: ${JSON.stringify(a.linkGroups).slice(0, 500)} != ${JSON.stringify(b.linkGroups).slice(0, 500)}`);
  return out;
}
