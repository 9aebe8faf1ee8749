// Persistence on a real Debian live system under QEMU (issue 19's proof): a minimal bookworm with the
// distribution's kernel and live-boot (scripts/vm-root.sh, cached under /var/tmp/casper-vm), the project's
// .deb on the medium, on a raw disk with one ext4 partition that live-boot mounts read-only at
// /run/live/medium. Three boots, each driven by a unit baked into the medium (helpers/vm-guest.ts) that
// reports over the serial console and powers off, so the shutdown unit saves the session:
//   boot 1 follows the README's live-boot route word for word (readmeLiveBootConfig(): apt install of the
//   .deb, CASPER_SNAPSHOT_PERSISTENCE_NAME in /etc/casper.conf, systemctl enable --now) and makes the changes
//   A; boot 2 (package, configuration and unit from the saved image) checks A, deletes part of it and adds B;
//   boot 3 checks A minus the deleted part, plus B.
// Every boot's save must succeed (the tool's summary line in the journal, no failure of the unit).
// Part of npm test; alone: `npm run test:vm`: about 8 minutes on 2 cores with the live system cached
// (2 more to build it), most of it the three boots. CASPER_VM_KEEP=1 keeps the work directory (disk image, serial logs) even on success; on a
// failure the serial logs are kept and their paths printed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { mountsUnder } from './helpers/boot.js';
import { projectDeb } from './helpers/project-deb.js';
import { run } from './helpers/tools.js';
import {
  bootVm,
  buildMediumTree,
  liveSystem,
  makeDisk,
  vmCapability,
  VM_WORK,
  withDisk,
  type BootOutcome,
} from './helpers/vm.js';
import { BOOTS, expectedPasses, PREFIX, readmeLiveBootConfig, type LiveBootConfig } from './helpers/vm-guest.js';

/** Each boot's limit: a TCG boot to the driver took ~2 min on an idle 2-core machine; shared ones are slower. */
const BOOT_LIMIT_S = Number(process.env.CASPER_VM_BOOT_LIMIT_S ?? 900);

function skipReason(): string | false {
  if (process.env.CASPER_SANITIZE) return 'the VM test runs the packaged executable, not the sanitized addon';
  return vmCapability();
}

interface DriverReport {
  passes: string[];
  fails: string[];
  end: string | null;
  info: string[];
}

/**
 * The driver's lines of boot `n`: printed by its unit to the console, or forwarded there by journald
 * (`[time] casper-vmtest[pid]: …`); a line that shows both ways counts once.
 */
function driverReport(consoleText: string, n: number): DriverReport {
  const r: DriverReport = { passes: [], fails: [], end: null, info: [] };
  const re = new RegExp(`(?:^|: )${PREFIX} boot=${n} (PASS|FAIL|END|INFO) ?(.*)$`);
  const seen = new Set<string>();
  for (const line of consoleText.split('\n')) {
    const m = re.exec(line);
    if (!m || seen.has(m[0])) continue;
    seen.add(m[0]);
    if (m[1] === 'PASS') r.passes.push(m[2]);
    else if (m[1] === 'FAIL') r.fails.push(m[2]);
    else if (m[1] === 'END') r.end = m[2];
    else r.info.push(m[2]);
  }
  return r;
}

/** The console lines about casper-snapshot (its own messages and its unit's), for failure messages. */
function snapshotLines(consoleText: string): string {
  return consoleText
    .split('\n')
    .filter(
      (l) =>
        /casper-snapshot/.test(l) && !/casper-vmtest/.test(l) && !/Job casper-snapshot\.service\/stop running/.test(l),
    )
    .slice(-40)
    .join('\n');
}

const tail = (s: string, n = 60) => s.split('\n').slice(-n).join('\n');

