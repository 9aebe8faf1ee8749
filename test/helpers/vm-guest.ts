// What runs inside the VM test's live system (test/vm-persistence.test.ts): the README's live-boot route
// (readmeLiveBootConfig), taken in boot 1's session, and a test driver baked into the medium. The driver is a oneshot unit
// that reads which boot this is from the kernel command line (casper_vmtest=N), makes that boot's changes and
// checks, prints one line per step and check on the serial console with a fixed prefix, then powers the
// machine off, so casper-snapshot.service saves the session at shutdown.
//   boot 1: the changes A;  boot 2: checks A, deletes part of it, adds B;  boot 3: checks A minus the
//   deleted part, plus B.

/** Every line the driver prints starts with this (then `boot=N`, a verb, the rest). */
export const PREFIX = 'CASPER-VMTEST';

/** The kernel command-line parameter that says which boot this is. */
export const BOOT_PARAM = 'casper_vmtest';

/** Where the medium holds the package that boot 1 installs with dpkg -i (no network in the guest). */
export const HELLO_DEB = '/usr/share/casper-vmtest/vmtest-hello_1.0_all.deb';

/** Where the medium holds the project's .deb (as a user would have it at hand: boot 1 installs it). */
export const DEB_DIR = '/opt/casper-vmtest';

export interface LiveBootConfig {
  /** The image the unit writes at every shutdown. */
  output: string;
  /** What the user types in the live session (in DEB_DIR, as root), one command a line. */
  commands: string[];
}

/**
 * The README's "Keeping a live session across reboots", Debian live-boot, word for word (the one place the
 * VM test takes that route from): run in boot 1's session, as root (so without sudo), in the directory that
 * holds the .deb. The README says these steps are part of the session, so the first save keeps the package,
 * the configuration and the enabled unit: boots 2 and 3 get them only from the saved image.
 */
export function readmeLiveBootConfig(debName: string): LiveBootConfig {
  return {
    output: '/run/live/medium/live/zz-session.squashfs',
    commands: [
      `apt install ./${debName}`,
      'echo CASPER_SNAPSHOT_PERSISTENCE_NAME=session | tee -a /etc/casper.conf',
      'systemctl enable --now casper-snapshot.service',
    ],
  };
}

/** A step: a name and a shell function body. */
type Step = [name: string, body: string];
/** A check: a name, the expected value (shell, inside double quotes), a command whose output is compared. */
type Check = [name: string, want: string, got: string];

/** The medium's own copy of a file, as live-boot mounts the medium's squashfs (the session's lowest layer). */
const LOWER = '/run/live/rootfs/filesystem.squashfs';

const FRESH: Check[] = [
  ['fresh medium: casper-snapshot not installed', 'absent', 'exists /usr/bin/casper-snapshot'],
  ["fresh medium: /etc/motd is the medium's", `$(cat ${LOWER}/etc/motd)`, 'cat /etc/motd'],
  ['fresh medium: no user alice', '', 'getent passwd alice'],
  ['fresh medium: /etc/issue.net present', 'present', 'exists /etc/issue.net'],
];

