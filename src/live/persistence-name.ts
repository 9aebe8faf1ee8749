// Names a snapshot so casper stacks it at the next boot (casper's layered-media and overlay-glob rules):
// - layered media (layerfs-path=minimal.standard.live.squashfs): casper derives the parent chain by
//   stripping the last .component, so <top-layer>.<tag>.squashfs booted with layerfs-path=<that> sits on
//   top of the existing layers;
// - non-layered media (filesystem.squashfs): casper stacks every *.squashfs of /casper in glob order, the
//   last one topmost, so zz-<tag>.squashfs sorts after filesystem.squashfs.
// The non-layered route is boot-tested (test/boot-cycle.test.ts, casper's stacking reproduced), the layered
// one is not; the medium must be writable (a USB stick, remounted rw) for the image to
// land there.
import { basename, dirname, join } from 'node:path';
import type { LiveLayout } from '../mount/index.js';
import { UsageError } from '../errors.js';

export interface PersistenceName {
  output: string;
  /** The kernel command-line option to boot with, when one is needed. */
  bootOption: string | null;
}

export function casperPersistenceName(layout: LiveLayout, tag: string): PersistenceName {
  if (!/^[A-Za-z0-9_-]+$/.test(tag)) throw new UsageError(`persistence tag must be letters, digits, '-' or '_', got '${tag}'`);
  if (layout.kind !== 'casper') throw new UsageError(`persistence naming is for casper (Ubuntu) media; this root is ${layout.kind}`);
  const top = layout.lowers[0];
  if (!top?.image) throw new UsageError('persistence naming needs the medium: the top layer image was not found on it');
  const dir = dirname(top.image);
  const name = basename(top.image);
  if (layout.lowers.length > 1) {
    const layered = `${name.replace(/\.squashfs$/, '')}.${tag}.squashfs`;
    return { output: join(dir, layered), bootOption: `layerfs-path=${layered}` };
  }
  return { output: join(dir, `zz-${tag}.squashfs`), bootOption: null };
}
