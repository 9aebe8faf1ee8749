// Edge cases of the on-disk format (issue #2): huge directories, odd and long names, long symlink targets,
// id and xattr tables spanning metadata blocks, deep nesting, empty trees, and seeded random trees.
// Every image is checked by the kernel, unsquashfs, rdsquashfs and sqfsdiff (checkImage).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  closeSync,
  fchownSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { needs } from './helpers/capabilities.js';
import { checkImage, tempDir, withMount, withTmpfs } from './helpers/image-check.js';
import { bytes, dir, file, hardlink, mtime, owner, setXattrs, type XattrSpec } from './helpers/make-tree.js';
import { makeRandomTree } from './helpers/random-tree.js';
import { cli, must } from './helpers/tools.js';

const skip = needs('root', 'loop', 'squashfs-tools', 'squashfs-tools-ng');

function snap(src: string, img: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): void {
  const r = cli(['--source', src, img, '-q', ...args], env);
  assert.equal(r.status, 0, `casper-snapshot failed: ${r.stderr}`);
}

function superblock(img: string): string {
  return must('unsquashfs', ['-s', img]);
}

test('a directory of 10,000 entries: many headers, a directory index, kernel lookups by name', { skip }, () => {
  withTmpfs((t) => {
    const src = join(t, 'src');
    dir(src);
    const big = join(src, 'big');
    dir(big);
    const names: string[] = [];
    for (let i = 0; i < 10000; i++) {
      // Lengths vary so that headers and the index land at irregular offsets.
      const name = `e${String(i).padStart(5, '0')}${'x'.repeat(i % 37)}`;
      names.push(name);
      if (i % 250 === 0) file(join(big, name, 'inside'), `dir ${i}`);
      else if (i % 97 === 0) symlink_(`target-${i}`, join(big, name));
      else writeFileSync(join(big, name), i % 3 === 0 ? `content ${i}` : '');
    }
    // Directories around mksquashfs's extended-inode thresholds: 256/257 entries.
    for (const n of [255, 256, 257])
      for (let i = 0; i < n; i++) writeFileSync(join(mkdirp(join(src, `d${n}`)), `f${i}`), '');
    const img = join(t, 'big.sqfs');
    snap(src, img);
    checkImage(img, src);
    withMount(img, (mnt) => {
      const m = join(mnt, 'big');
      // readdir shows the on-disk order, which must be bytewise sorted (lookups stop at the first larger name).
      const listed = readdirSync(m, { encoding: 'buffer' });
      assert.equal(listed.length, names.length);
      const sorted = [...listed].sort(Buffer.compare);
      assert.ok(
        listed.every((b, i) => b.equals(sorted[i])),
        'the kernel lists the directory in bytewise order',
      );
      // Every name found by lookup (through the directory index), with the right type.
      for (let i = 0; i < names.length; i++) {
        const st = lstatSync(join(m, names[i]));
        const want = i % 250 === 0 ? 'dir' : i % 97 === 0 ? 'symlink' : 'file';
        const got = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'file';
        assert.equal(got, want, `lookup of ${names[i]}`);
      }
      assert.equal(readFileSync(join(m, names[9000], 'inside'), 'utf8'), 'dir 9000');
      assert.equal(readFileSync(join(m, names[9999]), 'utf8'), 'content 9999');
      // Names that are not there: before the first, after the last, between neighbours, and prefixes.
      for (const absent of [
        'a',
        'e',
        'e0000',
        'e00000y',
        `e05000${'x'.repeat(40)}`,
        'e09999xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
        'f',
        'zzz',
      ]) {
        assert.throws(() => lstatSync(join(m, absent)), { code: 'ENOENT' }, `lookup of absent name ${absent}`);
      }
    });
    const sb = superblock(img);
    assert.match(sb, /Number of inodes 10\d{3}/);
  });
});

function mkdirp(p: string): string {
  mkdirSync(p, { recursive: true });
  return p;
}
function symlink_(target: string | Buffer, p: string | Buffer): void {
  symlinkSync(target, p);
}

