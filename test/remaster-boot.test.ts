// Remaster to a bootable medium, proved by booting it (issue 25's proof): a small Debian live ISO
// (scripts/live-iso.sh: the VM test's cached bookworm root with the distribution's kernel and live-boot,
// GRUB for BIOS and UEFI, an EFI system partition appended as in Ubuntu's ISOs) is remastered with
// `casper-snapshot remaster --from-iso BASE.iso --source ROOT OUT.iso`, ROOT being the medium's root with a
// marker file added; the result keeps the base's El Torito entries, its checksum file verifies, its
// filesystem.size and package list match the new root, and it boots from QEMU's CD-ROM (no -kernel) twice,
// under SeaBIOS and under OVMF, each boot reaching the unit that prints the marker on the serial console (with
// the checksum file checked on the medium as the kernel mounted it, and the package list against the booted
// root's dpkg database).
// A second test boots a live session from such an ISO carrying the project's .deb and xorriso, in which the
// README's `casper-snapshot remaster OUT.iso` writes an ISO of the session.
// Part of npm test; alone: `npm run test:remaster`: about 10 minutes under TCG on 2 cores with the live ISO
// cached, most of it the three boots. CASPER_VM_KEEP=1 keeps the work directory; on a failure the serial logs
// are kept.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { cli, must, run } from './helpers/tools.js';
import { removeTree } from './helpers/boot.js';
import { VM_WORK } from './helpers/vm.js';
import {
  bootIso,
  bootLiveSession,
  carrierRoot,
  liveIso,
  LIVE_PREFIX,
  markerLine,
  remasterBootCapability,
} from './helpers/remaster-iso.js';
import { projectDeb } from './helpers/project-deb.js';
import { elTorito, extractIso } from './helpers/medium-iso.js';
import { bootEntrySignature } from '../src/remaster/base-medium.js';

const BOOT_LIMIT_S = Number(process.env.CASPER_VM_BOOT_LIMIT_S ?? 900);

function skipReason(): string | false {
  if (process.env.CASPER_SANITIZE)
    return 'the remaster boot test runs the CLI as a user would, not the sanitized addon';
  return remasterBootCapability();
}

const tail = (s: string, n = 50) => s.split('\n').slice(-n).join('\n');

/** filesystem.size's rule, computed independently: the image mounted, each inode once, in 4 KiB blocks. */
function installedBytesOf(squashfs: string, mnt: string): number {
  mkdirSync(mnt, { recursive: true });
  must('mount', ['-t', 'squashfs', '-o', 'loop,ro', squashfs, mnt]);
  try {
    const out = must('find', [mnt, '-printf', '%i %y %s %l\\n']);
    const seen = new Set<string>();
    let total = 0;
    const blocks = (n: number) => Math.ceil(n / 4096) * 4096;
    for (const line of out.split('\n')) {
      const m = /^(\d+) (\S) (\d+) ?(.*)$/.exec(line);
      if (!m || seen.has(m[1])) continue;
      seen.add(m[1]);
      if (m[2] === 'f') total += blocks(Number(m[3]));
      else if (m[2] === 'l') total += Buffer.byteLength(m[4]) >= 60 ? 4096 : 0;
      else if (m[2] === 'd') total += blocks(Math.max(1, Number(m[3]) - 3));
    }
    return total;
  } finally {
    must('umount', [mnt]);
  }
}

