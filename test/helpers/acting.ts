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
 * Runs the CLI with --progress and calls act(child) once, when the data phase has begun (the walk is done):
 * the first 'data' progress line on stderr. With deadlineMs, a run still going then is killed and reported as
 * hung (code null).
 */
export function runActingDuringData(
  args: string[],
  act: (child: ChildProcess) => void,
  opts: { deadlineMs?: number } = {},
): Promise<{ code: number | null; stderr: string; hung: boolean }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [process.env.CASPER_TEST_CLI ?? cliPath, ...args, '--progress']);
    let hung = false;
    const timer = opts.deadlineMs ? setTimeout(() => ((hung = true), c.kill('SIGKILL')), opts.deadlineMs) : undefined;
    let stderr = '';
    let acted = false;
    c.stderr.on('data', (d) => {
      stderr += d;
      if (!acted && /^data /m.test(stderr)) {
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

