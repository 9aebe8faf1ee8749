// remaster() and `casper-snapshot remaster` on small casper and live-boot media (no boot: test/remaster-boot.test.ts
// boots one): what is replaced, rewritten and left out on the medium, the boot records kept, the checks and
// the failures. Each medium is made with xorriso in a second (test/helpers/medium-iso.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { remaster, type RemasterProgress } from '../src/api/remaster.js';
import { CasperError, UsageError } from '../src/errors.js';
import { readIsoVolume } from '../src/remaster/iso9660.js';
import { bootEntrySignature } from '../src/remaster/base-medium.js';
import { cli, has, must, repoRoot, run } from './helpers/tools.js';
import { elTorito, extractIso, makeMediumIso, makeRoot } from './helpers/medium-iso.js';

const skip = !has('xorriso')
  ? 'xorriso is not installed (scripts/install-system-deps.sh)'
  : !has('mksquashfs')
    ? 'mksquashfs is not installed'
    : false;

function workdir(): string {
  return mkdtempSync(join(tmpdir(), 'casper-remaster-test-'));
}

/** A casper medium (kernel 6.1.0-1) and a new root with the newer kernel 6.1.0-2 and its initrd. */
function casperCase(work: string, opts: { grubExtra?: string } = {}) {
  const oldRoot = join(work, 'old-root');
  const root = join(work, 'root');
  makeRoot(oldRoot, { kernel: '6.1.0-1-amd64', marker: 'old root' });
  makeRoot(root, { kernel: '6.1.0-2-amd64', marker: 'new root' });
  const base = join(work, 'base.iso');
  makeMediumIso(
    { family: 'casper', oldRoot, kernel: '6.1.0-1-amd64', label: 'BASE_LABEL', grubExtra: opts.grubExtra },
    work,
    base,
  );
  return { root, base };
}