test('names: 255 bytes, not UTF-8, control characters, spaces; a 4,095-byte symlink target', { skip }, () => {
  withTmpfs((t) => {
    const src = join(t, 'src');
    dir(src);
    const s = Buffer.from(src);
    const at = (...parts: (string | Buffer)[]) =>
      Buffer.concat([s, ...parts.flatMap((p) => [Buffer.from('/'), Buffer.from(p)])]);
    const names: Buffer[] = [
      Buffer.from('n'.repeat(255)),
      Buffer.concat([Buffer.from('é'.repeat(127)), Buffer.from('z')]), // 255 bytes of UTF-8
      Buffer.from([0xff, 0xfe]),
      Buffer.from([0x80]),
      Buffer.from([0x61, 0xc3]), // truncated UTF-8 sequence
      Buffer.from([0x61, 0xff, 0x62]),
      Buffer.from([0x01, 0x02, 0x1b, 0x7f]),
      Buffer.from('with\nnewline'),
      Buffer.from('\n'),
      Buffer.from(' leading and trailing spaces '),
      Buffer.from('tab\there'),
      Buffer.from('back\\slash'),
      Buffer.from('-dash'),
      Buffer.from('*?[]{}$"\'`'),
      Buffer.from('...'),
      Buffer.from('.hidden'),
      Buffer.from('日本語🙂'),
      Buffer.from('a'),
      Buffer.from('A'),
      Buffer.from([0x61, 0x01]),
      Buffer.concat([Buffer.alloc(250, 0x78), Buffer.from([0xff, 0xfe, 0xfd, 0x0a, 0x20])]),
    ];
    names.forEach((n, i) => {
      writeFileSync(at(n), `file ${i}`);
    });
    // A directory with a non-UTF-8 name holding more odd names, and 300 names of 255 bytes (the listing
    // spans several metadata blocks, so index entries carry long names).
    mkdirSync(at(Buffer.from([0xfe, 0x0a, 0xff])));
    for (const n of names) writeFileSync(at(Buffer.from([0xfe, 0x0a, 0xff]), n), n);
    mkdirSync(at('long'));
    for (let i = 0; i < 300; i++) writeFileSync(at('long', `${String(i).padStart(3, '0')}${'L'.repeat(252)}`), '');
    // Symlinks: the longest target Linux allows (4,095 bytes), odd bytes in a target.
    const longTarget = 'a/'.repeat(2047) + 'b';
    assert.equal(longTarget.length, 4095);
    symlink_(longTarget, at('long-link'));
    symlink_(Buffer.from([0x2e, 0x2f, 0xff, 0x0a, 0x20]), at('odd-link'));
    symlink_(Buffer.from('x'.repeat(255)), at(Buffer.from([0xff, 0x6c])));
    const img = join(t, 'names.sqfs');
    snap(src, img);
    checkImage(img, src);
    withMount(img, (mnt) => {
      const m = Buffer.from(mnt);
      const inMnt = (...parts: Buffer[]) => Buffer.concat([m, ...parts.flatMap((p) => [Buffer.from('/'), p])]);
      names.forEach((n, i) => {
        assert.equal(readFileSync(inMnt(n), 'utf8'), `file ${i}`, `lookup of ${n.toString('hex')}`);
        assert.ok(readFileSync(inMnt(Buffer.from([0xfe, 0x0a, 0xff]), n)).equals(n));
      });
      assert.equal(readlinkSync(inMnt(Buffer.from('long-link')), 'utf8'), longTarget);
      assert.ok(
        readlinkSync(inMnt(Buffer.from('odd-link')), { encoding: 'buffer' }).equals(
          Buffer.from([0x2e, 0x2f, 0xff, 0x0a, 0x20]),
        ),
      );
      assert.throws(() => lstatSync(inMnt(Buffer.from([0xff, 0xfd]))), { code: 'ENOENT' });
    });
  });
});

test('3,000 owners and 3,000 groups: the id table spans several metadata blocks', { skip }, () => {
  withTmpfs((t) => {
    const src = join(t, 'src');
    dir(src);
    for (let i = 0; i < 3000; i++) {
      const fd = openSync(join(src, `f${i}`), 'w');
      fchownSync(fd, 10000 + i, 500000 + ((i * 7) % 3000));
      closeSync(fd);
    }
    owner(src, 4294967294, 4294967294);
    const img = join(t, 'ids.sqfs');
    snap(src, img);
    assert.match(superblock(img), /Number of ids 6001\n/);
    checkImage(img, src);
  });
});

