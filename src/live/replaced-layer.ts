// Cumulative saves: which of the running system's lower layers the image being written replaces.
//
// A session booted with an earlier snapshot stacked as a lower layer sees that snapshot's changes through the
// merged view, but its upper layer holds only what changed since. An image that replaces the earlier one must
// therefore hold everything every earlier session changed and this one kept: the delta of the merged view
// against the layers *beneath* the one replaced. This finds that layer: the output (or the base) is the file a
// lower layer was loop-mounted from (same device and inode), or sits at the path that layer's image was set up
// from (the stack slot the next boot fills with it, also after an earlier save of this session replaced the
// file the loop device still holds).
import { realpathSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { LiveLayout, LowerLayer } from '../mount/index.js';

export interface ReplacedLayer {
  /** Index in layout.lowers (topmost first). */
  index: number;
  layer: LowerLayer;
  /** The image file of that layer, and the path given (output or base) that matched it. */
  image: string;
  matched: string;
  /** How the two were found to be one: the same inode, or the same path (the layer's file was replaced since). */
  by: 'inode' | 'path';
}

const DELETED = ' (deleted)';

/** An absolute path with its directory's symlinks resolved (the file itself need not exist). */
function canonical(p: string): string {
  const abs = resolve(p);
  try {
    return join(realpathSync(dirname(abs)), basename(abs));
  } catch {
    return abs;
  }
}

function inodeOf(p: string): string | null {
  try {
    const st = statSync(p, { bigint: true });
    return st.isFile() ? `${st.dev}:${st.ino}` : null;
  } catch {
    return null;
  }
}

/** The image files a layer is known by: its image on the medium (found by name) and its loop device's file. */
function layerFiles(l: LowerLayer): { path: string; live: boolean }[] {
  const out: { path: string; live: boolean }[] = [];
  if (l.image) out.push({ path: l.image, live: true });
  if (l.backing) {
    const deleted = l.backing.endsWith(DELETED);
    out.push({ path: deleted ? l.backing.slice(0, -DELETED.length) : l.backing, live: !deleted });
  }
  return out;
}

/** The topmost lower layer whose image is one of `paths` (the output, the base), or null. */
export function findReplacedLayer(layout: LiveLayout, paths: (string | undefined | null)[]): ReplacedLayer | null {
  const targets = paths
    .filter((p): p is string => !!p)
    .map((p) => ({ given: p, path: canonical(p), inode: inodeOf(p) }));
  if (targets.length === 0) return null;
  for (let index = 0; index < layout.lowers.length; index++) {
    const layer = layout.lowers[index];
    for (const f of layerFiles(layer)) {
      const path = canonical(f.path);
      const inode = f.live ? inodeOf(f.path) : null;
      for (const t of targets) {
        if (inode && t.inode === inode) return { index, layer, image: path, matched: t.given, by: 'inode' };
        if (t.path === path) return { index, layer, image: path, matched: t.given, by: 'path' };
      }
    }
  }
  return null;
}