const A: Step[] = [
  ['edit /etc/motd', "printf 'motd of boot 1\\n' > /etc/motd"],
  ['install a package with dpkg -i', `dpkg -i ${HELLO_DEB}`],
  ['delete /etc/issue.net', 'rm /etc/issue.net'],
  [
    'add user alice with a file in her home',
    "useradd -m -s /bin/sh alice && printf 'buy milk\\n' > /home/alice/todo.txt && chown alice:alice /home/alice/todo.txt",
  ],
  ['chmod a medium file (/etc/issue 600)', 'chmod 600 /etc/issue'],
  [
    'a file in /root with a trusted.* xattr',
    "printf 'notes of boot 1\\n' > /root/notes.txt && setfattr -n trusted.casper.vmtest -v A /root/notes.txt",
  ],
  ['a trusted.* xattr on a medium file', 'setfattr -n trusted.casper.vmtest -v on-a-medium-file /etc/debian_version'],
  // (a file boot 2 leaves alone: overlayfs without index=on copies up one name of a hard-linked lower file alone)
  [
    'a hard link to a new file',
    "printf 'one file, two names\\n' > /root/shared.txt && ln /root/shared.txt /root/shared-link",
  ],
  ['a hard link to a medium file', 'ln /etc/host.conf /root/host.conf-link'],
  ['a symlink', 'ln -s /etc/motd /root/motd-link'],
  ['rename a medium directory', 'mv /usr/share/doc/attr /usr/share/doc/attr-renamed'],
  ['delete a medium directory', 'rm -rf /usr/share/doc/dbus'],
  [
    'delete a medium directory and make it again (opaque)',
    "rm -rf /usr/share/doc/procps && mkdir /usr/share/doc/procps && printf 'made again in boot 1\\n' > /usr/share/doc/procps/only-this",
  ],
  ['a file to delete in boot 2', "printf 'deleted in boot 2\\n' > /root/delete-me.txt"],
  [
    'a new executable',
    "printf '#!/bin/sh\\necho boot-1-tool\\n' > /usr/local/bin/boot1-tool && chmod 755 /usr/local/bin/boot1-tool",
  ],
  ['a file under /var/tmp (never captured)', "printf 'scratch\\n' > /var/tmp/scratch-boot1"],
];

/** A's checks that boot 2 undoes (replaced at boot 3 by AFTER_2). */
const A_UNDONE_IN_2 = new Set([
  '/etc/motd edited',
  'package installed',
  'package runs',
  '/root/delete-me.txt',
  'trusted.* xattr on /root/notes.txt',
]);

const A_CHECKS: Check[] = [
  ['/etc/motd edited', 'motd of boot 1', 'cat /etc/motd'],
  ['package installed', 'install ok installed 1.0', "dpkg-query -W -f='${Status} ${Version}' vmtest-hello"],
  ['package runs', 'hello from the vmtest package', 'vmtest-hello'],
  ['/etc/issue.net deleted', 'absent', 'exists /etc/issue.net'],
  ['user alice', 'alice:/home/alice:/bin/sh', 'getent passwd alice | cut -d: -f1,6,7'],
  ['user alice in /etc/shadow', 'alice', 'getent shadow alice | cut -d: -f1'],
  ['group alice', 'alice', 'id -gn alice'],
  ["alice's file: owner and mode", 'alice:alice 644', "stat -c '%U:%G %a' /home/alice/todo.txt"],
  ["alice's file: contents", 'buy milk', 'cat /home/alice/todo.txt'],
  ['/etc/issue mode', '600', 'stat -c %a /etc/issue'],
  [
    'trusted.* xattr on /root/notes.txt',
    'A',
    'getfattr --absolute-names --only-values -n trusted.casper.vmtest /root/notes.txt',
  ],
  [
    'trusted.* xattr on a medium file',
    'on-a-medium-file',
    'getfattr --absolute-names --only-values -n trusted.casper.vmtest /etc/debian_version',
  ],
  ['/root/notes.txt contents', 'notes of boot 1', 'cat /root/notes.txt'],
  ['hard link to a new file: one inode', 'same 2', 'same_inode /root/shared.txt /root/shared-link'],
  ['hard link to a new file: contents', 'one file, two names', 'cat /root/shared-link'],
  ['hard link to a medium file: one inode', 'same 2', 'same_inode /etc/host.conf /root/host.conf-link'],
  ['hard link to a medium file: contents', `$(cat ${LOWER}/etc/host.conf)`, 'cat /root/host.conf-link'],
  ['symlink', '/etc/motd', 'readlink /root/motd-link'],
  ['renamed medium directory: new name', 'present', 'exists /usr/share/doc/attr-renamed/copyright'],
  ['renamed medium directory: old name gone', 'absent', 'exists /usr/share/doc/attr'],
  ['deleted medium directory', 'absent', 'exists /usr/share/doc/dbus'],
  ['opaque directory: only the new file', 'only-this', 'ls -A /usr/share/doc/procps'],
  ['opaque directory: contents', 'made again in boot 1', 'cat /usr/share/doc/procps/only-this'],
  ['/root/delete-me.txt', 'deleted in boot 2', 'cat /root/delete-me.txt'],
  ['new executable: mode', '755', 'stat -c %a /usr/local/bin/boot1-tool'],
  ['new executable: runs', 'boot-1-tool', 'boot1-tool'],
  ['/var/tmp not captured', 'absent', 'exists /var/tmp/scratch-boot1'],
];

