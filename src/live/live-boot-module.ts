// live-boot's layer list. Without one, live-boot stacks every image of the medium's live/ directory in sort
// order, the last name on top. A medium may instead carry a module file (live/filesystem.MODULE.module or
// live/MODULE.module, MODULE from the module= boot option, "filesystem" by default) naming the images to
// stack, in order, the last on top: an image written there is stacked only if it is listed, so after a save
// its name is made the last one (the file rewritten atomically, on the medium while it is writable).
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { LiveLayout } from '../mount/index.js';

/** The module= boot option (live-boot's MODULE), "filesystem" when absent. */
export function bootModule(cmdline?: string): string {
  let text = cmdline;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/cmdline', 'utf8');
    } catch {
      text = '';
    }
  }
  const m = /(?:^|\s)module=(\S+)/.exec(text);
  return m ? m[1] : 'filesystem';
}

/** The module file live-boot reads in `dir`, or null when it stacks by sort order. */
export function moduleFile(dir: string, module = bootModule()): string | null {
  for (const name of [`filesystem.${module}.module`, `${module}.module`])
    if (existsSync(join(dir, name))) return join(dir, name);
  return null;
}

/** The module file's images with `name` moved (or added) last; null when it is already last. */
export function listedLast(text: string, name: string): string | null {
  const names = text.split(/\s+/).filter((n) => n !== '');
  if (names[names.length - 1] === name) return null;
  return [...names.filter((n) => n !== name), name].join('\n') + '\n';
}

/**
 * After an image was written into a live-boot medium's image directory: when that directory has a module file,
 * makes the image its last (topmost) entry. Returns a note saying what was done, or null.
 */
export function keepModuleListing(layout: LiveLayout, image: string, cmdline?: string): string | null {
  if (layout.family !== 'live-boot' || !layout.medium || dirname(image) !== join(layout.medium, 'live')) return null;
  const file = moduleFile(dirname(image), bootModule(cmdline));
  if (!file) return null;
  const text = listedLast(readFileSync(file, 'utf8'), basename(image));
  if (text === null) return null;
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', 0o644);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  return `${file} lists live-boot's layers: ${basename(image)} is now its last (topmost) entry`;
}
