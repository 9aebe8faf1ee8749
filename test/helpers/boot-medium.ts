// What the test's live medium carries on top of the bookworm root: casper-snapshot (bound in from the
// project), its shutdown unit enabled with /etc/casper.conf, a unit that makes a session's changes at boot (on
// a later boot: records what it sees, and may change more), and journald forwarding to the console so the test can read the
// journal live. Everything the session does is in SESSION_SCRIPT, so the test can check it item by item.
import { copyFileSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { put, toolFiles } from './boot.js';
import { repoRoot } from './tools.js';

/** The directory shared with the host inside every container (ready marker, what the session saw). */
export const SHARED = '/casper-test';

/** The paths whose presence every later boot records (record_seen in SESSION_SCRIPT). */
export const SEEN_PATHS = [
  '/home/alice/Documents/notes/todo.txt',
  '/srv/data/new.txt',
  '/etc/motd',
  '/etc/debian_version',
  '/etc/host.conf',
  '/etc/host.conf.renamed',
  '/usr/share/doc/dbus',
  '/usr/share/doc/attr-renamed/copyright',
  '/usr/share/doc/hostname/only-this',
  '/usr/share/doc/hostname/copyright',
  '/opt/casper-demo/bin/casper-demo',
  '/srv/data/b.txt',
  '/var/lib/b-state/state',
  '/etc/shells',
];

export const SESSION_SCRIPT = `#!/bin/sh
# Runs at boot (casper-test.service). $SHARED/action says what to do; $SHARED/ready tells the test it may halt.
set -eu
action=$(cat ${SHARED}/action)
# What this system sees of the saved sessions (one line per item; SEEN_PATHS and the test's expectations agree).
record_seen() {
  {
    for p in ${SEEN_PATHS.join(' ')}; do
      if [ -e "$p" ]; then echo "present $p"; else echo "absent $p"; fi
    done
    echo "nlink $(stat -c %h /srv/data/new.txt)"
    echo "xattr $(getfattr --only-values -n user.casper.note /srv/data/new.txt)"
    echo "xattr-medium $(getfattr --only-values -n user.casper.medium /etc/hostname)"
    echo "issue-tail $(tail -n 1 /etc/issue)"
    echo "mode-issue.net $(stat -c %a /etc/issue.net)"
    echo "owner $(stat -c %U /home/alice/Documents/notes/todo.txt 2>/dev/null || echo missing)"
    echo "demo $(/opt/casper-demo/bin/casper-demo 2>/dev/null || echo missing)"
    echo "dpkg $(dpkg-query -W -f='\${Version}' casper-demo)"
    echo "users $(getent passwd alice bob | cut -d: -f1 | tr '\\n' ' ')"
  } > ${SHARED}/seen
}
case "$action" in
session)
  # a user's home
  useradd -m -s /bin/bash alice
  printf 'alias ll="ls -l"\\n' >> /home/alice/.bashrc
  mkdir -p /home/alice/Documents/notes
  printf 'remember the milk\\n' > /home/alice/Documents/notes/todo.txt
  chown -R alice:alice /home/alice
  # new files and directories, a symlink, a hard link, user xattrs (on a new file and on a medium file)
  mkdir -p /srv/data/sub/deeper
  printf 'new in the session (%s)\\n' "$action" > /srv/data/new.txt
  ln /srv/data/new.txt /srv/data/new-hardlink.txt
  ln -s ../new.txt /srv/data/sub/link-to-new
  head -c 300000 /dev/urandom > /srv/data/sub/deeper/blob.bin
  setfattr -n user.casper.note -v "session $action" /srv/data/new.txt
  setfattr -n user.casper.medium -v on-a-medium-file /etc/hostname
  # a changed file, a mode change, deleted files and a deleted directory of the medium
  printf 'changed in the session\\n' >> /etc/issue
  chmod 600 /etc/issue.net
  rm /etc/motd /etc/debian_version
  rm -rf /usr/share/doc/dbus
  # renamed: a file and a directory of the medium
  mv /etc/host.conf /etc/host.conf.renamed
  mv /usr/share/doc/attr /usr/share/doc/attr-renamed
  # a directory of the medium deleted and made again (opaque)
  rm -rf /usr/share/doc/hostname && mkdir /usr/share/doc/hostname && printf 'recreated\\n' > /usr/share/doc/hostname/only-this
  # a package-like tree: files, a dpkg list and a status entry
  mkdir -p /opt/casper-demo/bin /usr/share/doc/casper-demo
  printf '#!/bin/sh\\necho casper-demo\\n' > /opt/casper-demo/bin/casper-demo && chmod 755 /opt/casper-demo/bin/casper-demo
  printf 'casper-demo (1.0) unstable; urgency=low\\n' > /usr/share/doc/casper-demo/changelog
  printf '/opt/casper-demo\\n/opt/casper-demo/bin\\n/opt/casper-demo/bin/casper-demo\\n' > /var/lib/dpkg/info/casper-demo.list
  printf '\\nPackage: casper-demo\\nStatus: install ok installed\\nVersion: 1.0\\nArchitecture: all\\nDescription: demo\\n' >> /var/lib/dpkg/status
  ;;
second)
  # A later session: it records what it sees of the first, deletes part of it, undoes an edit, adds its own.
  record_seen
  rm /home/alice/Documents/notes/todo.txt
  rm -rf /opt/casper-demo
  chmod 644 /etc/issue.net
  printf 'changed in session 2\\n' >> /etc/issue
  printf 'new in session 2\\n' > /srv/data/b.txt
  mkdir -p /var/lib/b-state && printf 'state\\n' > /var/lib/b-state/state
  useradd -m -s /bin/bash bob
  rm /etc/shells
  ;;
big)
  # A session whose snapshot takes long (base64 text, xz: slow to compress, and not stored raw as random
  # bytes would be): for the stop timeout.
  head -c 36M /dev/urandom | base64 -w 0 > /srv/big-1.txt
  head -c 36M /dev/urandom | base64 -w 0 > /srv/big-2.txt
  ;;
full)
  # More than the output filesystem holds.
  head -c 24M /dev/urandom > /srv/big.bin
  ;;
check)
  # A later boot: what this system sees of the saved sessions.
  record_seen
  ;;
esac
{
  systemctl show casper-snapshot.service -p ActiveState -p TimeoutStopUSec -p After -p RequiresMountsFor
  systemctl show poweroff.target -p JobTimeoutUSec
} > ${SHARED}/units
sync
echo ready > ${SHARED}/ready
`;

/** casper.conf excludes for what the test binds into the session (the tool and node, until a package
 * installs them; the shared and persistent directories). */
export const BIND_EXCLUDES = `CASPER_SNAPSHOT_EXCLUDES="/opt/node /opt/casper-snapshot ${SHARED} /persist"\n`;

export interface MediumConfig {
  /** /etc/casper.conf */
  casperConf: string;
  /** A drop-in for casper-snapshot.service (RequiresMountsFor= of the output, ExecStop= changes…). */
  dropIn: string;
}

/** Writes the medium's additions into `extra`; returns the nspawn arguments the tool's binds need. */
export function writeMediumExtra(extra: string, cfg: MediumConfig): string[] {
  const binds = toolFiles(extra);
  const sys = join(extra, 'etc/systemd/system');
  mkdirSync(join(sys, 'multi-user.target.wants'), { recursive: true });
  // The product's unit, as installed by the README's instructions, plus a drop-in (systemctl edit).
  copyFileSync(join(repoRoot, 'systemd/casper-snapshot.service'), join(sys, 'casper-snapshot.service'));
  symlinkSync(
    '/etc/systemd/system/casper-snapshot.service',
    join(sys, 'multi-user.target.wants/casper-snapshot.service'),
  );
  put(join(sys, 'casper-snapshot.service.d/test.conf'), cfg.dropIn);
  put(join(extra, 'etc/casper.conf'), cfg.casperConf);
  put(join(extra, 'usr/local/sbin/casper-test'), SESSION_SCRIPT, 0o755);
  put(
    join(sys, 'casper-test.service'),
    `[Unit]\nDescription=Make the live session's changes (casper-snapshot boot test)\nAfter=casper-snapshot.service\n` +
      `[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/usr/local/sbin/casper-test\nStandardOutput=journal+console\n[Install]\nWantedBy=multi-user.target\n`,
  );
  symlinkSync('/etc/systemd/system/casper-test.service', join(sys, 'multi-user.target.wants/casper-test.service'));
  // The journal on the console (the test reads it from systemd-nspawn's output), as with a serial console.
  put(
    join(extra, 'etc/systemd/journald.conf.d/console.conf'),
    '[Journal]\nForwardToConsole=yes\nMaxLevelConsole=info\n',
  );
  // Mount points of the binds, on the medium so that the session's upper layer does not get them.
  for (const d of [SHARED.slice(1), 'rofs', 'cdrom', 'persist']) mkdirSync(join(extra, d), { recursive: true });
  // Loop devices, as a real machine has them: casper-snapshot loop-mounts the layer images that casper leaves
  // out of reach after switch_root (every layer but the bottom one, which is /rofs). systemd-nspawn's /dev has
  // none: the host's loop-control is bound in, and the nodes it hands out are made at boot.
  put(
    join(extra, 'etc/tmpfiles.d/casper-test-loop.conf'),
    Array.from({ length: 256 }, (_, i) => `b /dev/loop${i} 0660 root disk - 7:${i}\n`).join(''),
  );
  return [...binds, '--bind=/dev/loop-control'];
}
