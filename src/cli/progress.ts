// Progress on stderr: a one-line bar redrawn in place on a terminal (fitted to its width), plain lines with
// --progress when stderr is not a terminal, JSON lines with --progress=json (for a program driving the CLI,
// e.g. through pkexec), and Plymouth messages at shutdown.
import { spawnSync } from 'node:child_process';
import { writeSync } from 'node:fs';
import type { Progress } from '../api/snapshot.js';

export interface ProgressReporter {
  update: (p: Progress) => void;
  /** The job is over (or failed): ends the bar's line. */
  done: () => void;
}

function mib(n: number): string {
  return (n / 1048576).toFixed(1);
}

/** Time left in the data phase at the current rate, as m:ss ("--:--" before there is a rate). */
export function eta(p: Pick<Progress, 'bytesIn' | 'bytesTotal' | 'rate' | 'walking'>): string {
  // While the walk goes on beside the data phase the total still grows: no estimate yet.
  if (p.rate <= 0 || p.bytesTotal <= 0 || p.walking) return '--:--';
  const s = Math.max(0, Math.ceil((p.bytesTotal - p.bytesIn) / p.rate));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** The share of the work the bar shows: 0 in the walk, the bytes read in the data phase, the image read back in verify. */
export function fraction(p: Progress): number {
  if (p.phase === 'walk') return 0;
  if (p.phase === 'data') return p.bytesTotal > 0 ? Math.min(1, p.bytesIn / p.bytesTotal) : 0;
  if (p.phase === 'verify') return p.verifyBytesTotal ? Math.min(1, (p.verifyBytes ?? 0) / p.verifyBytesTotal) : 0;
  return 1;
}

const BAR_MAX = 30;
const BAR_MIN = 10;

/** A field after the bar; `rank`: the lower, the longer it stays when the line must be shortened. */
interface Field {
  text: string;
  rank: number;
}

function fieldsOf(p: Progress): Field[] {
  if (p.phase === 'walk')
    return [
      { text: `${p.entriesDone} entries`, rank: 0 },
      { text: `${mib(p.bytesTotal)} MiB found`, rank: 1 },
    ];
  if (p.phase === 'data') {
    // "+": the walk still goes on beside the data phase, the totals are what it has found so far.
    const more = p.walking ? '+' : '';
    return [
      { text: `${mib(p.bytesIn)}/${mib(p.bytesTotal)}${more} MiB in`, rank: 1 },
      { text: `${mib(p.bytesOut)} MiB out`, rank: 4 },
      { text: `${p.entriesDone}/${p.entriesTotal}${more} entries`, rank: 2 },
      { text: `${mib(p.rate)} MiB/s`, rank: 3 },
      { text: `ETA ${eta(p)}`, rank: 0 },
    ];
  }
  if (p.phase === 'verify') {
    const f = [{ text: `${mib(p.verifyBytes ?? 0)}/${mib(p.verifyBytesTotal ?? 0)} MiB read back`, rank: 0 }];
    if (p.restoreEntries !== undefined) f.push({ text: `${p.restoreEntries} entries compared`, rank: 1 });
    return f;
  }
  return [
    { text: `${mib(p.bytesIn)} MiB in`, rank: 0 },
    { text: `${mib(p.bytesOut)} MiB out`, rank: 1 },
    { text: `${p.entriesDone}/${p.entriesTotal} entries`, rank: 2 },
  ];
}

/**
 * One progress line. Without `columns` (not a terminal) every field is given; with it the line fits in
 * columns - 1 characters (a character in the last column makes some terminals wrap): the least useful fields
 * are dropped first (MiB out, rate, entries, bytes in), then the bar narrows (to 10 cells), then goes.
 */
export function progressLine(p: Progress, columns?: number, color = false): string {
  const phase = p.phase.padEnd(6);
  const frac = fraction(p);
  // Floor, not round: 100 % and a full bar only when the work is done (98 % shows 29 of 30 cells).
  const pct = `${String(Math.floor(frac * 100)).padStart(3)}%`;
  const fields = fieldsOf(p);
  const withBar = p.phase !== 'walk';
  const render = (bar: number, keep: number) => {
    const kept = fields
      .filter((f) => f.rank < keep)
      .map((f) => f.text)
      .join(', ');
    const head = !withBar ? phase : bar > 0 ? `${phase} [${'#'.repeat(bar)}] ${pct}` : `${phase} ${pct}`;
    return kept ? `${head} ${kept}` : head;
  };
  if (columns === undefined) return paint(render(withBar ? BAR_MAX : 0, fields.length), frac, BAR_MAX, color);
  const room = Math.max(1, columns - 1);
  for (let keep = fields.length; keep >= 0; keep--) {
    const bare = render(0, keep);
    if (!withBar) {
      if (bare.length <= room) return bare;
      continue;
    }
    const bar = Math.min(BAR_MAX, room - bare.length - 3); // " [" and "]"
    if (bar >= BAR_MIN) return paint(render(bar, keep), frac, bar, color);
    if (keep === 0 && bare.length <= room) return bare;
  }
  return render(0, 0).slice(0, room);
}

/** Fills the bar's cells (drawn as '#' by progressLine) with the share done. */
function paint(line: string, frac: number, width: number, color: boolean): string {
  const at = line.indexOf('[');
  if (at < 0) return line;
  const fill = Math.floor(frac * width);
  const bar = color
    ? `\x1b[32m${'█'.repeat(fill)}\x1b[0m${'░'.repeat(width - fill)}`
    : `${'#'.repeat(fill)}${'-'.repeat(width - fill)}`;
  return line.slice(0, at + 1) + bar + line.slice(at + 1 + width);
}

/** The bar's line on the terminal, while it is drawn and not yet ended. */
let openLine: NodeJS.WriteStream | null = null;

/** Ends the bar's line so that a message printed now starts on a line of its own. */
export function endProgressLine(): void {
  if (openLine) openLine.write('\n');
  openLine = null;
}

/** Writes a message on stderr after ending the bar's line. */
export function say(text: string): void {
  endProgressLine();
  process.stderr.write(text);
}

export function progressReporter(
  o: { quiet?: boolean; progress?: boolean },
  stream: NodeJS.WriteStream = process.stderr,
): ProgressReporter {
  const on = !o.quiet && (o.progress === true || (stream.isTTY && o.progress !== false));
  if (!on) return { update: () => {}, done: () => {} };
  const color = !process.env.NO_COLOR && stream.isTTY;
  let last = 0;
  let lastPhase = '';
  let skipped: Progress | null = null; // the latest update not shown (within 100 ms of the one before)
  return {
    update(p) {
      const now = Date.now();
      if (p.phase === lastPhase && p.phase !== 'done' && now - last < 100) {
        skipped = p;
        return;
      }
      last = now;
      if (!stream.isTTY) {
        // Lines stay on screen: a phase's last state is shown before the next phase's first.
        if (skipped && skipped.phase !== p.phase) stream.write(`${progressLine(skipped)}\n`);
        skipped = null;
        lastPhase = p.phase;
        stream.write(`${progressLine(p)}\n`);
        return;
      }
      skipped = null;
      lastPhase = p.phase;
      // The width is read at each redraw: a resized terminal gets lines that fit it.
      stream.write(`\r${progressLine(p, stream.columns || 80, color)}\x1b[K`);
      openLine = stream;
    },
    done: endProgressLine,
  };
}

/**
 * --progress=json: one JSON object per line on `fd` (stderr unless --progress-fd): {"type":"progress",…} with
 * the library's Progress fields, at most every 200 ms within a phase and at each phase change. The CLI adds
 * {"type":"warning"}, {"type":"error"} and a closing {"type":"result"} (see README, "Embedding").
 */
export function jsonProgressReporter(
  fd: number,
  onReaderGone: () => void = () => {},
): ProgressReporter & { event: (o: object) => void } {
  let last = 0;
  let lastPhase = '';
  let gone = false;
  const event = (o: object) => {
    if (gone) return;
    try {
      writeSync(fd, JSON.stringify(o) + '\n');
    } catch (err) {
      // The reader went away (a program that ran us through pkexec cannot signal root): stop the job.
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return;
      gone = true;
      onReaderGone();
    }
  };
  return {
    update(p) {
      const now = Date.now();
      if (p.phase === lastPhase && p.phase !== 'done' && now - last < 200) return;
      last = now;
      lastPhase = p.phase;
      event({ type: 'progress', ...p });
    },
    done: () => {},
    event,
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
      else if (p.phase === 'data')
        say(
          p.walking
            ? `Saving the live session: ${mib(p.bytesIn)} MiB of the files found so far…`
            : `Saving the live session: ${mib(p.bytesIn)} of ${mib(p.bytesTotal)} MiB, ${eta(p)} left…`,
        );
      else if (p.phase === 'tables') say('Saving the live session: finishing…');
      else if (p.phase === 'verify') say('Saving the live session: checking the new image…');
      else if (p.phase === 'done') say(`Live session saved (${mib(total)} MiB of files).`);
    },
    done: () => {},
    failed: (message) => say(`The live session was NOT saved: ${message}`),
  };
}