test(
  'remaster: a Debian live ISO remastered with a marker in the root boots under SeaBIOS and OVMF, its boot entries, checksums, size and manifest right',
  { skip: skipReason(), timeout: 60 * 60_000 },
  async (t) => {
    const live = liveIso();
    if ('skip' in live) return t.skip(live.skip);
    mkdirSync(VM_WORK, { recursive: true });
    const work = mkdtempSync(join(VM_WORK, 'remaster-run-'));
    const root = join(work, 'root');
    const logs: string[] = [];
    let ok = false;
    try {
      // The new root: the medium's root (the cached root with the ISO's additions) with a marker file added.
      const marker = `remastered-${randomBytes(6).toString('hex')}`;
      for (const d of ['upper/etc', 'ovl-work', 'root']) mkdirSync(join(work, d), { recursive: true });
      writeFileSync(join(work, 'upper/etc/remaster-marker'), marker + '\n');
      must('mount', [
        '-t',
        'overlay',
        'remaster-root',
        '-o',
        `lowerdir=${live.rootExtra}:${live.vmRoot},upperdir=${join(work, 'upper')},workdir=${join(work, 'ovl-work')}`,
        root,
      ]);

      const out = join(work, 'out.iso');
      let t0 = Date.now();
      const r = cli(['remaster', '--from-iso', live.iso, '--source', root, out, '--json']);
      const seconds = (Date.now() - t0) / 1000;
      assert.equal(r.status, 0, `remaster exited ${r.status}:\n${r.stderr}\n${r.stdout.slice(0, 4000)}`);
      const report = JSON.parse(r.stdout);
      console.log(
        `# remaster: ${seconds.toFixed(1)} s (capture ${(report.times.capture / 1000).toFixed(1)} s, ISO ${(report.times.iso / 1000).toFixed(1)} s); ${(report.isoBytes / 2 ** 20).toFixed(0)} MiB`,
      );
      for (const c of report.changes) console.log(`#   ${c.path} ${c.change}: ${c.why}`);
      assert.equal(report.layout.family, 'live-boot');
      assert.equal(report.kernel.verdict, 'same', report.kernel.note);
      // The root is the base's plus a file: its package list is the same (not rewritten), its size is not.
      assert.deepEqual(report.changes.map((c: { path: string; change: string }) => `${c.path} ${c.change}`).sort(), [
        '/live/filesystem.size rewritten',
        '/sha256sum.txt rewritten',
      ]);

      // The boot entries: the base's, block addresses aside.
      const baseEntries = elTorito(live.iso);
      const newEntries = elTorito(out);
      assert.ok(
        baseEntries.some((l) => /boot img\s*:\s*1\s+BIOS/.test(l)) &&
          baseEntries.some((l) => /boot img\s*:\s*2\s+UEFI/.test(l)),
        `the base has a BIOS and a UEFI entry:\n${baseEntries.join('\n')}`,
      );
      assert.deepEqual(bootEntrySignature(newEntries), bootEntrySignature(baseEntries));

      // The checksum file verifies over the new ISO's tree; filesystem.size and the manifest match the new root.
      const tree = join(work, 'tree');
      extractIso(out, tree);
      const sums = run('sh', ['-c', `cd '${tree}' && sha256sum -c --quiet sha256sum.txt`]);
      assert.equal(sums.status, 0, `sha256sum -c in the new ISO:\n${sums.stdout}${sums.stderr}`);
      const listed = readFileSync(join(tree, 'sha256sum.txt'), 'utf8');
      assert.match(listed, / {2}\.\/live\/filesystem\.squashfs\n/, 'the new image is listed in sha256sum.txt');
      assert.equal(
        readFileSync(join(tree, 'live/filesystem.packages'), 'utf8'),
        must('dpkg-query', [`--admindir=${join(root, 'var/lib/dpkg')}`, '-W']),
        'filesystem.packages is dpkg-query -W of the new root',
      );
      const size = Number(readFileSync(join(tree, 'live/filesystem.size'), 'utf8'));
      assert.equal(
        size,
        installedBytesOf(join(tree, 'live/filesystem.squashfs'), join(work, 'sq')),
        'filesystem.size: the new image unpacked in 4 KiB blocks',
      );
      const du = Number(must('du', ['-s', '-x', '--block-size=1', root]).split(/\s/)[0]);
      assert.ok(
        Math.abs(size - du) / du < 0.02,
        `filesystem.size ${size} within 2 % of du -sx of the new root (${du})`,
      );
      assert.equal(
        must('unsquashfs', ['-cat', join(tree, 'live/filesystem.squashfs'), 'etc/remaster-marker']).trim(),
        marker,
      );
      rmSync(tree, { recursive: true, force: true });

      // Two boots from the CD-ROM, the boot records doing the work.
      for (const firmware of ['bios', 'uefi'] as const) {
        const log = join(work, `boot-${firmware}.log`);
        logs.push(log);
        t0 = Date.now();
        const b = await bootIso(out, firmware, log, BOOT_LIMIT_S);
        const line = markerLine(b.console);
        console.log(
          `# ${firmware} boot: ${b.seconds.toFixed(0)} s, QEMU exit ${b.status}; ${line ? JSON.stringify(line) : 'no marker line'}`,
        );
        const where = `${firmware} boot (serial log ${log})`;
        assert.ok(
          line,
          `${where}: the unit's line never came; QEMU exited ${b.status}${b.status === 124 ? ` (still running after ${BOOT_LIMIT_S} s)` : ''}\n${b.qemuStderr}\n--- console tail ---\n${tail(b.console)}`,
        );
        assert.equal(line.marker, marker, `${where}: the booted root is the remastered one`);
        assert.equal(line.firmware, firmware, `${where}: booted by the firmware asked for`);
        assert.match(line.medium, /^\/dev\/sr0 iso9660$/, `${where}: live-boot found the medium on the CD-ROM`);
        assert.equal(line.sums, 'sha256sum.txt:ok', `${where}: sha256sum -c on the mounted medium`);
        assert.equal(line.manifest, 'same', `${where}: live/filesystem.packages is dpkg-query -W of the booted root`);
        assert.equal(b.status, 0, `${where}: the guest powered off (QEMU exit ${b.status})`);
      }
      ok = true;
    } finally {
      removeTree(root);
      if (process.env.CASPER_VM_KEEP) console.log(`# kept (CASPER_VM_KEEP): ${work}`);
      else if (ok) removeTree(work);
      else {
        for (const f of ['out.iso', 'tree', 'upper', 'ovl-work'])
          rmSync(join(work, f), { recursive: true, force: true });
        console.log(`# serial logs kept: ${logs.filter((l) => existsSync(l)).join(' ')}`);
      }
    }
  },
);