const B: Step[] = [
  ['delete a file made in boot 1', 'rm /root/delete-me.txt'],
  ["undo boot 1's edit of /etc/motd", `cp ${LOWER}/etc/motd /etc/motd`],
  ['purge the package boot 1 installed', 'dpkg --purge vmtest-hello'],
  ['change the trusted.* xattr on /root/notes.txt', 'setfattr -n trusted.casper.vmtest -v B /root/notes.txt'],
  ['a new file in /root', "printf 'notes of boot 2\\n' > /root/notes-b.txt"],
  ['a new directory with a larger file', 'mkdir -p /srv/b && seq 1 50000 > /srv/b/seq.txt'],
  ['edit another medium file', "printf '# edited in boot 2\\n' >> /etc/bash.bashrc"],
  ['delete another medium file', 'rm /etc/debconf.conf'],
  ['add user bob (/etc/passwd edited again)', 'useradd -m -s /bin/sh bob'],
];

const AFTER_2: Check[] = [
  ["/etc/motd back to the medium's", `$(cat ${LOWER}/etc/motd)`, 'cat /etc/motd'],
  [
    'package purged: not installed',
    '0',
    "dpkg-query -W -f='${Status}' vmtest-hello 2>/dev/null | grep -c ' installed$'",
  ],
  ['package purged: program gone', 'absent', 'exists /usr/bin/vmtest-hello'],
  ['/root/delete-me.txt deleted', 'absent', 'exists /root/delete-me.txt'],
  [
    'trusted.* xattr on /root/notes.txt changed',
    'B',
    'getfattr --absolute-names --only-values -n trusted.casper.vmtest /root/notes.txt',
  ],
];

const B_CHECKS: Check[] = [
  ['new file of boot 2', 'notes of boot 2', 'cat /root/notes-b.txt'],
  ['larger file of boot 2', '$(seq 1 50000 | sha256sum)', 'sha256sum < /srv/b/seq.txt'],
  ['/etc/bash.bashrc edited', '# edited in boot 2', 'tail -n 1 /etc/bash.bashrc'],
  ['/etc/debconf.conf deleted', 'absent', 'exists /etc/debconf.conf'],
  ['user bob', 'bob:/home/bob', 'getent passwd bob | cut -d: -f1,6'],
];

/** The shutdown unit is enabled and started (at boot 1 by the README's commands, later from the saved image). */
const UNIT_ACTIVE: Check[] = [
  ['casper-snapshot.service active', 'active', 'systemctl is-active casper-snapshot.service'],
];

interface BootPlan {
  checks: Check[];
  steps: Step[];
  /** Checks after the steps. */
  after: Check[];
}

function plans(config: LiveBootConfig): Record<number, BootPlan> {
  // As typed (the unit's stdin is /dev/null, DEBIAN_FRONTEND=noninteractive is set for the whole driver).
  const readme: Step[] = config.commands.map((c) => [`README: ${c}`, `cd ${DEB_DIR} && ${c}`]);
  return {
    1: { checks: FRESH, steps: [...readme, ...A], after: UNIT_ACTIVE },
    2: { checks: [...UNIT_ACTIVE, ...A_CHECKS], steps: B, after: [] },
    3: {
      checks: [...UNIT_ACTIVE, ...A_CHECKS.filter(([n]) => !A_UNDONE_IN_2.has(n)), ...AFTER_2, ...B_CHECKS],
      steps: [],
      after: [],
    },
  };
}

/** The names of the PASS lines boot `n` must print, in order: its checks, its steps, its last checks. */
export function expectedPasses(config: LiveBootConfig, n: number): string[] {
  const p = plans(config)[n];
  return [...p.checks, ...p.steps, ...p.after].map(([name]) => name);
}

export const BOOTS = [1, 2, 3];