test(
  '65,535 distinct ids fit; one more fails with a clear error and leaves the old image and no temporary file',
  { skip },
  () => {
    withTmpfs((t) => {
      const src = join(t, 'src');
      dir(src);
      // 32,767 files with their own uid and gid, plus root's 0: 65,535 ids, the most a superblock can count.
      const n = 32767;
      for (let i = 0; i < n; i++) {
        const fd = openSync(join(src, `${i}`), 'w');
        fchownSync(fd, 100000 + i, 200000 + i);
        closeSync(fd);
      }
      owner(src, 0, 0);
      const img = join(t, 'ids.sqfs');
      snap(src, img);
      assert.match(superblock(img), /Number of ids 65535\n/);
      withMount(img, (mnt) => {
        for (let i = 0; i < n; i++) {
          const st = lstatSync(join(mnt, `${i}`));
          if (st.uid !== 100000 + i || st.gid !== 200000 + i) assert.fail(`file ${i}: uid/gid ${st.uid}/${st.gid}`);
        }
      });
      const before = readFileSync(img);

      const fd = openSync(join(src, 'one-more'), 'w');
      fchownSync(fd, 100000 + n, 0);
      closeSync(fd);
      const t0 = performance.now();
      const r = cli(['--source', src, img, '-q']);
      const ms = performance.now() - t0;
      assert.equal(r.status, 2, `exit status (stderr: ${r.stderr})`);
      assert.match(r.stderr, /65535/, 'the message names the limit');
      assert.match(r.stderr, /uid|gid/i);
      assert.equal(r.stdout, '');
      assert.ok(readFileSync(img).equals(before), 'the existing image is untouched');
      assert.deepEqual(readdirSync(t).sort(), ['ids.sqfs', 'src'], 'no temporary file is left');
      assert.ok(ms < 60000, `the failure comes quickly (${ms.toFixed(0)} ms)`);
    });
  },
);

test(
  '20,000 inodes and 8+ KiB of xattr sets: inode, export and xattr tables span many metadata blocks',
  { skip },
  () => {
    withTmpfs((t) => {
      const src = join(t, 'src');
      dir(src);
      const big = [bytes(3000, 1, 256), bytes(2500, 2, 256), Buffer.alloc(3500, 'v'), bytes(2048, 3, 16)];
      const xs: XattrSpec[] = [];
      for (let i = 0; i < 20000; i++) {
        const p = join(src, `d${i % 40}`, `f${i}`);
        if (i < 40) dir(join(src, `d${i}`));
        writeFileSync(p, i % 5 === 0 ? `small ${i % 100}` : '');
        if (i % 3 === 0) xs.push({ path: p, key: 'user.id', value: `${i % 1500}` }); // ~1,500 distinct sets
        if (i % 10 === 0) xs.push({ path: p, key: 'user.big', value: big[(i / 10) % big.length] }); // repeated: out of line
        if (i % 7 === 0) xs.push({ path: p, key: 'trusted.t', value: 'T'.repeat(20) });
        if (i % 11 === 0) xs.push({ path: p, key: 'security.label', value: '12345678' }); // 8 bytes: the out-of-line threshold
        if (i % 13 === 0) xs.push({ path: p, key: 'user.nine', value: '123456789' });
        if (i % 17 === 0) xs.push({ path: p, key: 'user.empty', value: '' });
        if (i % 1000 === 1) xs.push({ path: p, key: 'user.unique', value: bytes(3900, i, 256) }); // large, never repeated
      }
      for (let i = 0; i < 20; i++) hardlink(join(src, 'd0', `f${i * 40}`), join(src, `link${i}`));
      xs.push({ path: src, key: 'user.root', value: 'on the root' });
      xs.push({ path: join(src, 'd1'), key: 'trusted.overlay.opaque', value: 'y' });
      setXattrs(xs, t);
      const img = join(t, 'x.sqfs');
      snap(src, img);
      const sb = superblock(img);
      assert.match(sb, /Number of inodes 20041\n/);
      checkImage(img, src);
    });
  },
);