test(
  "remaster from a live session: booted from a live ISO that carries casper-snapshot and xorriso, `casper-snapshot remaster OUT.iso` writes an ISO of the session with the medium's boot records",
  { skip: skipReason(), timeout: 60 * 60_000 },
  async (t) => {
    const live = liveIso();
    if ('skip' in live) return t.skip(live.skip);
    const built = projectDeb();
    if ('skip' in built) return t.skip(built.skip);
    mkdirSync(VM_WORK, { recursive: true });
    const work = mkdtempSync(join(VM_WORK, 'remaster-live-'));
    const logs: string[] = [];
    let ok = false;
    try {
      // The carrier: the test ISO remastered (on the host) with the tool and xorriso installed in its root.
      const root = carrierRoot(live, built.deb, work);
      const carrier = join(work, 'carrier.iso');
      const r = cli(['remaster', '--from-iso', live.iso, '--source', root, carrier]);
      assert.equal(r.status, 0, `remaster of the carrier exited ${r.status}:\n${r.stderr}`);
      removeTree(root);
      const kernel = join(work, 'vmlinuz');
      const initrd = join(work, 'initrd.img');
      must('xorriso', [
        '-osirrox',
        'on',
        '-indev',
        carrier,
        '-extract',
        '/live/vmlinuz',
        kernel,
        '-extract',
        '/live/initrd.img',
        initrd,
      ]);
      // The output disk (the medium is a CD-ROM).
      const disk = join(work, 'out.img');
      must('truncate', ['-s', '1536M', disk]);
      must('mke2fs', ['-q', '-F', '-t', 'ext4', '-L', 'REMASTER_OUT', disk]);
      const log = join(work, 'boot-live.log');
      logs.push(log);
      const b = await bootLiveSession(carrier, kernel, initrd, disk, log, BOOT_LIMIT_S);
      const lines = b.console.split('\n').filter((l) => l.startsWith(LIVE_PREFIX));
      console.log(
        `# live session boot: ${b.seconds.toFixed(0)} s, QEMU exit ${b.status}\n${lines.map((l) => `#   ${l}`).join('\n')}`,
      );
      const rc = lines.map((l) => /^CASPER-REMASTER-LIVE rc=(\S+)/.exec(l)?.[1]).find(Boolean);
      assert.equal(
        rc,
        '0',
        `the session's remaster exited ${rc ?? '(no line)'}; QEMU exited ${b.status}\n--- console tail ---\n${tail(b.console)}`,
      );
      assert.ok(
        lines.some((l) => /remastered from the live medium \/run\/live\/medium \(\/dev\/sr0\)/.test(l)),
        'the base was the live medium, read through /dev/sr0',
      );
      assert.equal(b.status, 0, `the guest powered off (QEMU exit ${b.status})`);
      // The ISO the session wrote: the carrier's boot records, checksums that verify, the session's change inside.
      const mnt = join(work, 'out');
      mkdirSync(mnt);
      must('mount', ['-t', 'ext4', '-o', 'loop,ro', disk, mnt]);
      try {
        const out = join(mnt, 'live.iso');
        assert.deepEqual(bootEntrySignature(elTorito(out)), bootEntrySignature(elTorito(carrier)));
        const tree = join(work, 'tree');
        extractIso(out, tree);
        const sums = run('sh', ['-c', `cd '${tree}' && sha256sum -c --quiet sha256sum.txt`]);
        assert.equal(sums.status, 0, `sha256sum -c in the session's ISO:\n${sums.stdout}${sums.stderr}`);
        const squashfs = join(tree, 'live/filesystem.squashfs');
        assert.equal(
          must('unsquashfs', ['-cat', squashfs, 'etc/session-marker']),
          readFileSync(join(mnt, 'session-marker'), 'utf8'),
          'the change made in the session is in the new root',
        );
        assert.equal(
          must('unsquashfs', ['-cat', squashfs, 'etc/machine-id']),
          '',
          "scrubbed: the session's machine id is left out",
        );
        const listing = must('unsquashfs', ['-l', squashfs, 'run', 'proc', 'mnt']);
        assert.doesNotMatch(
          listing,
          /squashfs-root\/(run|proc|mnt)\/./,
          "the session's /run, /proc and /mnt are kept empty",
        );
      } finally {
        must('umount', [mnt]);
      }
      ok = true;
    } finally {
      if (process.env.CASPER_VM_KEEP) console.log(`# kept (CASPER_VM_KEEP): ${work}`);
      else if (ok) removeTree(work);
      else {
        for (const f of ['carrier.iso', 'out.img', 'tree', 'carrier-upper', 'carrier-work'])
          rmSync(join(work, f), { recursive: true, force: true });
        console.log(`# serial logs kept: ${logs.filter((l) => existsSync(l)).join(' ')}`);
      }
    }
  },
);
