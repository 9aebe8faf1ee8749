// A one-line progress bar on stderr when it is a terminal (or with --progress); silent otherwise.
import { spawnSync } from 'node:child_process';
import type { Progress } from '../api/snapshot.js';

export interface ProgressReporter {
  update: (p: Progress) => void;
  done: () => void;
}

function mib(n: number): string {
  return (n / 1048576).toFixed(1);
}

/** Time left in the data phase at the current rate, as m:ss ("--:--" before there is a rate). */
export function eta(p: Pick<Progress, 'bytesIn' | 'bytesTotal' | 'rate'>): string {
  if (p.rate <= 0 || p.bytesTotal <= 0) return '--:--';
  const s = Math.max(0, Math.ceil((p.bytesTotal - p.bytesIn) / p.rate));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

export function progressReporter(o: { quiet?: boolean; json?: boolean; progress?: boolean }): ProgressReporter {
  const stream = process.stderr;
  const on = !o.quiet && (o.progress === true || (stream.isTTY && o.progress !== false));
  if (!on) return { update: () => {}, done: () => {} };
  const color = !process.env.NO_COLOR && stream.isTTY;
  let last = 0;
  let drawn = false;
  return {
    update(p) {
      const now = Date.now();
      if ((p.phase === 'data' || p.phase === 'verify') && now - last < 100) return;
      last = now;
      const width = 30;
      // The walk gives the totals; the bar fills with the bytes read during the data phase.
      // --verify: it fills again with the image bytes read back.
      const frac =
        p.phase === 'walk'
          ? 0
          : p.phase === 'data'
            ? p.bytesTotal > 0 ? Math.min(1, p.bytesIn / p.bytesTotal) : 0
            : p.phase === 'verify'
              ? p.verifyBytesTotal ? Math.min(1, (p.verifyBytes ?? 0) / p.verifyBytesTotal) : 0
              : 1;
      const fill = Math.round(frac * width);
      const bar = color ? `\x1b[32m${'█'.repeat(fill)}\x1b[0m${'░'.repeat(width - fill)}` : `${'#'.repeat(fill)}${'-'.repeat(width - fill)}`;
      let line = `${p.phase.padEnd(6)} [${bar}] ${String(Math.floor(frac * 100)).padStart(3)}% ${mib(p.bytesIn)}/${mib(p.bytesTotal)} MiB in, ${mib(p.bytesOut)} MiB out`;
      if (p.phase === 'data') line += `, ${mib(p.rate)} MiB/s, ETA ${eta(p)}`;
      if (p.phase === 'verify') line = `${p.phase.padEnd(6)} [${bar}] ${String(Math.floor(frac * 100)).padStart(3)}% ${mib(p.verifyBytes ?? 0)}/${mib(p.verifyBytesTotal ?? 0)} MiB of the image read back`;
      stream.write(stream.isTTY ? `\r${line}\x1b[K` : `${line}\n`);
      drawn = true;
    },
    done() {
      if (drawn && stream.isTTY) stream.write('\n');
    },
  };
}

/** Progress as Plymouth messages (the boot splash at shutdown), when plymouthd is running; at most every 2 s. */
export function plymouthReporter(): ProgressReporter & { failed(message: string): void } {
  const running = spawnSync('plymouth', ['--ping']).status === 0;
  if (!running) return { update: () => {}, done: () => {}, failed: () => {} };
  const say = (text: string) => spawnSync('plymouth', ['message', `--text=${text}`]);
  let last = 0;
  let total = 0;
  return {
    update(p) {
      if (p.phase === 'tables' || p.phase === 'commit') total = p.bytesIn;
      const now = Date.now();
      if ((p.phase === 'data' || p.phase === 'verify') && now - last < 2000) return;
      last = now;
      if (p.phase === 'walk') say('Saving the live session: scanning files…');
      else if (p.phase === 'data') say(`Saving the live session: ${mib(p.bytesIn)} of ${mib(p.bytesTotal)} MiB, ${eta(p)} left…`);
      else if (p.phase === 'tables') say('Saving the live session: finishing…');
      else if (p.phase === 'verify') say('Saving the live session: checking the new image…');
      else if (p.phase === 'done') say(`Live session saved (${mib(total)} MiB of files).`);
    },
    done: () => {},
    failed: (message) => say(`The live session was NOT saved: ${message}`),
  };
}
