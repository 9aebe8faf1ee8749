// A real Debian live system under QEMU for test/vm-persistence.test.ts: the cached bookworm root with the
// distribution's kernel and live-boot (scripts/vm-root.sh), the project's .deb and the test driver added per
// run (an overlay over the cached root, so the cache never holds a build of the project), squashed into
// live/filesystem.squashfs on a raw disk image with one ext4 partition (the medium, which live-boot mounts
// read-only at /run/live/medium), booted by direct kernel boot under TCG (there is no /dev/kvm here).
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, createWriteStream, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { has, must, repoRoot, run, withoutSanitizer } from './tools.js';
import { mountsUnder, removeTree } from './boot.js';
import {
  BOOT_PARAM,
  DEB_DIR,
  DRIVER_UNIT,
  HELLO_DEB,
  HELLO_PACKAGE,
  JOURNAL_ON_CONSOLE,
  driverScript,
  type LiveBootConfig,
} from './vm-guest.js';

export const VM_WORK = process.env.CASPER_VM_WORK ?? '/var/tmp/casper-vm';

/** Why the VM test cannot run here, or false. */
export function vmCapability(): string | false {
  if (process.getuid?.() !== 0) return 'needs root (debootstrap, chroot, loop and overlay mounts)';
  if (process.arch !== 'x64') return 'the VM test boots an amd64 system (the .deb is built for amd64 only)';
  for (const t of [
    'qemu-system-x86_64',
    'timeout',
    'debootstrap',
    'mksquashfs',
    'sfdisk',
    'mke2fs',
    'dpkg-deb',
    'chroot',
  ])
    if (!has(t)) return `${t} is not installed (scripts/install-system-deps.sh)`;
  if (run('sh', ['-c', 'grep -qw overlay /proc/filesystems || modprobe overlay']).status !== 0)
    return 'the kernel has no overlayfs';
  return false;
}

export interface LiveSystem {
  /** The bookworm root (read-only for the test: it is shared by every run). */
  root: string;
  vmlinuz: string;
  initrd: string;
}

/**
 * Runs one of the scripts that make a cached VM folder under VM_WORK (exit 3: it cannot be made here, the
 * reason last on stderr) and returns the folder it printed last, or why the test using it (`forTest`) skips.
 */
export function cachedVmFolder(script: string, what: string, forTest: string): string | { skip: string } {
  const t0 = Date.now();
  const r = spawnSync('bash', [join(repoRoot, 'scripts', script)], {
    encoding: 'utf8',
    env: { ...withoutSanitizer(), CASPER_VM_WORK: VM_WORK },
  });
  if (r.status === 3) return { skip: `no ${what} for ${forTest}: ${r.stderr.trim().split('\n').pop()}` };
  if (r.status !== 0) throw new Error(`scripts/${script} failed (${r.status}):\n${r.stderr.slice(-4000)}`);
  if (r.stderr.trim())
    console.log(
      r.stderr.trim().replace(/^/gm, '# ') + `\n# ${what} ready after ${((Date.now() - t0) / 1000).toFixed(0)} s`,
    );
  return r.stdout.trim().split('\n').pop()!;
}

/** The cached live system (built on first use, ~2 min on an idle 2-core machine), or why it cannot be had. */
export function liveSystem(): LiveSystem | { skip: string } {
  const dir = cachedVmFolder('vm-root.sh', 'live system', 'the VM test');
  if (typeof dir !== 'string') return dir;
  return { root: join(dir, 'root'), vmlinuz: join(dir, 'vmlinuz'), initrd: join(dir, 'initrd.img') };
}

function put(path: string, text: string | Buffer, mode = 0o644): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  chmodSync(path, mode);
}

/** The tiny package boot 1 installs, built with dpkg-deb into `out`. */
function helloDeb(work: string, out: string): void {
  const tree = join(work, 'hello-deb');
  put(join(tree, 'DEBIAN/control'), HELLO_PACKAGE.control);
  for (const [rel, f] of Object.entries(HELLO_PACKAGE.files)) put(join(tree, rel), f.text, f.mode);
  mkdirSync(dirname(out), { recursive: true });
  must('dpkg-deb', ['--root-owner-group', '--build', tree, out]);
}

