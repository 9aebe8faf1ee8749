// Building source trees for tests: files, special files, owners, times, xattrs.
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  lutimesSync,
  mkdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  linkSync,
  utimesSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { must } from './tools.js';

export function file(path: string, data: string | Buffer, mode = 0o644): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, data);
  chmodSync(path, mode);
}

export function dir(path: string, mode = 0o755): void {
  mkdirSync(path, { recursive: true });
  chmodSync(path, mode);
}

export function symlink(target: string, path: string): void {
  symlinkSync(target, path);
}

export function hardlink(existing: string, path: string): void {
  linkSync(existing, path);
}

export function mknod(path: string, kind: 'c' | 'b' | 'p', major = 0, minor = 0): void {
  must('mknod', kind === 'p' ? [path, 'p'] : [path, kind, String(major), String(minor)]);
}

export function socket(path: string): void {
  must('python3', ['-c', 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])', path]);
}

export function owner(path: string, uid: number, gid: number): void {
  chownSync(path, uid, gid);
}

export function setXattr(path: string, key: string, value: string): void {
  must('setfattr', ['-h', '-n', key, '-v', value, path]);
}

export function mtime(path: string, seconds: number, isLink = false): void {
  if (isLink) lutimesSync(path, seconds, seconds);
  else utimesSync(path, seconds, seconds);
}

/** Deterministic pseudo-random bytes (xorshift), compressible to a chosen degree: `alphabet` distinct byte values. */
export function bytes(n: number, seed: number, alphabet = 256): Buffer {
  const b = Buffer.alloc(n);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b[i] = x % alphabet;
  }
  return b;
}

/** getfattr/setfattr's quoting of a file name: bytes outside printable ASCII, and the backslash, as \ooo. */
function quoteName(p: Buffer): string {
  let out = '';
  for (const c of p)
    out += c > 0x20 && c < 0x7f && c !== 0x5c ? String.fromCharCode(c) : '\\' + c.toString(8).padStart(3, '0');
  return out;
}

export interface XattrSpec {
  path: string | Buffer;
  key: string;
  value: string | Buffer;
}

/** Sets many xattrs with one setfattr run (never following symlinks); paths should be absolute. */
export function setXattrs(list: XattrSpec[], scratchDir: string): void {
  if (list.length === 0) return;
  const lines: string[] = [];
  for (const x of list) {
    const v = Buffer.from(x.value);
    lines.push(
      `# file: ${quoteName(Buffer.from(x.path))}`,
      `${x.key}=${v.length ? '0x' + v.toString('hex') : '""'}`,
      '',
    );
  }
  const dump = join(scratchDir, `.xattrs-${process.pid}-${Date.now()}`);
  writeFileSync(dump, lines.join('\n') + '\n');
  try {
    must('setfattr', ['-h', `--restore=${dump}`]);
  } finally {
    rmSync(dump, { force: true });
  }
}

export interface SpecialSpec {
  path: string | Buffer;
  kind: 'c' | 'b' | 'p' | 's';
  major?: number;
  minor?: number;
}

/** Creates many devices, fifos and sockets with one python3 run (paths may hold any byte). */
export function makeSpecials(list: SpecialSpec[]): void {
  if (list.length === 0) return;
  const spec = list.map((s) => [Buffer.from(s.path).toString('hex'), s.kind, s.major ?? 0, s.minor ?? 0]);
  const script = `
import json, os, socket, stat, sys
for p, k, ma, mi in json.load(sys.stdin):
    p = bytes.fromhex(p)
    if k == 's':
        # sun_path holds 108 bytes: bind a short name in the socket's directory, then rename it.
        d, n = os.path.split(p)
        t = os.path.join(d, b'.sock-%d' % os.getpid())
        cwd = os.open('.', os.O_RDONLY)
        os.chdir(d or b'.')
        s = socket.socket(socket.AF_UNIX); s.bind(os.path.basename(t)); s.close()
        os.fchdir(cwd); os.close(cwd)
        os.rename(t, p)
    elif k == 'p':
        os.mkfifo(p)
    else:
        os.mknod(p, 0o600 | (stat.S_IFCHR if k == 'c' else stat.S_IFBLK), os.makedev(ma, mi))
`;
  const r = spawnSync('python3', ['-c', script], { input: JSON.stringify(spec), encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`creating special files failed: ${r.stderr}`);
}
