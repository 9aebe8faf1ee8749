// Boots a real systemd (bookworm, debootstrap'ed by scripts/boot-root.sh) with systemd-nspawn on a live
// layout assembled the way casper or live-boot assembles it: squashfs images loop-mounted read-only as the
// lower layers, a tmpfs upper, the overlay as the container's root. The overlay is mounted from inside a
// small chroot ("stage") so that its options carry the same paths a real live session shows
// (casper: `overlay /cow … lowerdir=/filesystem.squashfs,upperdir=/cow/upper`; live-boot:
// `lowerdir=/run/live/rootfs/filesystem.squashfs/,upperdir=/run/live/overlay/rw`), and the pieces a live
// session can reach (casper: /rofs and /cdrom; live-boot: /run/live/{medium,rootfs,overlay}) are bound
// into the container at the same places.
import { spawn, spawnSync } from 'node:child_process';
import {
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  chmodSync,
} from 'node:fs';
import { join } from 'node:path';
import { must, repoRoot, run, has, withoutSanitizer } from './tools.js';
import { waitForFile } from './events.js';

export const WORK = process.env.CASPER_BOOT_WORK ?? '/var/tmp/casper-snapshot-work';

/** The cached bookworm root (built on first use), or the reason it cannot be had here. */
export function bookwormRoot(): { root: string } | { skip: string } {
  const r = spawnSync('bash', [join(repoRoot, 'scripts', 'boot-root.sh')], {
    encoding: 'utf8',
    env: { ...withoutSanitizer(), CASPER_BOOT_WORK: WORK },
  });
  if (r.status === 0) return { root: r.stdout.trim().split('\n').pop()! };
  if (r.status === 3) return { skip: `no bookworm root for the boot test: ${r.stderr.trim().split('\n').pop()}` };
  throw new Error(`scripts/boot-root.sh failed (${r.status}):\n${r.stderr}`);
}

/** Why systemd-nspawn cannot boot here, or false. */
export function bootCapability(): string | false {
  if (process.getuid?.() !== 0) return 'needs root (mounts and systemd-nspawn)';
  for (const t of ['systemd-nspawn', 'unshare', 'mksquashfs', 'mount', 'chroot'])
    if (!has(t)) return `${t} is not installed (scripts/install-system-deps.sh installs systemd-container)`;
  if (run('sh', ['-c', 'grep -qw overlay /proc/filesystems || modprobe overlay']).status !== 0)
    return 'the kernel has no overlayfs';
  return false;
}

/** Why systemd-nspawn cannot start a container from `root` here (run read-only, /bin/true), or false. */
export function nspawnProbe(root: string): string | false {
  const script = `mkdir -p /run/systemd/nspawn && mount -t tmpfs tmpfs /run/systemd/nspawn && exec systemd-nspawn -q --register=no --keep-unit --read-only -D '${root}' /bin/true`;
  const r = run('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script], { env: withoutSanitizer() });
  return r.status === 0
    ? false
    : `systemd-nspawn cannot start a container here: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`;
}

/** Writes a file (parents made), optionally executable. */
export function put(path: string, text: string, mode = 0o644): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text);
  chmodSync(path, mode);
}

/**
 * Squashes the bookworm root with `extra` (a directory tree of additions: units, configuration) on top into
 * `image`, through a read-only overlay of the two (mksquashfs; lz4 by default: 1 s instead of gzip's 16 s here).
 */
export function makeMedium(root: string, extra: string, image: string, comp = 'lz4'): void {
  const mnt = `${image}.view`;
  mkdirSync(mnt, { recursive: true });
  must('mount', ['-t', 'overlay', 'casper-medium', '-o', `ro,lowerdir=${extra}:${root}`, mnt]);
  try {
    mkdirSync(join(image, '..'), { recursive: true });
    // mksquashfs warns about the POSIX ACL xattrs of a few directories (it cannot store them): harmless.
    must('mksquashfs', [mnt, image, '-noappend', '-quiet', '-no-progress', '-comp', comp]);
  } finally {
    removeTree(mnt);
  }
}

