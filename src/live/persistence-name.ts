// Names a snapshot so that the live system's own initramfs stacks it on top at the next boot:
// - casper, layered media (layerfs-path=minimal.standard.live.squashfs): casper derives the parent chain by
//   stripping the last .component, so <top-layer>.<tag>.squashfs booted with layerfs-path=<that> sits on top
//   of the existing layers;
// - casper, non-layered media (filesystem.squashfs): casper stacks every /casper/*.squashfs in glob order, the
//   last one topmost, so zz-<tag>.squashfs sorts after filesystem.squashfs;
// - live-boot: every image of live/ (squashfs, ext2-4, xfs, jffs2, dir) in sort order, the last on top — or,
//   when a module file lists them, in its order (the save then makes the image its last entry:
//   live/live-boot-module.ts) — so live/zz-<tag>.squashfs.
// A name something else would sort after is refused: that layer would hide the snapshot's changes.
// Saving again in a session booted from the image writes the whole accumulated delta (live/replaced-layer.ts).
import { readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { LiveLayout } from '../mount/index.js';
import { UsageError } from '../errors.js';
import { bootModule, moduleFile } from './live-boot-module.js';

export interface PersistenceName {
  output: string;
  /** The kernel command-line option to boot with, when one is needed. */
  bootOption: string | null;
}

export interface NamingReaders {
  /** Names in a directory (default: readdirSync; [] when unreadable). */
  list?: (dir: string) => string[];
  /** The module file live-boot reads in a directory, or null (default: live-boot-module.ts). */
  moduleFile?: (dir: string) => string | null;
}

function listNames(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Refuses a name that some other layer image sorts after (it would be stacked above the snapshot). */
function checkSortsLast(dir: string, name: string, layerTypes: RegExp, names: string[], how: string): void {
  const after = names
    .filter((n) => n !== name && layerTypes.test(n) && Buffer.compare(Buffer.from(n), Buffer.from(name)) > 0)
    .sort();
  if (after.length > 0)
    throw new UsageError(
      `${how}: '${after[after.length - 1]}' in ${dir} sorts after '${name}' and would be stacked above the snapshot, hiding its changes; choose a tag that sorts later`,
    );
}

export function persistenceName(layout: LiveLayout, tag: string, readers: NamingReaders = {}): PersistenceName {
  if (!/^[A-Za-z0-9_-]+$/.test(tag))
    throw new UsageError(`persistence tag must be letters, digits, '-' or '_', got '${tag}'`);
  const list = readers.list ?? listNames;
  if (layout.family === 'casper') {
    const top = layout.lowers[0];
    if (!top?.image)
      throw new UsageError('persistence naming needs the medium: the top layer image was not found on it');
    const dir = dirname(top.image);
    const stems = layout.lowers.map((l) =>
      basename(l.image ?? l.shownAs.replace(/\/+$/, '')).replace(/\.squashfs$/, ''),
    );
    // Layered media: each layer's name extends the one beneath it by a .component (a snapshot's included).
    const layered = stems.length > 1 && stems.every((s, i) => i === 0 || stems[i - 1].startsWith(s + '.'));
    if (layered) {
      // Booted from an earlier snapshot of this tag, its slot is the top layer itself.
      const named = stems[0].endsWith(`.${tag}`) ? `${stems[0]}.squashfs` : `${stems[0]}.${tag}.squashfs`;
      return { output: join(dir, named), bootOption: `layerfs-path=${named}` };
    }
    const own = `zz-${tag}.squashfs`;
    checkSortsLast(
      dir,
      own,
      /\.squashfs$/,
      list(dir),
      'casper stacks casper/*.squashfs in sort order, the last on top',
    );
    return { output: join(dir, own), bootOption: null };
  }
  if (layout.family === 'live-boot') {
    if (!layout.medium)
      throw new UsageError('persistence naming needs the live medium (/run/live/medium), which is not mounted here');
    const dir = join(layout.medium, 'live');
    const own = `zz-${tag}.squashfs`;
    const listed = (readers.moduleFile ?? ((d: string) => moduleFile(d, bootModule())))(dir);
    if (!listed)
      checkSortsLast(
        dir,
        own,
        /\.(squashfs|ext[234]|xfs|jffs2|dir)$/,
        list(dir),
        'live-boot stacks the live/ images in sort order, the last on top',
      );
    return { output: join(dir, own), bootOption: null };
  }
  throw new UsageError(
    `persistence naming is for casper (Ubuntu) and live-boot (Debian) media; this root is ${layout.kind}`,
  );
}
