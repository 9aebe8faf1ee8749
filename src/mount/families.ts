// What each live system's union looks like and where its pieces end up after switch_root
// (from casper, live-boot, Slax and overlayroot initramfs scripts): the signature in the mount options, initramfs paths that moved, the medium.

export type LiveFamily = 'casper' | 'live-boot' | 'slax' | 'overlayroot';

/** The live system behind a union, from its source string and (normalised) layer paths. */
export function familyOf(source: string, upper: string | null, lowers: string[]): LiveFamily | null {
  const any = (re: RegExp) => (upper !== null && re.test(upper)) || lowers.some((l) => re.test(l));
  if (source === '/cow' || (upper !== null && /^\/cow(\/|$)/.test(upper))) return 'casper';
  if (any(/^\/(run\/live|lib\/live\/mount|usr\/lib\/live\/mount)\//)) return 'live-boot';
  if (upper !== null && /^(\/run\/initramfs)?\/memory\/changes(\/|$)/.test(upper)) return 'slax';
  if (source === 'overlayroot' || upper?.startsWith('/media/root-rw/')) return 'overlayroot';
  return null;
}

/** Other places an initramfs path may be reachable at after switch_root. */
export function relocations(fam: LiveFamily | null, p: string): string[] {
  if (fam === 'slax' && p.startsWith('/memory/')) return ['/run/initramfs' + p]; // linux-live keeps /memory there
  if (fam === 'live-boot' && p.startsWith('/lib/live/mount/'))
    return ['/run/live/' + p.slice('/lib/live/mount/'.length)];
  return [];
}

export const MEDIUM: Record<LiveFamily, string[]> = {
  casper: ['/cdrom'],
  'live-boot': ['/run/live/medium', '/lib/live/mount/medium', '/usr/lib/live/mount/medium'],
  slax: ['/run/initramfs/memory/data'],
  overlayroot: [],
};

/** Directory on the medium where each family keeps its layer images. */
export const IMAGE_DIR: Record<LiveFamily, string | null> = {
  casper: 'casper',
  'live-boot': 'live',
  slax: null,
  overlayroot: null,
};

/** Where each family keeps its own machinery in the running system (never part of a capture). */
export const LIVE_PATHS: Record<LiveFamily, string[]> = {
  casper: ['/cow', '/rofs', '/cdrom'],
  'live-boot': ['/run/live', '/lib/live/mount', '/usr/lib/live/mount'],
  slax: ['/run/initramfs'],
  overlayroot: ['/media/root-ro', '/media/root-rw'],
};
