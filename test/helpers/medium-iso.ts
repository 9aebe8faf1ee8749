// Small live media for the remaster tests that do not boot: a casper or live-boot tree (a tiny image, a
// package list, checksum files, boot configuration naming a kernel and an initrd, a persistence layer)
// made into an ISO with xorriso, with two El Torito entries (BIOS and UEFI) whose images are plain files:
// enough for xorriso to record and replay boot records, in a second.
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { createHash } from 'node:crypto';
import { must } from './tools.js';

/** A bzImage's first bytes as the boot protocol lays them out: "HdrS" at 0x202, the version string's pointer at 0x20E. */
export function fakeKernel(version: string): Buffer {
  const b = Buffer.alloc(0x2000, 0);
  b.write('HdrS', 0x202, 'latin1');
  b.writeUInt16LE(0x0e00, 0x20e); // the string at 0x200 + 0x0e00
  b.write(version + '\0', 0x1000, 'latin1');
  b.write('the rest of a kernel', 0x1800, 'latin1');
  return b;
}

function put(path: string, data: string | Buffer): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, data);
}

/** dpkg status paragraphs for (name, version, arch[, multi-arch same]). */
export function dpkgStatus(pkgs: [string, string, string, boolean?][]): string {
  return pkgs
    .map(
      ([n, v, a, same]) =>
        `Package: ${n}\nStatus: install ok installed\nPriority: optional\nArchitecture: ${a}\n${same ? 'Multi-Arch: same\n' : ''}Version: ${v}\nDescription: test package ${n}\n a second line\n`,
    )
    .join('\n');
}

/** A root with a dpkg database, a kernel and its initrd in /boot, and a marker. */
export function makeRoot(
  dir: string,
  opts: { kernel?: string | null; initrd?: boolean; marker?: string; packages?: [string, string, string, boolean?][] },
): void {
  put(join(dir, 'etc/hostname'), 'remaster-test\n');
  put(join(dir, 'etc/marker'), (opts.marker ?? 'new root') + '\n');
  put(join(dir, 'usr/share/doc/readme.txt'), 'a file of the root\n'.repeat(200));
  put(join(dir, 'var/log/old.log'), 'a log line the scrub leaves out\n');
  put(
    join(dir, 'var/lib/dpkg/status'),
    dpkgStatus(
      opts.packages ?? [
        ['dpkg', '1.21.22', 'amd64'],
        ['casper', '1.470', 'amd64'],
        ['libc6', '2.36-9', 'amd64', true],
      ],
    ),
  );
  if (opts.kernel) {
    put(join(dir, `boot/vmlinuz-${opts.kernel}`), fakeKernel(`${opts.kernel} (tests@casper-snapshot) #1 SMP`));
    if (opts.initrd !== false) put(join(dir, `boot/initrd.img-${opts.kernel}`), `initrd of ${opts.kernel}\n`);
  }
}

function sums(tree: string, algorithm: 'md5' | 'sha256', skip: string[]): string {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const n of readdirSync(d).sort()) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else {
        const rel = relative(tree, p);
        if (!skip.includes(rel)) out.push(`${createHash(algorithm).update(readFileSync(p)).digest('hex')}  ./${rel}`);
      }
    }
  };
  walk(tree);
  return out.map((l) => l + '\n').join('');
}

export interface MediumSpec {
  family: 'casper' | 'live-boot';
  /** The root the medium's image is made from. */
  oldRoot: string;
  /** The kernel release on the medium. */
  kernel: string;
  label: string;
  /** A line added to grub.cfg (e.g. a search by label). */
  grubExtra?: string;
}

/** Builds the medium tree in `work/medium` and the ISO at `iso`. */
export function makeMediumIso(spec: MediumSpec, work: string, iso: string): void {
  const m = join(work, 'medium');
  const dir = spec.family === 'casper' ? 'casper' : 'live';
  mkdirSync(join(m, dir), { recursive: true });
  must('mksquashfs', [
    spec.oldRoot,
    join(m, dir, 'filesystem.squashfs'),
    '-noappend',
    '-quiet',
    '-no-progress',
    '-comp',
    'gzip',
    '-b',
    '65536',
  ]);
  put(join(m, dir, 'zz-session.squashfs'), 'a persistence image of an earlier session\n');
  put(join(m, dir, '.zz-session.squashfs.prev-1234'), 'a replaced persistence image kept linked\n');
  put(join(m, dir, 'vmlinuz'), fakeKernel(`${spec.kernel} (tests@casper-snapshot) #1 SMP`));
  const initrd = spec.family === 'casper' ? 'initrd' : 'initrd.img';
  put(join(m, dir, initrd), `initrd of ${spec.kernel}\n`);
  if (spec.family === 'casper') {
    put(join(m, 'casper/filesystem.size'), '12345'); // printf'd: no newline, as livecd-rootfs writes it
    put(join(m, 'casper/filesystem.manifest'), 'casper\t1.400\nubiquity\t22.04\n');
    put(join(m, 'casper/filesystem.manifest-remove'), 'casper\nubiquity\n');
    put(join(m, 'casper/filesystem.squashfs.gpg'), 'a signature of the old image\n');
  } else {
    put(join(m, 'live/filesystem.size'), '12345\n');
    put(join(m, 'live/filesystem.packages'), 'live-boot\t1:20230131\n');
    put(join(m, 'live/filesystem.module'), 'filesystem.squashfs\nzz-session.squashfs\n');
  }
  put(join(m, '.disk/info'), 'remaster test medium\n');
  put(
    join(m, 'boot/grub/grub.cfg'),
    `set timeout=1\n${spec.grubExtra ?? ''}\nmenuentry "live" {\n  linux ($root)/${dir}/vmlinuz boot=${spec.family === 'casper' ? 'casper' : 'live'} quiet\n  initrd /${dir}/${initrd}\n}\n`,
  );
  put(
    join(m, 'isolinux/txt.cfg'),
    `label live\n  kernel /${dir}/vmlinuz\n  append initrd=/${dir}/${initrd} boot=casper\n`,
  );
  put(join(m, 'boot/bios.img'), Buffer.alloc(2048, 0xb1));
  put(join(m, 'boot/efi.img'), Buffer.alloc(64 * 1024, 0xef));
  const skip = ['md5sum.txt', 'sha256sum.txt', 'boot/bios.img'];
  if (spec.family === 'casper') put(join(m, 'md5sum.txt'), sums(m, 'md5', skip));
  else {
    put(join(m, 'sha256sum.txt'), sums(m, 'sha256', skip));
    put(join(m, 'md5sum.txt'), sums(m, 'md5', skip));
  }
  must('xorriso', [
    '-as',
    'mkisofs',
    '-r',
    '-J',
    '-V',
    spec.label,
    '-c',
    'boot/boot.cat',
    '-b',
    'boot/bios.img',
    '-no-emul-boot',
    '-boot-load-size',
    '4',
    '-eltorito-alt-boot',
    '-e',
    'boot/efi.img',
    '-no-emul-boot',
    '-o',
    iso,
    m,
  ]);
}

/** Copies an ISO's tree out with xorriso (no iso9660 driver needed). */
export function extractIso(iso: string, dir: string): void {
  must('xorriso', ['-osirrox', 'on', '-indev', iso, '-extract', '/', dir]);
}

/** The El Torito report lines of an ISO. */
export function elTorito(iso: string): string[] {
  return must('xorriso', ['-indev', iso, '-report_el_torito', 'plain'])
    .split('\n')
    .filter((l) => l.startsWith('El Torito'));
}