const sq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** The driver script (POSIX sh, run by dash in the guest). */
export function driverScript(config: LiveBootConfig): string {
  const out: string[] = [];
  out.push(`#!/bin/sh
# casper-snapshot VM test driver: which boot this is comes from ${BOOT_PARAM}=N on the kernel command line.
# Every line for the test starts with "${PREFIX} boot=N": PASS name, FAIL name: why, INFO …, END pass=P fail=F.
export DEBIAN_FRONTEND=noninteractive
boot=$(sed -n 's/.*${BOOT_PARAM}=\\([0-9]*\\).*/\\1/p' /proc/cmdline)
pass=0
fail=0
say() { echo "${PREFIX} boot=$boot $*"; }
exists() { if [ -e "$1" ] || [ -L "$1" ]; then echo present; else echo absent; fi; }
same_inode() { if [ "$(stat -c %d:%i "$1")" = "$(stat -c %d:%i "$2")" ]; then echo "same $(stat -c %h "$1")"; else echo "different $(stat -c %h "$1") $(stat -c %h "$2")"; fi; }
check() {
  if [ "$3" = "$2" ]; then pass=$((pass + 1)); say "PASS $1"; else fail=$((fail + 1)); say "FAIL $1: expected [$2], got [$(printf '%s' "$3" | tr '\n' '|')]"; fi
}
step() {
  name=$1
  shift
  if out=$("$@" 2>&1); then pass=$((pass + 1)); say "PASS $name"; else fail=$((fail + 1)); say "FAIL $name: $(printf '%s' "$out" | tr '\\n' ' ')"; fi
}
say "INFO start $(uname -r)"
say "INFO root $(grep ' / overlay ' /proc/mounts | head -n 1)"
say "INFO medium $(grep ' /run/live/medium ' /proc/mounts | head -n 1)"
say "INFO layers $(ls /run/live/medium/live | tr '\\n' ' ')"
`);
  for (const [n, plan] of Object.entries(plans(config))) {
    out.push(`boot_${n}() {`);
    for (const [name, want, got] of plan.checks) out.push(`  check ${sq(name)} "${want}" "$(${got} 2>&1)"`);
    plan.steps.forEach(([name], i) => void out.push(`  step ${sq(name)} step_${n}_${i}`));
    for (const [name, want, got] of plan.after) out.push(`  check ${sq(name)} "${want}" "$(${got} 2>&1)"`);
    out.push('  :', '}');
    plan.steps.forEach(([, body], i) => void out.push(`step_${n}_${i}() {\n  ${body}\n}`));
  }
  out.push(`case "$boot" in
${BOOTS.map((n) => `${n}) boot_${n} ;;`).join('\n')}
*) fail=$((fail + 1)); say "FAIL unknown boot number [$boot]" ;;
esac
sync
say "END pass=$pass fail=$fail"
# The shutdown saves the session (casper-snapshot.service's ExecStop=).
systemctl --no-block poweroff
`);
  return out.join('\n');
}

/** The driver's unit: after casper-snapshot.service (so at shutdown it stops first), output on the console. */
export const DRIVER_UNIT = `[Unit]
Description=casper-snapshot VM test driver
ConditionKernelCommandLine=${BOOT_PARAM}
After=casper-snapshot.service multi-user.target
[Service]
Type=oneshot
ExecStart=/usr/local/sbin/casper-vmtest
StandardOutput=journal+console
StandardError=journal+console
TimeoutStartSec=20min
[Install]
WantedBy=multi-user.target
`;

/** The journal on the serial console, so the test sees casper-snapshot's messages at shutdown. */
export const JOURNAL_ON_CONSOLE = '[Journal]\nForwardToConsole=yes\nMaxLevelConsole=info\n';

/** The control file and script of the tiny package boot 1 installs. */
export const HELLO_PACKAGE = {
  control:
    'Package: vmtest-hello\nVersion: 1.0\nArchitecture: all\nMaintainer: casper-snapshot tests <tests@casper-snapshot.invalid>\nDescription: a package the VM test installs in a live session\n',
  files: {
    'usr/bin/vmtest-hello': { text: '#!/bin/sh\necho hello from the vmtest package\n', mode: 0o755 },
    'usr/share/doc/vmtest-hello/README': { text: 'installed by dpkg -i in boot 1, purged in boot 2\n', mode: 0o644 },
  } as Record<string, { text: string; mode: number }>,
};
