// Machine identity and secrets a snapshot meant for other machines should not carry (the lists that
// refractasnapshot, penguins-eggs, remastersys and systemback leave out of a remaster agree on these). Opt-in: a snapshot re-layered on
// the same machine (persistence consolidation) wants to keep them. /etc/mtab is not listed: on
// current systems it is a symlink to /proc/self/mounts that should stay.

export interface ScrubRule {
  /** Image path or an anchored -wildcards pattern. */
  path: string;
  /** exclude: leave out; truncate: store as an empty file (same owner and mode). */
  action: 'exclude' | 'truncate';
  /** Every non-directory at any depth below `path` (the directories stay, with their modes). */
  filesBelow?: boolean;
  why: string;
}

const RULES: readonly ScrubRule[] = [
  {
    path: '/etc/machine-id',
    action: 'truncate',
    why: 'machine identity: systemd makes a new one at boot from an empty file',
  },
  {
    path: '/var/lib/dbus/machine-id',
    action: 'exclude',
    why: 'machine identity (D-Bus falls back to /etc/machine-id)',
  },
  {
    path: '/etc/ssh/ssh_host_*key*',
    action: 'exclude',
    why: 'SSH host keys must differ per machine (regenerate with ssh-keygen -A)',
  },
  { path: '/etc/fstab', action: 'exclude', why: 'mounts of the source machine' },
  { path: '/etc/fstab.d', action: 'exclude', why: 'mounts of the source machine' },
  { path: '/etc/crypttab', action: 'exclude', why: 'encrypted volumes of the source machine' },
  { path: '/etc/initramfs-tools/conf.d/resume', action: 'exclude', why: 'resume device of the source machine' },
  { path: '/etc/initramfs-tools/conf.d/cryptroot', action: 'exclude', why: 'encrypted root of the source machine' },
  {
    path: '/etc/udev/rules.d/70-persistent-*.rules',
    action: 'exclude',
    why: 'NIC/CD names pinned to the source hardware',
  },
  { path: '/etc/NetworkManager/system-connections/*', action: 'exclude', why: 'saved networks and their secrets' },
  { path: '/var/lib/NetworkManager/secret_key', action: 'exclude', why: 'NetworkManager per-machine secret' },
  { path: '/var/lib/dhcp/*', action: 'exclude', why: 'DHCP leases of the source machine' },
  {
    path: '/var/lib/apt/lists',
    action: 'exclude',
    filesBelow: true,
    why: 'package indexes (apt update refetches them)',
  },
  {
    path: '/var/log',
    action: 'exclude',
    filesBelow: true,
    why: 'logs of the source machine (directories kept for their owners and modes)',
  },
];

export function scrubList(): ScrubRule[] {
  return RULES.map((r) => ({ ...r }));
}
