// Building source trees for tests: files, special files, owners, times, xattrs.
import { chmodSync, chownSync, lutimesSync, mkdirSync, symlinkSync, writeFileSync, linkSync, utimesSync } from 'node:fs';
import { dirname } from 'node:path';
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