/** Every assertion about one boot, each naming the boot and what it saw. */
function checkBoot(n: number, b: BootOutcome, config: LiveBootConfig, log: string): void {
  const output = config.output;
  const where = `boot ${n} of ${BOOTS.length} (serial log: ${log})`;
  const report = driverReport(b.console, n);
  assert.ok(
    report.end !== null || b.status === 0,
    `${where}: the driver never finished; QEMU exited ${b.status}${b.status === 124 ? ` (still running after ${BOOT_LIMIT_S} s)` : ''}\n${b.qemuStderr}\n--- console tail ---\n${tail(b.console)}`,
  );
  assert.deepEqual(report.fails, [], `${where}: failed checks (expected vs got)`);
  const missing = expectedPasses(config, n).filter((p) => !report.passes.includes(p));
  assert.deepEqual(missing, [], `${where}: checks that never reported\n--- console tail ---\n${tail(b.console)}`);
  assert.ok(report.end !== null, `${where}: no END line from the driver`);
  assert.equal(
    b.status,
    0,
    `${where}: QEMU exited ${b.status}${b.status === 124 ? ` (the guest did not power off within ${BOOT_LIMIT_S} s)` : ''}\n${b.qemuStderr}\n--- console tail ---\n${tail(b.console)}`,
  );
  // The shutdown save: the tool's summary line in the journal (forwarded to the console), no unit failure.
  const failed = b.console
    .split('\n')
    .filter((l) =>
      /casper-snapshot\.service: (Failed|Control process exited|Main process exited)|Failed (stopping|to stop) .*casper-snapshot|THE LIVE SESSION WAS NOT SAVED/.test(
        l,
      ),
    );
  assert.deepEqual(failed, [], `${where}: casper-snapshot.service failed at shutdown:\n${snapshotLines(b.console)}`);
  assert.ok(
    b.console.includes(`${output}: SquashFS 4.0`),
    `${where}: no summary line of the save to ${output} at shutdown; casper-snapshot's lines:\n${snapshotLines(b.console)}`,
  );
}

test(
  'VM: three boots of a Debian live system (live-boot, QEMU) keep every session: A; A checked, part deleted, B added; A minus the deleted part plus B',
  { skip: skipReason(), timeout: 120 * 60_000 },
  async (t) => {
    const sys = liveSystem();
    if ('skip' in sys) return t.skip(sys.skip);
    const built = projectDeb();
    if ('skip' in built) return t.skip(built.skip);
    const config = readmeLiveBootConfig(basename(built.deb));
    mkdirSync(VM_WORK, { recursive: true });
    const work = mkdtempSync(join(VM_WORK, 'run-'));
    const disk = join(work, 'disk.img');
    const logs: string[] = [];
    let ok = false;
    try {
      const t0 = Date.now();
      const tree = buildMediumTree(sys, built.deb, config, work);
      makeDisk(tree, disk, 768);
      rmSync(tree, { recursive: true, force: true });
      console.log(
        `# medium: ${(statSync(disk).size / (1 << 20)).toFixed(0)} MiB disk image made in ${((Date.now() - t0) / 1000).toFixed(0)} s`,
      );
      const outputOnDisk = config.output.replace(/^\/run\/live\/medium\//, '');
      for (const n of BOOTS) {
        const log = join(work, `boot-${n}.log`);
        logs.push(log);
        const b = await bootVm({ vmlinuz: sys.vmlinuz, initrd: sys.initrd, disk, n, log, limitS: BOOT_LIMIT_S });
        const layers = withDisk(disk, join(work, 'disk-view'), (mnt) =>
          readdirSync(join(mnt, 'live'))
            .map((f) => `${f} ${(statSync(join(mnt, 'live', f)).size / (1 << 20)).toFixed(1)} MiB`)
            .join(', '),
        );
        console.log(`# boot ${n}: ${b.seconds.toFixed(0)} s, QEMU exit ${b.status}; medium's live/ now: ${layers}`);
        for (const i of driverReport(b.console, n).info) console.log(`#   ${i}`);
        checkBoot(n, b, config, log);
        assert.ok(
          withDisk(disk, join(work, 'disk-view'), (mnt) => existsSync(join(mnt, outputOnDisk))),
          `boot ${n}: ${config.output} is not on the medium after the shutdown`,
        );
      }
      ok = true;
    } finally {
      if (process.env.CASPER_VM_KEEP) console.log(`# kept (CASPER_VM_KEEP): ${work}`);
      else if (ok) rmSync(work, { recursive: true, force: true });
      else {
        // Everything but the serial logs goes (the disk image alone is over 1 GiB).
        for (const m of mountsUnder(work).reverse()) run('umount', ['-l', m]);
        for (const f of readdirSync(work))
          if (!/\.log(\.qemu)?$/.test(f)) rmSync(join(work, f), { recursive: true, force: true });
        console.log(`# serial logs kept: ${logs.filter((l) => existsSync(l)).join(' ')}`);
      }
    }
  },
);