test('deep nesting: 200 levels of long names, 1,000 levels of short ones', { skip }, () => {
  withTmpfs((t) => {
    const src = join(t, 'src');
    dir(src);
    // 200 levels of 10-byte names: paths of about 2,200 bytes.
    let p = join(src, 'long');
    for (let i = 0; i < 200; i++) p = join(p, `level${String(i).padStart(4, '0')}`);
    file(join(p, 'bottom'), bytes(70000, 5, 64));
    symlink_('../'.repeat(200) + 'target', join(p, 'up'));
    // 1,000 levels of one-byte names, with a file on the way down every 100 levels.
    let q = join(src, 's');
    for (let i = 0; i < 1000; i++) {
      q = join(q, 'd');
      if (i % 100 === 99) {
        mkdirSync(q, { recursive: true });
        writeFileSync(join(q, 'f'), `depth ${i}`);
      }
    }
    mkdirSync(q, { recursive: true });
    writeFileSync(join(q, 'bottom'), 'the bottom');
    const img = join(t, 'deep.sqfs');
    snap(src, img);
    checkImage(img, src);
    withMount(img, (mnt) => {
      assert.equal(readFileSync(join(mnt, 's', 'd/'.repeat(1000), 'bottom'), 'utf8'), 'the bottom');
      assert.equal(
        statSync(
          join(mnt, 'long', ...Array.from({ length: 200 }, (_, i) => `level${String(i).padStart(4, '0')}`), 'bottom'),
        ).size,
        70000,
      );
    });
  });
});

test(
  'an empty source directory, and a tree of only empty files and directories (no data, no fragments)',
  { skip },
  () => {
    withTmpfs((t) => {
      const src = join(t, 'src');
      dir(src, 0o711);
      owner(src, 123, 456);
      mtime(src, 1500000000);
      const img = join(t, 'empty.sqfs');
      snap(src, img);
      checkImage(img, src);
      assert.match(superblock(img), /Number of inodes 1\n/);
      // No fragment or export table at all.
      snap(src, join(t, 'bare.sqfs'), ['-no-fragments', '-no-exports']);
      checkImage(join(t, 'bare.sqfs'), src);

      const src2 = join(t, 'src2');
      dir(src2);
      file(join(src2, 'empty'), '');
      file(join(src2, 'd/also-empty'), '');
      dir(join(src2, 'e'));
      linkSync(join(src2, 'empty'), join(src2, 'e/link'));
      const img3 = join(t, 'only-empty.sqfs');
      snap(src2, img3);
      checkImage(img3, src2);
      assert.match(superblock(img3), /Number of fragments 0\n/);
    });
  },
);

const propertySkip = skip || (Number(process.env.CASPER_PROPERTY_TREES ?? 4) === 0 ? 'CASPER_PROPERTY_TREES=0' : false);

test('random trees (property test; CASPER_TEST_SEED and CASPER_PROPERTY_TREES)', { skip: propertySkip }, (tc) => {
  const count = Number(process.env.CASPER_PROPERTY_TREES ?? 4);
  const base = process.env.CASPER_TEST_SEED
    ? Number(process.env.CASPER_TEST_SEED) >>> 0
    : (Date.now() ^ (process.pid << 16)) >>> 0;
  assert.ok(Number.isInteger(count) && count > 0, 'CASPER_PROPERTY_TREES must be a positive integer');
  tc.diagnostic(`seed ${base}, ${count} trees`);
  for (let i = 0; i < count; i++) {
    const seed = (base + i) >>> 0;
    const t = tempDir('cs-prop-');
    const src = join(t, 'src');
    let keep = false;
    let args: string[] = [];
    try {
      mkdirSync(src);
      const tree = makeRandomTree(src, seed, t);
      args = tree.args;
      const img = join(t, 'a.sqfs');
      // No clamping (the latest possible time), so the image keeps every mtime yet is reproducible.
      const env = { SOURCE_DATE_EPOCH: '4294967295' };
      snap(src, img, args, env);
      checkImage(img, src, { mksquashfsArgs: ['-b', String(tree.blockSize)], anyFileInodeForm: true });
      if (seed % 2 === 0) {
        // The same tree with another number of jobs gives the same bytes.
        const other = args.map((a, k) => (args[k - 1] === '-processors' ? String((Number(a) % 3) + 1) : a));
        snap(src, join(t, 'b.sqfs'), other, env);
        assert.ok(readFileSync(img).equals(readFileSync(join(t, 'b.sqfs'))), 'images differ between job counts');
      }
    } catch (err) {
      keep = process.env.CASPER_TEST_KEEP === '1';
      const e = err as Error;
      throw new Error(
        `random tree ${i + 1}/${count} failed: seed ${seed} (reproduce: CASPER_TEST_SEED=${seed} CASPER_PROPERTY_TREES=1), ` +
          `options ${args.join(' ')}${keep ? `, tree kept in ${t}` : ' (CASPER_TEST_KEEP=1 keeps the tree)'}:\n${e.message}`,
        { cause: err },
      );
    } finally {
      if (!keep) rmSync(t, { recursive: true, force: true });
    }
  }
});
