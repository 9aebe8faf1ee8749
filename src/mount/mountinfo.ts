// Parses /proc/self/mountinfo (proc(5)) into typed records. The kernel escapes space, tab, newline and
// backslash in paths as \040 \011 \012 \134, so fields split on single spaces before unescaping.
import { CasperError } from '../errors.js';

export interface MountInfo {
  /** 1-based line number in the text (for messages). */
  line: number;
  mountId: number;
  parentId: number;
  major: number;
  minor: number;
  /** Directory of the filesystem that forms this mount's root: "/" unless a bind mount of a subtree. */
  root: string;
  /** Where it is mounted, relative to the reading process's root. */
  mountPoint: string;
  /** Per-mount options (rw, nosuid, relatime …). */
  mountOptions: string[];
  /** Tagged fields before the " - " separator (shared:N, master:N, propagate_from:N, unbindable). */
  optionalFields: string[];
  fsType: string;
  /** Filesystem-specific source ("/dev/sda1", "/cow", "overlay", "none"); may be empty. */
  source: string;
  /** Superblock options, split on ',' first and each unescaped (a ',' inside a value stays \054 until then). */
  superOptions: string[];
}

/** A line of mountinfo text that does not have the kernel's shape. */
export class MountinfoError extends CasperError {
  line: number;
  text: string;
  constructor(line: number, text: string, why: string, file = 'mountinfo') {
    super(`${file} line ${line}: ${why}: '${text.length > 120 ? text.slice(0, 117) + '...' : text}'`, 'EMOUNTINFO', {
      path: file,
    });
    this.name = 'MountinfoError';
    this.line = line;
    this.text = text;
  }
}

/** Undoes the kernel's \NNN octal escapes; a backslash not followed by three octal digits stays literal. */
export function unescapeOctal(s: string): string {
  if (!s.includes('\\')) return s;
  return s.replace(/\\([0-3][0-7]{2})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

const NUM = /^\d+$/;
const DEV = /^(\d+):(\d+)$/;

/** Parses one line; throws MountinfoError naming the line on any deviation from proc(5). */
export function parseMountinfoLine(text: string, line: number, file?: string): MountInfo {
  const bad = (why: string) => new MountinfoError(line, text, why, file);
  const f = text.split(' ');
  const sep = f.indexOf('-', 6);
  if (sep < 0) throw bad("no ' - ' separator after the six leading fields");
  if (f.length - sep - 1 !== 3) throw bad(`expected 3 fields after ' - ', found ${f.length - sep - 1}`);
  const [id, parent, dev, root, mountPoint, opts] = f;
  if (!NUM.test(id) || !NUM.test(parent)) throw bad('mount ids must be decimal numbers');
  const d = DEV.exec(dev);
  if (!d) throw bad("device must be 'major:minor'");
  if (root === '') throw bad('empty root field');
  if (!mountPoint.startsWith('/')) throw bad('mount point must be an absolute path');
  if (opts === '') throw bad('empty mount options');
  const optional = f.slice(6, sep);
  if (optional.some((o) => o === '')) throw bad('empty optional field (doubled space)');
  const [fsType, source, superOpts] = f.slice(sep + 1);
  if (fsType === '') throw bad('empty filesystem type');
  return {
    line,
    mountId: Number(id),
    parentId: Number(parent),
    major: Number(d[1]),
    minor: Number(d[2]),
    root: unescapeOctal(root),
    mountPoint: unescapeOctal(mountPoint),
    mountOptions: opts.split(','),
    optionalFields: optional,
    fsType: unescapeOctal(fsType),
    source: unescapeOctal(source),
    superOptions: superOpts === '' ? [] : superOpts.split(',').map(unescapeOctal),
  };
}

/** Every line parsed; malformed lines come back as errors instead of stopping the parse. */
export function parseMountinfoLenient(text: string, file?: string): { mounts: MountInfo[]; errors: MountinfoError[] } {
  const mounts: MountInfo[] = [];
  const errors: MountinfoError[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i].endsWith('\r') ? lines[i].slice(0, -1) : lines[i];
    if (l.trim() === '') continue;
    try {
      mounts.push(parseMountinfoLine(l, i + 1, file));
    } catch (err) {
      if (!(err instanceof MountinfoError)) throw err;
      errors.push(err);
    }
  }
  return { mounts, errors };
}

/** Parses the whole text; throws the first MountinfoError (the kernel never writes a malformed line). */
export function parseMountinfo(text: string, file?: string): MountInfo[] {
  const { mounts, errors } = parseMountinfoLenient(text, file);
  if (errors.length > 0) throw errors[0];
  return mounts;
}
