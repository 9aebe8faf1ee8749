// Acting on a source while a snapshot of it runs: a slow source, and a CLI run that calls act() once the
// data phase has begun (the walk is done), as a busy system or another user would.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { bytes, dir, file } from './make-tree.js';
import { cliPath } from './tools.js';

/** A source that takes a few seconds to compress on one job at level 9. */
export function slowSource(root: string): void {
  dir(root);
  const words = bytes(1 << 20, 42, 40);
  for (let i = 0; i < 48; i++) file(join(root, `big${i}`), Buffer.concat([words, Buffer.from(String(i))]));
}

/**
 * Runs the CLI with --progress and calls act(child) once, when the data phase has begun and the walk is done:
 * the first 'data' progress line on stderr whose totals are final (no "+": the walk may run beside the data
 * phase, and what it has not seen yet it sees as it is then). With deadlineMs, a run still going then is killed
 * and reported as hung (code null).
 */
export function runActingDuringData(
  args: string[],
  act: (child: ChildProcess) => void,
  opts: { deadlineMs?: number } = {},
): Promise<{ code: number | null; stderr: string; hung: boolean }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [process.env.CASPER_TEST_CLI ?? cliPath, ...args, '--progress']);
    let hung = false;
    const timer = opts.deadlineMs
      ? setTimeout(() => {
          hung = true;
          c.kill('SIGKILL');
        }, opts.deadlineMs)
      : undefined;
    let stderr = '';
    let acted = false;
    c.stderr.on('data', (d) => {
      stderr += d;
      if (!acted && /^data .* \d+\/\d+ entries/m.test(stderr)) {
        acted = true;
        act(c);
      }
    });
    c.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, hung });
    });
  });
}

/**
 * Holds a process at its first open of `path` (a directory's opendir, a file's open) until release(): a
 * fanotify permission event (FAN_OPEN_PERM), so a test can change the tree at exactly that point of a walk,
 * with no timing involved. A small python3 helper (ctypes, no module to install) holds the fanotify group;
 * needs CAP_SYS_ADMIN. `ready` rejects with the reason when fanotify permission events are not available.
 * opened(pid): resolves when process pid (its threads included) is held in open(); other processes' opens
 * are let through. stop() lets everything through.
 */
export function holdFirstOpen(path: string): {
  ready: Promise<void>;
  opened: (pid: number) => Promise<void>;
  release: () => void;
  stop: () => void;
} {
  const script = `
import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.fanotify_mark.argtypes = [ctypes.c_int, ctypes.c_uint, ctypes.c_uint64, ctypes.c_int, ctypes.c_char_p]
FAN_CLASS_CONTENT, FAN_CLOEXEC, FAN_MARK_ADD, FAN_OPEN_PERM, FAN_ONDIR, FAN_ALLOW, AT_FDCWD = 0x4, 0x1, 0x1, 0x10000, 0x40000000, 0x1, -100
fd = libc.fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC, os.O_RDONLY)
if fd < 0: sys.exit('fanotify_init: ' + os.strerror(ctypes.get_errno()))
if libc.fanotify_mark(fd, FAN_MARK_ADD, FAN_OPEN_PERM | FAN_ONDIR, AT_FDCWD, sys.argv[1].encode()) < 0:
  sys.exit('fanotify_mark: ' + os.strerror(ctypes.get_errno()))
print('ready', flush=True)
pid = int(sys.stdin.readline())
while True:
  buf, off = os.read(fd, 4096), 0
  while off < len(buf):
    length, _, _, _, _, efd, epid = struct.unpack_from('=IBBHQii', buf, off)
    off += length
    if epid == pid:
      print('opened', flush=True)
      sys.stdin.readline()
    os.write(fd, struct.pack('=iI', efd, FAN_ALLOW))
    os.close(efd)
    if epid == pid: sys.exit(0)
`;
  const c = spawn('python3', ['-c', script, path], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const waiters: { re: RegExp; resolve: () => void; reject: (e: Error) => void }[] = [];
  const check = () => {
    for (const w of [...waiters]) {
      if (!w.re.test(out)) continue;
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  };
  const wait = (re: RegExp) =>
    new Promise<void>((resolve, reject) => {
      waiters.push({ re, resolve, reject });
      check();
    });
  c.stdout.on('data', (d) => {
    out += d;
    check();
  });
  c.stderr.on('data', (d) => (err += d));
  c.stdin.on('error', () => {}); // the helper may be gone (stopped, or fanotify missing): its exit says why
  c.on('exit', (code) => {
    const e = new Error(err.trim() || `the fanotify helper for ${path} exited (${code})`);
    for (const w of waiters.splice(0)) w.reject(e);
  });
  return {
    ready: wait(/^ready$/m),
    opened: (pid) => {
      c.stdin.write(`${pid}\n`);
      return wait(/^opened$/m);
    },
    release: () => c.stdin.write('\n'),
    stop: () => c.kill('SIGKILL'),
  };
}
