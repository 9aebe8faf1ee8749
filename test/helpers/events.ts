// Waiting on events rather than sleeping: a file appearing (inotify, through fs.watch on its directory).
import { existsSync, watch } from 'node:fs';
import { basename, dirname } from 'node:path';

/**
 * Resolves 'exists' once `path` exists, 'ended' if `until` settles first (e.g. the process that should make it
 * exited), 'timeout' after deadlineMs. The directory is watched before the first look, so a file made in
 * between is not missed; a file made through a bind mount of the directory is seen too (inotify watches the
 * inode, whatever the path).
 */
export function waitForFile(
  path: string,
  o: { deadlineMs: number; until?: Promise<unknown> },
): Promise<'exists' | 'ended' | 'timeout'> {
  return new Promise((resolve) => {
    const name = basename(path);
    let timer: NodeJS.Timeout | undefined;
    const watcher = watch(dirname(path), (_event, f) => {
      if ((f === null || f === name) && existsSync(path)) finish('exists');
    });
    const finish = (r: 'exists' | 'ended' | 'timeout') => {
      watcher.close();
      clearTimeout(timer);
      resolve(r);
    };
    if (existsSync(path)) return finish('exists');
    timer = setTimeout(() => finish('timeout'), o.deadlineMs);
    o.until?.then(
      () => finish(existsSync(path) ? 'exists' : 'ended'),
      () => finish(existsSync(path) ? 'exists' : 'ended'),
    );
  });
}