export type LayoutKind = 'casper' | 'live-boot';

export interface Stage {
  kind: LayoutKind;
  dir: string;
  /** The overlay: the container's root, and after the container halts, the session's final view. */
  merged: string;
  /** The tmpfs upper dir (host path). */
  upper: string;
  /** systemd-nspawn arguments binding the live machinery into the container. */
  binds: string[];
  cleanup: () => void;
}

/**
 * Assembles a live root from `layers` (image files, topmost first) as `kind` does in its initramfs.
 * casper: each image at /<name>, the bottom one bound to /rofs, the medium directory at /cdrom;
 * live-boot: each at /run/live/rootfs/<name>/, the medium at /run/live/medium, the overlay dir at
 * /run/live/overlay. `medium` is the directory standing for the boot medium (it stays writable).
 */
export function assemble(kind: LayoutKind, dir: string, medium: string, layers: string[]): Stage {
  mkdirSync(dir, { recursive: true });
  must('mount', ['-t', 'tmpfs', '-o', 'mode=755', 'casper-stage', dir]);
  const binds: string[] = [];
  const cow = kind === 'casper' ? '/cow' : '/run/live/overlay';
  const upperName = kind === 'casper' ? 'upper' : 'rw';
  try {
    for (const d of ['usr', 'root', 'proc']) mkdirSync(join(dir, d));
    for (const l of ['bin', 'lib', 'lib64', 'sbin']) symlinkSync(`usr/${l}`, join(dir, l));
    must('mount', ['--bind', '-o', 'ro', '/usr', join(dir, 'usr')]);
    const names = layers.map((l) => l.split('/').pop()!);
    const layerDir = kind === 'casper' ? '' : '/run/live/rootfs';
    layers.forEach((img, i) => {
      const at = join(dir, layerDir, names[i]);
      mkdirSync(at, { recursive: true });
      must('mount', ['-t', 'squashfs', '-o', 'loop,ro', img, at]);
    });
    mkdirSync(join(dir, cow), { recursive: true });
    must('mount', ['-t', 'tmpfs', '-o', 'mode=755', 'tmpfs', join(dir, cow)]);
    mkdirSync(join(dir, cow, upperName));
    mkdirSync(join(dir, cow, 'work'));
    const lower = names.map((n) => (kind === 'casper' ? `/${n}` : `${layerDir}/${n}/`)).join(':');
    // The source and option strings are what mountinfo shows inside the container.
    must(
      'chroot',
      [
        dir,
        'mount',
        '-t',
        'overlay',
        kind === 'casper' ? '/cow' : 'overlay',
        '-o',
        `lowerdir=${lower},upperdir=${cow}/${upperName},workdir=${cow}/work`,
        '/root',
      ],
      { env: withoutSanitizer() },
    );
    if (kind === 'casper') {
      binds.push(`--bind-ro=${join(dir, names[names.length - 1])}:/rofs`, `--bind=${medium}:/cdrom`);
    } else {
      binds.push(
        `--bind=${medium}:/run/live/medium`,
        `--bind-ro=${join(dir, layerDir)}:/run/live/rootfs`,
        `--bind=${join(dir, cow)}:/run/live/overlay`,
      );
    }
  } catch (err) {
    run('umount', ['-R', dir]);
    throw err;
  }
  return {
    kind,
    dir,
    merged: join(dir, 'root'),
    upper: join(dir, cow, upperName),
    binds,
    cleanup: () => removeTree(dir),
  };
}

/** Mount points at or below `dir` (from /proc/self/mountinfo, octal escapes decoded). */
export function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m): m is string => !!m)
    .map((m) => m.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((m) => m === dir || m.startsWith(dir + '/'));
}

/** Unmounts everything below `dir`, then deletes it; refuses to delete through a mount that stays. */
export function removeTree(dir: string): void {
  for (const m of mountsUnder(dir).reverse()) run('umount', ['-R', m]);
  const left = mountsUnder(dir);
  if (left.length > 0) throw new Error(`cannot remove ${dir}: still mounted: ${left.join(', ')}`);
  rmSync(dir, { recursive: true, force: true });
}