/**
 * The medium's tree in `work/medium`: live/filesystem.squashfs (the cached root with the project's .deb at
 * hand in DEB_DIR for the session to install, and the test driver added), live/vmlinuz, live/initrd.img.
 */
export function buildMediumTree(sys: LiveSystem, deb: string, config: LiveBootConfig, work: string): string {
  const upper = join(work, 'root-upper');
  const ovWork = join(work, 'root-work');
  const root = join(work, 'root');
  for (const d of [upper, ovWork, root]) mkdirSync(d, { recursive: true });
  must('mount', [
    '-t',
    'overlay',
    'casper-vm-root',
    '-o',
    `lowerdir=${sys.root},upperdir=${upper},workdir=${ovWork}`,
    root,
  ]);
  try {
    const inRoot = (args: string[]) =>
      must('chroot', [root, ...args], { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C' } });
    // The project's package where a user would have it; the session installs it (the README's route).
    mkdirSync(join(root, DEB_DIR), { recursive: true });
    copyFileSync(deb, join(root, DEB_DIR, basename(deb)));
    // The test's own additions: the driver, the journal on the console, the package boot 1 installs.
    put(join(root, 'usr/local/sbin/casper-vmtest'), driverScript(config), 0o755);
    put(join(root, 'etc/systemd/system/casper-vmtest.service'), DRIVER_UNIT);
    inRoot(['systemctl', 'enable', 'casper-vmtest.service']);
    put(join(root, 'etc/systemd/journald.conf.d/casper-vmtest-console.conf'), JOURNAL_ON_CONSOLE);
    helloDeb(work, join(root, HELLO_DEB));
    const medium = join(work, 'medium');
    mkdirSync(join(medium, 'live'), { recursive: true });
    // lz4: a fraction of gzip's time here, and cheap to read under TCG; the kernel (6.1) mounts it.
    must('mksquashfs', [
      root,
      join(medium, 'live/filesystem.squashfs'),
      '-noappend',
      '-quiet',
      '-no-progress',
      '-comp',
      'lz4',
    ]);
    copyFileSync(sys.vmlinuz, join(medium, 'live/vmlinuz'));
    copyFileSync(sys.initrd, join(medium, 'live/initrd.img'));
    return medium;
  } finally {
    removeTree(root);
  }
}

/** Byte offset of the one partition: 1 MiB, as partitioning tools align it. */
export const PART_OFFSET = 1 << 20;

/** A raw disk image with a DOS partition table and one ext4 partition holding `tree`, with `spareMiB` free. */
export function makeDisk(tree: string, disk: string, spareMiB: number): void {
  const used = Number(must('du', ['-s', '--block-size=1M', tree]).split(/\s/)[0]);
  const fsMiB = Math.ceil(used * 1.1) + spareMiB;
  must('truncate', ['-s', `${fsMiB + 1}M`, disk]);
  const sf = spawnSync('sfdisk', ['--quiet', disk], {
    input: `label: dos\nstart=${PART_OFFSET / 512}, type=83\n`,
    encoding: 'utf8',
  });
  if (sf.status !== 0) throw new Error(`sfdisk ${disk} failed: ${sf.stderr}`);
  must('mke2fs', [
    '-q',
    '-F',
    '-t',
    'ext4',
    '-L',
    'CASPERVM',
    '-d',
    tree,
    '-E',
    `offset=${PART_OFFSET}`,
    disk,
    `${fsMiB}M`,
  ]);
}

/** Runs fn with the disk's partition mounted (read-only for fn; the kernel may replay the journal). */
export function withDisk<T>(disk: string, at: string, fn: (mnt: string) => T): T {
  mkdirSync(at, { recursive: true });
  // A partition left needing journal recovery cannot be mounted from a read-only loop device: then without it.
  if (run('mount', ['-t', 'ext4', '-o', `loop,ro,offset=${PART_OFFSET}`, disk, at]).status !== 0)
    must('mount', ['-t', 'ext4', '-o', `loop,ro,noload,offset=${PART_OFFSET}`, disk, at]);
  try {
    return fn(at);
  } finally {
    if (mountsUnder(at).length) must('umount', [at]);
  }
}

export interface BootOutcome {
  /** The whole serial console. */
  console: string;
  /** QEMU's exit status (0: the guest powered off; 124: the time limit). */
  status: number | null;
  seconds: number;
  qemuStderr: string;
}

/**
 * Boots the medium once: direct kernel boot of live/vmlinuz and live/initrd.img with `boot=live` and
 * `BOOT_PARAM=n`, the serial console to `log`, within `limitS` seconds (`timeout` kills QEMU after that).
 */
export async function bootVm(opts: {
  vmlinuz: string;
  initrd: string;
  disk: string;
  n: number;
  log: string;
  limitS: number;
}): Promise<BootOutcome> {
  const append = `boot=live components console=ttyS0,115200 panic=10 ${BOOT_PARAM}=${opts.n}`;
  const args = [
    '-k',
    '15',
    String(opts.limitS),
    'qemu-system-x86_64',
    '-m',
    '2048',
    '-smp',
    '2',
    '-cpu',
    'Nehalem',
    '-accel',
    'tcg,thread=multi',
    '-display',
    'none',
    '-monitor',
    'none',
    '-serial',
    `file:${opts.log}`,
    '-no-reboot',
    '-kernel',
    opts.vmlinuz,
    '-initrd',
    opts.initrd,
    '-append',
    append,
    '-drive',
    `file=${opts.disk},if=virtio,format=raw`,
    '-nic',
    'none',
  ];
  const t0 = Date.now();
  const child = spawn('timeout', args, { stdio: ['ignore', 'pipe', 'pipe'], env: withoutSanitizer() });
  let stderr = '';
  const errLog = createWriteStream(`${opts.log}.qemu`);
  child.stdout.on('data', (d) => errLog.write(d));
  child.stderr.on('data', (d) => {
    stderr += d;
    errLog.write(d);
  });
  const status = await new Promise<number | null>((resolve) =>
    child.on('exit', (code, sig) => resolve(code ?? (sig ? 128 : null))),
  );
  errLog.end();
  const seconds = (Date.now() - t0) / 1000;
  let text = '';
  try {
    text = readFileSync(opts.log, 'utf8');
  } catch {
    /* QEMU never started */
  }
  // Without the terminal's colours and cursor moves (systemd's status lines redraw themselves).
  return {
    console: text.replace(/\r/g, '').replace(/\x1b(?:\[[0-9;?]*)?[A-Za-z]/g, ''),
    status,
    seconds,
    qemuStderr: stderr,
  };
}

/** Size of a file in MiB, for the test's log. */
export const mib = (p: string) => (statSync(p).size / (1 << 20)).toFixed(1);

/**
 * Runs QEMU with `qemuArgs` (everything but the serial console and the time limit) until it exits or
 * `limitS` seconds pass, the serial console going to `log`: the same run as bootVm's, for boots that are not
 * direct kernel boots (test/remaster.test.ts boots an ISO from the CD-ROM).
 */
export async function runQemu(qemuArgs: string[], log: string, limitS: number): Promise<BootOutcome> {
  const args = [
    '-k',
    '15',
    String(limitS),
    'qemu-system-x86_64',
    '-display',
    'none',
    '-monitor',
    'none',
    '-serial',
    `file:${log}`,
    '-no-reboot',
    ...qemuArgs,
  ];
  const t0 = Date.now();
  const child = spawn('timeout', args, { stdio: ['ignore', 'pipe', 'pipe'], env: withoutSanitizer() });
  let stderr = '';
  const errLog = createWriteStream(`${log}.qemu`);
  child.stdout.on('data', (d) => errLog.write(d));
  child.stderr.on('data', (d) => {
    stderr += d;
    errLog.write(d);
  });
  const status = await new Promise<number | null>((resolve) =>
    child.on('exit', (code, sig) => resolve(code ?? (sig ? 128 : null))),
  );
  errLog.end();
  const seconds = (Date.now() - t0) / 1000;
  let text = '';
  try {
    text = readFileSync(log, 'utf8');
  } catch {
    /* QEMU never started */
  }
  return {
    console: text.replace(/\r/g, '').replace(/\x1b(?:\[[0-9;?=]*)?[A-Za-z]/g, ''),
    status,
    seconds,
    qemuStderr: stderr,
  };
}