test(
  'remaster, casper medium: image replaced; size, manifest, -remove list and md5sum.txt rewritten; persistence layers and the old signature left out; the newer kernel and initrd copied; boot entries and label kept',
  { skip },
  async () => {
    const work = workdir();
    try {
      const { root, base } = casperCase(work);
      const out = join(work, 'out.iso');
      const phases: RemasterProgress['phase'][] = [];
      const r = await remaster({
        output: out,
        fromIso: base,
        source: root,
        onProgress: (p) => phases.at(-1) !== p.phase && phases.push(p.phase),
      });
      assert.deepEqual(phases, ['medium', 'capture', 'iso', 'commit', 'done']);
      assert.equal(r.layout.family, 'casper');
      assert.equal(r.kernel.verdict, 'updated', r.kernel.note);
      const changes = Object.fromEntries(r.changes.map((c) => [c.path, c.change]));
      assert.deepEqual(changes, {
        '/casper/filesystem.size': 'rewritten',
        '/casper/filesystem.manifest': 'rewritten',
        '/casper/filesystem.manifest-remove': 'rewritten',
        '/casper/vmlinuz': 'replaced',
        '/casper/initrd': 'replaced',
        '/casper/.zz-session.squashfs.prev-1234': 'removed',
        '/casper/filesystem.squashfs.gpg': 'removed',
        '/casper/zz-session.squashfs': 'removed',
        '/md5sum.txt': 'rewritten',
      });
      const tree = join(work, 'tree');
      extractIso(out, tree);
      // The image is the new root (scrubbed: the log is left out), in the base's codec.
      assert.equal(must('unsquashfs', ['-cat', join(tree, 'casper/filesystem.squashfs'), 'etc/marker']), 'new root\n');
      assert.match(
        must('unsquashfs', ['-s', join(tree, 'casper/filesystem.squashfs')]),
        /Compression gzip[\s\S]*Block size 65536/,
      );
      assert.equal(
        run('unsquashfs', ['-cat', join(tree, 'casper/filesystem.squashfs'), 'var/log/old.log']).status === 0,
        false,
        'the scrub left the log out',
      );
      assert.equal(
        readFileSync(join(tree, 'casper/filesystem.manifest'), 'utf8'),
        must('dpkg-query', [`--admindir=${join(root, 'var/lib/dpkg')}`, '-W']),
      );
      assert.equal(
        readFileSync(join(tree, 'casper/filesystem.manifest-remove'), 'utf8'),
        'casper\n',
        'ubiquity is not in the new root',
      );
      assert.equal(
        readFileSync(join(tree, 'casper/filesystem.size'), 'utf8'),
        String(r.installedBytes),
        'no newline, as the base had none',
      );
      assert.deepEqual(readdirSync(join(tree, 'casper')).sort(), [
        'filesystem.manifest',
        'filesystem.manifest-remove',
        'filesystem.size',
        'filesystem.squashfs',
        'initrd',
        'vmlinuz',
      ]);
      assert.deepEqual(
        readFileSync(join(tree, 'casper/vmlinuz')),
        readFileSync(join(root, 'boot/vmlinuz-6.1.0-2-amd64')),
      );
      assert.deepEqual(
        readFileSync(join(tree, 'casper/initrd')),
        readFileSync(join(root, 'boot/initrd.img-6.1.0-2-amd64')),
      );
      const sums = run('sh', ['-c', `cd '${tree}' && md5sum -c --quiet md5sum.txt`]);
      assert.equal(sums.status, 0, sums.stdout + sums.stderr);
      assert.doesNotMatch(readFileSync(join(tree, 'md5sum.txt'), 'utf8'), /zz-session|\.gpg/);
      assert.deepEqual(bootEntrySignature(elTorito(out)), bootEntrySignature(elTorito(base)));
      assert.equal(readIsoVolume(out)?.volumeId, 'BASE_LABEL');
      assert.equal(readIsoVolume(out)?.joliet, true, 'the base has Joliet names: so has the new ISO');
      assert.deepEqual(
        readdirSync(work).filter((n) => n.startsWith('.')),
        [],
        'no temporary file left beside the ISO',
      );
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  },
);

test(
  'remaster, live-boot medium: the persistence image and its module file entry go; an older root kernel is kept and reported',
  { skip },
  async () => {
    const work = workdir();
    try {
      const oldRoot = join(work, 'old-root');
      const root = join(work, 'root');
      makeRoot(oldRoot, { kernel: '6.1.0-9-amd64' });
      makeRoot(root, {
        kernel: '6.1.0-8-amd64',
        packages: [
          ['dpkg', '1.21.22', 'amd64'],
          ['live-boot', '1:20230131', 'all'],
        ],
      });
      const base = join(work, 'base.iso');
      makeMediumIso({ family: 'live-boot', oldRoot, kernel: '6.1.0-9-amd64', label: 'LIVE' }, work, base);
      const out = join(work, 'out.iso');
      const r = await remaster({ output: out, fromIso: base, source: root });
      assert.equal(r.kernel.verdict, 'kept');
      assert.match(r.kernel.note, /6\.1\.0-8-amd64 is older than the medium's/);
      assert.ok(
        r.warnings.some((w) => w.startsWith('kernel: ')),
        r.warnings.join('\n'),
      );
      const tree = join(work, 'tree');
      extractIso(out, tree);
      assert.equal(readFileSync(join(tree, 'live/filesystem.module'), 'utf8'), 'filesystem.squashfs\n');
      assert.equal(existsSync(join(tree, 'live/zz-session.squashfs')), false);
      assert.equal(
        readFileSync(join(tree, 'live/filesystem.packages'), 'utf8'),
        'dpkg\t1.21.22\nlive-boot\t1:20230131\n',
      );
      assert.equal(readFileSync(join(tree, 'live/filesystem.size'), 'utf8'), `${r.installedBytes}\n`);
      for (const f of ['sha256sum.txt', 'md5sum.txt']) {
        const c = run('sh', ['-c', `cd '${tree}' && ${f.replace('.txt', '')} -c --quiet ${f}`]);
        assert.equal(c.status, 0, `${f}: ${c.stdout}${c.stderr}`);
      }
      assert.match(readFileSync(join(tree, 'live/vmlinuz'), 'latin1'), /6\.1\.0-9-amd64/, "the medium's kernel kept");
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  },
);

test(
  'remaster from a base on a block device held open exclusively, as a mounted live medium is: read, never written',
  {
    skip:
      skip ||
      (process.getuid?.() !== 0 ? 'needs root (losetup)' : !has('python3') ? 'python3 holds the device' : false),
  },
  async () => {
    const work = workdir();
    let loop = '';
    let holder: ReturnType<typeof spawn> | undefined;
    try {
      const { root, base } = casperCase(work);
      loop = must('losetup', ['-f', '--show', '-r', base]).trim();
      // O_EXCL on a block device is what a mount holds: a second exclusive open fails with EBUSY.
      holder = spawn(
        'python3',
        [
          '-c',
          `import os,sys,time\nfd=os.open(${JSON.stringify(loop)}, os.O_RDONLY|os.O_EXCL)\nprint('held', flush=True)\ntime.sleep(600)`,
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      await new Promise<void>((res, rej) => {
        holder!.stdout!.once('data', () => res());
        holder!.once('exit', (c) => rej(new Error(`the holder exited ${c}`)));
      });
      const before = readFileSync(base);
      const out = join(work, 'out.iso');
      const r = await remaster({ output: out, fromIso: loop, source: root });
      assert.equal(r.base.iso, loop);
      assert.deepEqual(bootEntrySignature(elTorito(out)), bootEntrySignature(elTorito(base)));
      assert.ok(readFileSync(base).equals(before), 'the base is unchanged');
    } finally {
      holder?.kill();
      if (loop) run('losetup', ['-d', loop]);
      rmSync(work, { recursive: true, force: true });
    }
  },
);

test(
  'remaster onto a tmpfs: the warning names the ISO, not the temporary image beside it',
  { skip: skip || (process.getuid?.() !== 0 ? 'needs root (mount -t tmpfs)' : false) },
  async () => {
    const work = workdir();
    const mnt = join(work, 'tmpfs');
    try {
      const { root, base } = casperCase(work);
      mkdirSync(mnt);
      must('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'remaster-test', mnt]);
      const out = join(mnt, 'out.iso');
      const r = await remaster({ output: out, fromIso: base, source: root });
      const said = r.warnings.filter((w) => w.includes('tmpfs'));
      assert.deepEqual(said, [`'${out}' is on a tmpfs (memory): it will not survive a reboot`]);
    } finally {
      run('umount', [mnt]);
      rmSync(work, { recursive: true, force: true });
    }
  },
);

test(
  "remaster --label: the new volume id, and a warning when the boot configuration looks for the old one; --compressor keeps the replaced image's block size",
  { skip },
  async () => {
    const work = workdir();
    try {
      const { root, base } = casperCase(work, { grubExtra: 'search --no-floppy --label --set=root BASE_LABEL' });
      const out = join(work, 'out.iso');
      const r = await remaster({ output: out, fromIso: base, source: root, label: 'NEW_LABEL' });
      assert.equal(readIsoVolume(out)?.volumeId, 'NEW_LABEL');
      assert.deepEqual(r.label, { base: 'BASE_LABEL', written: 'NEW_LABEL' });
      assert.ok(
        r.warnings.some((w) => /names the old label 'BASE_LABEL' \(\/boot\/grub\/grub\.cfg\)/.test(w)),
        r.warnings.join('\n'),
      );
      await assert.rejects(
        remaster({ output: out, fromIso: base, source: root, label: 'X'.repeat(33) }),
        (e: Error) => e instanceof UsageError && /32/.test(e.message),
      );
      // Another compressor: the replaced image's block size stays.
      await remaster({ output: out, fromIso: base, source: root, compressor: 'zstd' });
      const tree = join(work, 'tree');
      extractIso(out, tree);
      assert.match(
        must('unsquashfs', ['-s', join(tree, 'casper/filesystem.squashfs')]),
        /Compression zstd[\s\S]*Block size 65536/,
      );
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  },
);

test('remaster with SOURCE_DATE_EPOCH: two runs give byte-identical ISOs', { skip }, async () => {
  const work = workdir();
  try {
    const { root, base } = casperCase(work);
    const a = join(work, 'a.iso');
    const b = join(work, 'b.iso');
    await remaster({ output: a, fromIso: base, source: root, sourceDateEpoch: 1700000000, jobs: 1 });
    await new Promise((res) => setTimeout(res, 1100)); // another second on the clock
    await remaster({ output: b, fromIso: base, source: root, sourceDateEpoch: 1700000000, jobs: 2 });
    assert.ok(readFileSync(a).equals(readFileSync(b)), 'the two ISOs differ');
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test(
  'remaster refuses what it must not do: a non-ISO output without --force, a base that is no ISO, a missing xorriso; an aborted run leaves nothing',
  { skip },
  async () => {
    const work = workdir();
    try {
      const { root, base } = casperCase(work);
      const out = join(work, 'out.iso');
      writeFileSync(out, 'not an ISO');
      await assert.rejects(
        remaster({ output: out, fromIso: base, source: root }),
        (e: Error) => e instanceof UsageError && /not an ISO 9660 image: not replaced/.test(e.message),
      );
      assert.equal(readFileSync(out, 'utf8'), 'not an ISO');
      rmSync(out);
      await assert.rejects(
        remaster({ output: out, fromIso: join(root, 'etc/hostname'), source: root }),
        (e: Error) => e instanceof UsageError && /holds no ISO 9660 image/.test(e.message),
      );
      await assert.rejects(
        remaster({ output: out, fromIso: base, source: root, xorriso: join(work, 'no-xorriso') }),
        (e: Error) => e instanceof CasperError && e.code === 'ENOXORRISO',
      );
      await assert.rejects(
        remaster({ output: base, fromIso: base, source: root }),
        (e: Error) => e instanceof UsageError && /the base medium itself/.test(e.message),
      );
      const before = readdirSync(work).sort();
      const ac = new AbortController();
      await assert.rejects(
        remaster({
          output: out,
          fromIso: base,
          source: root,
          signal: ac.signal,
          onProgress: (p) => p.phase === 'capture' && ac.abort(),
        }),
        (e: Error) => e instanceof CasperError && e.code === 'ABORT_ERR',
      );
      assert.deepEqual(readdirSync(work).sort(), before, 'an aborted remaster leaves no file behind');
      // Aborted while xorriso writes (or just after): no ISO, no temporary file.
      const late = new AbortController();
      await assert.rejects(
        remaster({
          output: out,
          fromIso: base,
          source: root,
          signal: late.signal,
          onProgress: (p) => p.phase === 'iso' && late.abort(),
        }),
        (e: Error) => e instanceof CasperError && e.code === 'ABORT_ERR',
      );
      assert.deepEqual(readdirSync(work).sort(), before, 'a remaster aborted in its ISO phase leaves no file behind');
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  },
);

test(
  'casper-snapshot remaster: the CLI writes the ISO and its summary; usage errors exit 1, failures 2; xorriso missing is named',
  { skip },
  () => {
    const work = workdir();
    try {
      const { root, base } = casperCase(work);
      const out = join(work, 'out.iso');
      const r = cli(['remaster', '--from-iso', base, '--source', root, out]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /out\.iso: ISO 9660 'BASE_LABEL', .* a casper medium remastered from/);
      assert.match(r.stdout, /\/casper\/filesystem\.manifest rewritten/);
      assert.match(
        r.stdout,
        /kernel {9}updated: the new root's kernel 6\.1\.0-2-amd64 replaces the medium's 6\.1\.0-1-amd64/,
      );
      const j = cli(['remaster', '--from-iso', base, '--source', root, out, '--json']);
      assert.equal(j.status, 0, j.stderr);
      const report = JSON.parse(j.stdout);
      assert.equal(report.schemaVersion, 1);
      assert.equal(report.capture.mode, 'directory');
      assert.equal(cli(['remaster']).status, 1);
      assert.equal(
        cli(['remaster', '--from-iso', base, '--source', root, join(work, 'no-such-dir', 'x.iso')]).status,
        1,
      );
      const none = cli(['remaster', '--from-iso', base, '--source', root, out], { PATH: '/nonexistent' });
      assert.equal(none.status, 2);
      assert.match(none.stderr, /xorriso, which is not installed: install the package xorriso \(apt install xorriso\)/);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  },
);

test(
  'remaster of a grub-mkrescue ISO (an HFS+ hybrid besides BIOS and UEFI): the El Torito entries kept; an HFS+ tree this xorriso cannot replay dropped, and said',
  {
    skip:
      skip ||
      (!has('grub-mkrescue') || !has('mformat')
        ? 'grub-mkrescue or mtools is not installed (scripts/install-system-deps.sh)'
        : false),
  },
  async () => {
    const work = workdir();
    try {
      const root = join(work, 'root');
      makeRoot(root, { packages: [['dpkg', '1.21.22', 'amd64']] });
      const tree = join(work, 'tree');
      must('mkdir', ['-p', join(tree, 'live'), join(tree, 'boot/grub')]);
      must('mksquashfs', [root, join(tree, 'live/filesystem.squashfs'), '-noappend', '-quiet', '-no-progress']);
      writeFileSync(
        join(tree, 'boot/grub/grub.cfg'),
        'menuentry live {\n  linux /live/vmlinuz boot=live\n  initrd /live/initrd.img\n}\n',
      );
      const base = join(work, 'base.iso');
      must('grub-mkrescue', ['-o', base, tree]);
      const out = join(work, 'out.iso');
      const r = await remaster({ output: out, fromIso: base, source: root });
      assert.deepEqual(bootEntrySignature(elTorito(out)), bootEntrySignature(elTorito(base)));
      const hfs = must('xorriso', ['-indev', base, '-report_el_torito', 'cmd']).includes('-hfsplus on');
      const dropped = r.warnings.some((w) => /HFS\+ hybrid .* cannot be replayed by this xorriso/.test(w));
      assert.equal(
        r.changes.some((c) => c.path === '(HFS+ hybrid)'),
        dropped,
      );
      if (!dropped)
        assert.equal(
          must('xorriso', ['-indev', out, '-report_el_torito', 'cmd']).includes('-hfsplus on'),
          hfs,
          'replayed as the base has it',
        );
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  },
);

test('remaster --help: every option is in the man page and the README', () => {
  const help = cli(['remaster', '--help']);
  assert.equal(help.status, 0);
  const options = [...new Set(help.stdout.match(/--[a-z][a-z0-9-]+/g) ?? [])].filter((o) => o !== '--help');
  assert.ok(options.length >= 15, options.join(' '));
  const man = readFileSync(join(repoRoot, 'man/casper-snapshot.1'), 'utf8').replace(/\\-/g, '-');
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const remasterPart = (text: string, start: RegExp) => text.slice(text.search(start));
  assert.deepEqual(
    options.filter((o) => !remasterPart(man, /^\.SH REMASTER/m).includes(o)),
    [],
    "options missing from the man page's REMASTER section",
  );
  assert.deepEqual(
    options.filter((o) => !remasterPart(readme, /^### Remastering/m).includes(o)),
    [],
    "options missing from the README's remaster section",
  );
});

test("the README's remaster example type-checks against the generated .d.ts as a consumer imports it", () => {
  const t = workdir();
  try {
    mkdirSync(join(t, 'node_modules'));
    symlinkSync(repoRoot, join(t, 'node_modules', 'casper-snapshot'));
    symlinkSync(join(repoRoot, 'node_modules', '@types'), join(t, 'node_modules', '@types'));
    copyFileSync(join(repoRoot, 'examples', 'remaster.ts'), join(t, 'remaster.ts'));
    writeFileSync(
      join(t, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noEmit: true,
          types: ['node'],
          skipLibCheck: false,
        },
        files: ['remaster.ts'],
      }),
    );
    writeFileSync(join(t, 'package.json'), '{"type":"module"}');
    const tsc = () =>
      run(process.execPath, [
        join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'),
        '-p',
        join(t, 'tsconfig.json'),
      ]);
    const r = tsc();
    assert.equal(r.status, 0, r.stdout + r.stderr);
    writeFileSync(
      join(t, 'remaster.ts'),
      "import { remaster } from 'casper-snapshot';\nremaster({ output: 'x.iso', fromIso: 1 });\n",
    );
    assert.notEqual(tsc().status, 0, 'a wrong option type is caught');
    const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
    assert.ok(
      readme.includes(
        readFileSync(join(repoRoot, 'examples', 'remaster.ts'), 'utf8')
          .split('\n')
          .slice(2)
          .join('\n')
          .trim(),
      ),
      'the README shows examples/remaster.ts',
    );
  } finally {
    rmSync(t, { recursive: true, force: true });
  }
});