/** The layers casper stacks from a non-layered medium: every casper/*.squashfs, the last in glob order on top. */
export function casperLayers(medium: string): string[] {
  return layersIn(join(medium, 'casper'));
}

/** The layers live-boot stacks: every live/*.squashfs in reverse sort order, the last name on top. */
export function liveBootLayers(medium: string): string[] {
  return layersIn(join(medium, 'live'));
}

/** Every *.squashfs of `dir`, topmost first: the last name in byte order on top. */
function layersIn(dir: string): string[] {
  return readdirSync(dir)
    .filter((n) => n.endsWith('.squashfs'))
    .sort((a, b) => (Buffer.from(a) < Buffer.from(b) ? -1 : Buffer.from(a) > Buffer.from(b) ? 1 : 0))
    .reverse()
    .map((n) => join(dir, n));
}

/** Files every boot needs on top of the bookworm root: the tool's wrapper and the mount points it is bound to. */
export function toolFiles(extra: string): string[] {
  put(
    join(extra, 'usr/bin/casper-snapshot'),
    '#!/bin/sh\n# casper-snapshot from the project tree bound in by the test (until the .deb exists)\nexec /opt/node/node /opt/casper-snapshot/bin/casper-snapshot.js "$@"\n',
    0o755,
  );
  put(join(extra, 'opt/node/node'), '', 0o755);
  mkdirSync(join(extra, 'opt/casper-snapshot'), { recursive: true });
  return [`--bind-ro=${realpathSync(process.execPath)}:/opt/node/node`, `--bind-ro=${repoRoot}:/opt/casper-snapshot`];
}

export interface BootResult {
  /** Console output: systemd's status lines and the journal (forwarded to the console by the medium). */
  console: string;
  exitCode: number | null;
  /** From start to the ready marker, and from SIGTERM to the exit of systemd-nspawn. */
  bootMs: number;
  haltMs: number;
}

/**
 * Boots `stage.merged` as a container, waits for `readyFile` (written by a unit inside), then SIGTERMs
 * systemd-nspawn (an orderly halt: every unit's ExecStop= runs) and waits for it to exit, each step within
 * `deadlineMs`. `init` are arguments for systemd (kernel command-line style, e.g. systemd.mask=…).
 */
export async function bootAndHalt(
  stage: Stage,
  opts: { binds: string[]; readyFile: string; init?: string[]; deadlineMs?: number },
): Promise<BootResult> {
  const deadline = opts.deadlineMs ?? 120_000;
  const args = [
    '-q',
    '--register=no',
    '--keep-unit',
    '-D',
    stage.merged,
    '--boot',
    '--console=read-only',
    ...stage.binds,
    ...opts.binds,
    '--',
    ...(opts.init ?? []),
  ];
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  // nspawn wants a tmpfs on /run/systemd/nspawn; a private mount namespace keeps it off the host.
  const script = `mkdir -p /run/systemd/nspawn && mount -t tmpfs tmpfs /run/systemd/nspawn && exec systemd-nspawn ${args.map(q).join(' ')}`;
  const t0 = Date.now();
  const child = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: withoutSanitizer(),
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code, sig) => resolve(code ?? (sig ? 128 : null))),
  );
  const ready = await waitForFile(opts.readyFile, { deadlineMs: deadline, until: exited });
  if (ready === 'ended') throw new Error(`the container exited before it was ready:\n${out.slice(-6000)}`);
  if (ready === 'timeout') {
    child.kill('SIGKILL');
    throw new Error(`the container was not ready within ${deadline} ms:\n${out.slice(-6000)}`);
  }
  const bootMs = Date.now() - t0;
  const t1 = Date.now();
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), deadline);
  const code = await exited;
  clearTimeout(timer);
  const haltMs = Date.now() - t1;
  if (haltMs >= deadline) throw new Error(`the container did not halt within ${deadline} ms:\n${out.slice(-6000)}`);
  return { console: out.replace(/\x1b\[[0-9;]*m/g, ''), exitCode: code, bootMs, haltMs };
}
