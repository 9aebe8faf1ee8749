// Reads the union filesystem's own options from a mount's super options: overlayfs (lowerdir/upperdir/…)
// and aufs branch lists. Input is MountInfo.superOptions: already split on ',' and octal-unescaped.

export interface OverlayOptions {
  /** Lower layers, topmost first; overlayfs's '\' escapes ("\:" "\," "\\") removed. */
  lowerdirs: string[];
  /** Data-only lower layers (after "::", kernel 6.5+): hold file data for metacopy files, never listed. */
  dataLowerdirs: string[];
  upperdir: string | null;
  workdir: string | null;
  /** Overlay xattrs live in user.overlay.* instead of trusted.overlay.* ("nouserxattr" = false). */
  userxattr: boolean;
  /** redirect_dir=on|follow|nofollow|off as shown; null when the kernel default was not displayed. */
  redirectDir: string | null;
  /** metacopy=on|off as shown; null when not displayed (kernel default, normally off). */
  metacopy: boolean | null;
  index: boolean | null;
  /** xino=on|off|auto as shown. */
  xino: string | null;
  uuid: string | null;
  volatile: boolean;
  /** Every option not interpreted above (rw, relatime, nfs_export=…), in order. */
  other: string[];
}

/** Splits an overlayfs layer list on unescaped ':' and removes the escaping; "::" starts data-only layers. */
export function splitLowerdir(value: string): { layers: string[]; dataLayers: string[] } {
  const groups: string[][] = [[]];
  let cur = '';
  let afterColon = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === '\\' && i + 1 < value.length) {
      cur += value[++i];
      afterColon = false;
    } else if (c === ':') {
      if (afterColon && cur === '' && groups.length === 1) {
        groups.push([]); // "::" — what follows are data-only layers
      } else {
        groups[groups.length - 1].push(cur);
        cur = '';
      }
      afterColon = true;
    } else {
      cur += c;
      afterColon = false;
    }
  }
  groups[groups.length - 1].push(cur);
  const clean = (g: string[]) => g.filter((p) => p !== '');
  return { layers: clean(groups[0]), dataLayers: clean(groups[1] ?? []) };
}

/** overlayfs's own escaping for single paths (upperdir, workdir): '\\x' stands for 'x'. */
export function unescapeOverlay(value: string): string {
  return value.replace(/\\(.)/gs, '$1');
}

/** The lowerdir= value for these layers, topmost first: '\\', ':' and ',' escaped (splitLowerdir's inverse). */
export function lowerdirOption(layers: readonly string[]): string {
  return layers.map((p) => p.replace(/\\/g, '\\\\').replace(/:/g, '\\:').replace(/,/g, '\\,')).join(':');
}

function onOff(v: string | undefined): boolean | null {
  if (v === 'on' || v === 'y' || v === 'Y') return true;
  if (v === 'off' || v === 'n' || v === 'N') return false;
  return null;
}

export function parseOverlayOptions(options: readonly string[]): OverlayOptions {
  const o: OverlayOptions = {
    lowerdirs: [],
    dataLowerdirs: [],
    upperdir: null,
    workdir: null,
    userxattr: false,
    redirectDir: null,
    metacopy: null,
    index: null,
    xino: null,
    uuid: null,
    volatile: false,
    other: [],
  };
  for (const opt of options) {
    const eq = opt.indexOf('=');
    const key = eq < 0 ? opt : opt.slice(0, eq);
    const val = eq < 0 ? undefined : opt.slice(eq + 1);
    switch (key) {
      case 'lowerdir': {
        const { layers, dataLayers } = splitLowerdir(val ?? '');
        o.lowerdirs.push(...layers);
        o.dataLowerdirs.push(...dataLayers);
        break;
      }
      case 'lowerdir+': // new mount API spellings, one layer each (not escaped)
        if (val) o.lowerdirs.push(val);
        break;
      case 'datadir+':
        if (val) o.dataLowerdirs.push(val);
        break;
      case 'upperdir':
        o.upperdir = unescapeOverlay(val ?? '') || null;
        break;
      case 'workdir':
        o.workdir = unescapeOverlay(val ?? '') || null;
        break;
      case 'userxattr':
        o.userxattr = true;
        break;
      case 'nouserxattr':
        o.userxattr = false;
        break;
      case 'redirect_dir':
        o.redirectDir = val ?? null;
        break;
      case 'metacopy':
        o.metacopy = onOff(val);
        break;
      case 'index':
        o.index = onOff(val);
        break;
      case 'xino':
        o.xino = val ?? null;
        break;
      case 'uuid':
        o.uuid = val ?? null;
        break;
      case 'volatile':
        o.volatile = true;
        break;
      default:
        o.other.push(opt);
    }
  }
  return o;
}

export interface AufsBranch {
  path: string;
  /** As written after '=' (rw, ro, rr, rr+wh, rw+nolwh …); null when omitted. */
  perm: string | null;
  /** rw branches take the writes: an explicit rw*, or the first branch when no permission is given. */
  writable: boolean;
}

export interface AufsOptions {
  /** Branches topmost first, from "br:"/"br="/"dirs=" (aufs hides them unless shown; see si). */
  branches: AufsBranch[];
  /** Superblock id: branches are listed in /sys/fs/aufs/si_<si>/br<N> when the options do not show them. */
  si: string | null;
  other: string[];
}

/** Parses aufs options; branch lists are ':'-separated "path[=perm]" entries (aufs has no escaping). */
export function parseAufsOptions(options: readonly string[]): AufsOptions {
  const out: AufsOptions = { branches: [], si: null, other: [] };
  for (const opt of options) {
    const m = /^(br[:=]|dirs=)(.*)$/.exec(opt);
    if (m) {
      for (const entry of m[2].split(':')) {
        if (entry === '') continue;
        const eq = entry.lastIndexOf('=');
        const path = eq < 0 ? entry : entry.slice(0, eq);
        const perm = eq < 0 ? null : entry.slice(eq + 1);
        const first = out.branches.length === 0;
        out.branches.push({ path, perm, writable: perm === null ? first : /^rw/.test(perm) });
      }
    } else if (opt.startsWith('si=')) {
      out.si = opt.slice(3);
    } else {
      out.other.push(opt);
    }
  }
  return out;
}
