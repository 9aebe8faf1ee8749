// The cancel flags of the snapshots running in this process, so that a signal handler can stop their native
// work before it exits: at exit, Node waits for every libuv pool thread to finish its job (a base being read or
// compared, a walk, a data phase on libuv's threads), so a run ends on a signal only as fast as its threads
// look at their cancel flag.
const running = new Set<Int32Array>();

/** Registers a snapshot's cancel flag; call the returned function when the snapshot ends. */
export function trackCancel(flag: Int32Array): () => void {
  running.add(flag);
  return () => running.delete(flag);
}

/** Sets the cancel flag of every running snapshot (their native loops poll it). */
export function cancelAll(): void {
  for (const flag of running) Atomics.store(flag, 0, 1);
}
