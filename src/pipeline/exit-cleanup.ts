// What a run must undo if the process is stopped by a signal: the CLI's handlers end the process at once (native
// work on other threads is not waited for), so `finally` blocks never run; each piece of work that leaves something
// on disk or a child process registers how to remove it, synchronously, for as long as it exists.
const cleanups = new Set<() => void>();

/** Registers fn to run if the process is stopped; call the returned function once fn is no longer needed. */
export function onStop(fn: () => void): () => void {
  cleanups.add(fn);
  return () => cleanups.delete(fn);
}

/** Runs every registered clean-up (for signal handlers); one that fails does not stop the others. */
export function runStopCleanups(): void {
  for (const fn of [...cleanups].reverse()) {
    try {
      fn();
    } catch {
      /* best effort: the process is going */
    }
  }
  cleanups.clear();
}
