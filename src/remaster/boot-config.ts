// Where the medium's boot configuration loads the kernel and initrd from: GRUB's `linux`/`initrd` commands
// (and their 16/efi variants) and SYSLINUX's `kernel`/`linux` lines with `initrd=` in `append` or an
// `initrd` line. Paths are taken as ISO paths: a leading (device) or $root/${root} is dropped, a relative
// SYSLINUX path is taken from its file's directory; paths built from other variables are not followed.
import { posix } from 'node:path';

export interface BootFiles {
  /** ISO paths of kernels the configuration boots, each with the files that name it. */
  kernels: Map<string, string[]>;
  initrds: Map<string, string[]>;
}

function clean(word: string, cfg: string, syslinux: boolean): string | null {
  let p = word.replace(/^["']|["']$/g, '');
  p = p.replace(/^\([^)]*\)/, '').replace(/^\$\{?root\}?/, '');
  if (p.includes('$') || p === '') return null;
  if (!p.startsWith('/')) {
    if (!syslinux) return null;
    p = posix.join(posix.dirname(cfg), p);
  }
  return posix.normalize(p);
}

function add(map: Map<string, string[]>, path: string | null, cfg: string): void {
  if (path === null) return;
  const from = map.get(path) ?? [];
  if (!from.includes(cfg)) from.push(cfg);
  map.set(path, from);
}

/** The kernels and initrds the given configuration files (ISO path to text) load. */
export function bootFiles(configs: Map<string, string>): BootFiles {
  const kernels = new Map<string, string[]>();
  const initrds = new Map<string, string[]>();
  for (const [cfg, text] of configs) {
    const syslinux = /(isolinux|syslinux|extlinux)/i.test(cfg) && !/grub/i.test(cfg);
    for (const raw of text.split('\n')) {
      const line = raw.replace(/#.*$/, '').trim();
      const words = line.split(/\s+/);
      const cmd = words[0]?.toLowerCase() ?? '';
      if (!syslinux && /^linux(16|efi)?$/.test(cmd)) add(kernels, clean(words[1] ?? '', cfg, false), cfg);
      else if (!syslinux && /^initrd(16|efi)?$/.test(cmd))
        for (const w of words.slice(1)) add(initrds, clean(w, cfg, false), cfg);
      else if (syslinux && (cmd === 'kernel' || cmd === 'linux')) add(kernels, clean(words[1] ?? '', cfg, true), cfg);
      else if (syslinux && cmd === 'initrd')
        for (const w of (words[1] ?? '').split(',')) add(initrds, clean(w, cfg, true), cfg);
      if (syslinux && cmd === 'append')
        for (const w of words) {
          const m = /^initrd=(.+)$/.exec(w);
          if (m) for (const part of m[1].split(',')) add(initrds, clean(part, cfg, true), cfg);
        }
    }
  }
  return { kernels, initrds };
}
