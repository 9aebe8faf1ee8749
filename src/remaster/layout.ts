// Which live medium this is, from its file list, and which of its files a remaster touches:
// - casper (Ubuntu): casper/filesystem.squashfs, casper/filesystem.size, casper/filesystem.manifest,
//   casper/filesystem.manifest-remove and -minimal-remove where present, md5sum.txt;
// - live-boot (Debian live-build): live/filesystem.squashfs, live/filesystem.size and live/filesystem.packages
//   (and -remove) where present, sha256sum.txt / md5sum.txt, live/*.module.
// The session's own persistence layers (every other image the initramfs would stack from that directory,
// casper-snapshot's zz-TAG.squashfs and the .NAME.prev-INODE it keeps linked) are left out: the new root
// already holds what they held, and stacked above it they would hide its changes. A signature of the old
// image (filesystem.squashfs.gpg) no longer matches and is left out too.
import { posix } from 'node:path';
import { CasperError } from '../errors.js';

export type MediumFamily = 'casper' | 'live-boot';

export interface ChecksumFile {
  path: string;
  algorithm: 'md5' | 'sha256';
}

export interface MediumLayout {
  family: MediumFamily;
  /** The layer directory: /casper or /live. */
  dir: string;
  /** The image the new root replaces. */
  squashfs: string;
  /** filesystem.size: present, or (casper) to be added; null when the medium has none (live-boot). */
  size: string | null;
  /** The package list (casper's filesystem.manifest, live-build's filesystem.packages), where present. */
  manifest: string | null;
  /** Packages an installer removes after installing (…-remove), where present. */
  removeLists: string[];
  checksums: ChecksumFile[];
  /** Files of the base not carried over, with why. */
  leftOut: { path: string; why: string }[];
  /** live-boot's module files listing the layers to stack. */
  moduleFiles: string[];
  /** Boot loader configuration files (GRUB's and SYSLINUX's *.cfg), read to find the kernel and initrd. */
  bootConfigs: string[];
}

/** The images live-boot stacks from live/ (besides directories, which a file list does not hold). */
const LIVE_BOOT_LAYER = /\.(squashfs|ext[234]|xfs|jffs2)$/;
/** The replaced images casper-snapshot keeps linked on a medium while they are loop-mounted. */
const KEPT_LINKED = /^\..+\.prev-\d+$/;

const CHECKSUM_FILES: ChecksumFile[] = [
  { path: '/md5sum.txt', algorithm: 'md5' },
  { path: '/sha256sum.txt', algorithm: 'sha256' },
];

const inDir = (files: Map<string, number>, dir: string) =>
  [...files.keys()].filter((p) => posix.dirname(p) === dir).map((p) => posix.basename(p));

function layerLeftOut(family: MediumFamily, dir: string, names: string[]): { path: string; why: string }[] {
  const out: { path: string; why: string }[] = [];
  for (const n of names.sort()) {
    if (n === 'filesystem.squashfs') continue;
    if (KEPT_LINKED.test(n))
      out.push({
        path: `${dir}/${n}`,
        why: 'an earlier persistence image casper-snapshot kept linked while it was in use',
      });
    else if (family === 'casper' ? n.endsWith('.squashfs') : LIVE_BOOT_LAYER.test(n))
      out.push({
        path: `${dir}/${n}`,
        why: `a layer the initramfs would stack over the new root (a persistence image): the new root holds what the session saw`,
      });
    else if (n === 'filesystem.squashfs.gpg')
      out.push({ path: `${dir}/${n}`, why: 'the signature of the replaced image' });
  }
  return out;
}

export function recogniseLayout(files: Map<string, number>, where: string): MediumLayout {
  const casper = files.has('/casper/filesystem.squashfs');
  const live = files.has('/live/filesystem.squashfs');
  if (casper && live)
    throw new CasperError(
      `${where} holds both casper/filesystem.squashfs and live/filesystem.squashfs: which one boots is not clear; remaster one layout at a time`,
      'ELAYOUT',
      { path: where },
    );
  if (!casper && !live) {
    const layered = inDir(files, '/casper').filter((n) => n.endsWith('.squashfs'));
    if (layered.length)
      throw new CasperError(
        `${where} is a layered casper medium (${layered.join(', ')}; Ubuntu 24.04 and later): remaster replaces casper/filesystem.squashfs and cannot rebuild a layer chain`,
        'ELAYOUT',
        { path: where },
      );
    throw new CasperError(
      `${where} is not a casper or live-boot medium: neither casper/filesystem.squashfs nor live/filesystem.squashfs is on it`,
      'ELAYOUT',
      { path: where },
    );
  }
  const family: MediumFamily = casper ? 'casper' : 'live-boot';
  const dir = casper ? '/casper' : '/live';
  const has = (p: string) => files.has(p);
  const present = (ps: string[]) => ps.filter(has);
  const names = inDir(files, dir);
  return {
    family,
    dir,
    squashfs: `${dir}/filesystem.squashfs`,
    size: has(`${dir}/filesystem.size`) || casper ? `${dir}/filesystem.size` : null,
    manifest: present([casper ? '/casper/filesystem.manifest' : '/live/filesystem.packages'])[0] ?? null,
    removeLists: present(
      casper
        ? ['/casper/filesystem.manifest-remove', '/casper/filesystem.manifest-minimal-remove']
        : ['/live/filesystem.packages-remove'],
    ),
    checksums: CHECKSUM_FILES.filter((c) => has(c.path)),
    leftOut: layerLeftOut(family, dir, names),
    moduleFiles: casper ? [] : names.filter((n) => n.endsWith('.module')).map((n) => `${dir}/${n}`),
    bootConfigs: [...files.keys()].filter((p) => p.endsWith('.cfg') && (files.get(p) ?? 0) < 1 << 20).sort(),
  };
}
