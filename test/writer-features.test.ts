// The writer's features, each checked by the kernel mount, unsquashfs, rdsquashfs and sqfsdiff.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  rmSync,
  chmodSync,
  readFileSync,
  statSync,
  writeFileSync,
  truncateSync,
  openSync,
  writeSync,
  closeSync,
} from 'node:fs';
import { needs } from './helpers/capabilities.js';
import { checkImage, tempDir } from './helpers/image-check.js';
import { bytes, dir, file, hardlink, mknod, mtime, owner, setXattr, socket, symlink } from './helpers/make-tree.js';
import { cli } from './helpers/tools.js';

const skip = needs('root', 'loop', 'squashfs-tools', 'squashfs-tools-ng');

function snap(src: string, img: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): void {
  const r = cli(['--source', src, img, '-q', ...args], env);
  assert.equal(r.status, 0, `casper-snapshot failed: ${r.stderr}`);
}

test('every inode type, permissions, owners, times and hard links', { skip }, () => {
  const t = tempDir();
  const src = join(t, 'src');
  try {
    dir(src);
    file(join(src, 'empty'), '');
    file(join(src, 'small.txt'), 'hello world\n');
    file(join(src, 'setuid'), 'x', 0o4755);
    file(join(src, 'setgid'), 'y', 0o2711);
    dir(join(src, 'sticky'), 0o1777);
    dir(join(src, 'empty-dir'), 0o700);
    file(join(src, 'dir/nested/deeper/file'), bytes(5000, 1));
    symlink('small.txt', join(src, 'link'));
    symlink('/nonexistent/target', join(src, 'dangling'));
    mknod(join(src, 'chr'), 'c', 1, 3);
    mknod(join(src, 'blk'), 'b', 259, 70000); // minor above 255 exercises new_encode_dev
    mknod(join(src, 'fifo'), 'p');
    socket(join(src, 'sock'));
    file(join(src, 'hl-a'), 'shared inode');
    hardlink(join(src, 'hl-a'), join(src, 'dir/hl-b'));
    hardlink(join(src, 'hl-a'), join(src, 'hl-c'));
    owner(join(src, 'small.txt'), 1000, 1000);
    owner(join(src, 'dir'), 4000000000, 123456);
    owner(join(src, 'chr'), 65534, 65534);
    mtime(join(src, 'small.txt'), 1234567890);
    mtime(join(src, 'link'), 1000000000, true);
    mtime(join(src, 'dir/nested'), 1600000000);
    snap(src, join(t, 'out.sqfs'));
    checkImage(join(t, 'out.sqfs'), src);
  } finally {
    rmSync(t, { recursive: true, force: true });
  }
});

test('block boundaries: exact multiples get no fragment, tails do, at several block sizes', { skip }, () => {
  const t = tempDir();
  const src = join(t, 'src');
  try {
    for (const bs of [4096, 65536, 131072, 1048576]) {
      rmSync(src, { recursive: true, force: true });
      dir(src);
      file(join(src, 'one-block'), bytes(bs, 2, 16));
      file(join(src, 'three-blocks'), bytes(3 * bs, 3, 16));
      file(join(src, 'blocks-and-tail'), bytes(2 * bs + 777, 4, 16));
      file(join(src, 'just-under'), bytes(bs - 1, 5, 16));
      file(join(src, 'random'), bytes(bs + 10, 6)); // incompressible: stored raw
      file(join(src, 'one-byte'), 'z');
      for (const mode of [[], ['-no-fragments'], ['-always-use-fragments']]) {
        const img = join(t, `bs${bs}${mode.join('')}.sqfs`);
        snap(src, img, ['-b', String(bs), ...mode]);
        checkImage(img, src, { mksquashfsArgs: ['-b', String(bs)] });
      }
    }
  } finally {
    rmSync(t, { recursive: true, force: true });
  }
});

test('xattrs in user, trusted and security namespaces; -no-xattrs leaves them out', { skip }, () => {
  const t = tempDir();
  const src = join(t, 'src');
  try {
    dir(src);
    for (let i = 0; i < 300; i++) {
      const p = join(src, `f${i}`);
      file(p, `file ${i}`);
      setXattr(p, 'user.index', `value-${i % 7}`);
      setXattr(p, 'user.long', 'L'.repeat(100 + (i % 3)));
      if (i % 2) setXattr(p, 'trusted.overlay.opaque', 'y');
      if (i % 5 === 0) setXattr(p, 'security.capability', '0sAQAAAgAgAAAAAAAAAAAAAAAAAAA=');
    }
    dir(join(src, 'd'));
    setXattr(join(src, 'd'), 'user.dir', 'on a directory');
    symlink('f1', join(src, 'l'));
    setXattr(join(src, 'l'), 'trusted.link', 'on a symlink');
    setXattr(src, 'user.root', 'on the root directory');
    const sde = { SOURCE_DATE_EPOCH: '4000000000' }; // one superblock time for both images, later than every file (no clamping)
    snap(src, join(t, 'x.sqfs'), [], sde);
    checkImage(join(t, 'x.sqfs'), src);
    // Kernels before 6.13 (no listxattrat): the names are listed through /proc/self/fd; the same image.
    snap(src, join(t, 'x-proc.sqfs'), [], { ...sde, CASPER_SNAPSHOT_NO_LISTXATTRAT: '1' });
    assert.ok(
      readFileSync(join(t, 'x.sqfs')).equals(readFileSync(join(t, 'x-proc.sqfs'))),
      'listxattrat and the /proc route give the same image',
    );
    snap(src, join(t, 'nx.sqfs'), ['-no-xattrs']);
    checkImage(join(t, 'nx.sqfs'), src, { ignore: ['xattrs'], mksquashfsArgs: ['-no-xattrs'] });
  } finally {
    rmSync(t, { recursive: true, force: true });
  }
});

test('duplicate files are stored once, and only when their bytes are equal', { skip }, () => {
  const t = tempDir();
  const src = join(t, 'src');
  try {
    dir(src);
    const big = bytes(3 * 131072 + 500, 7, 32);
    file(join(src, 'a/big'), big);
    file(join(src, 'b/big-copy'), big);
    const other = Buffer.from(big);
    other[other.length - 1] ^= 1; // same size, differs in the tail
    file(join(src, 'c/big-tail-differs'), other);
    const other2 = Buffer.from(big);
    other2[10] ^= 1; // differs in the first block
    file(join(src, 'c/big-head-differs'), other2);
    for (let i = 0; i < 50; i++) file(join(src, `small/${i}`), `same small content`);
    file(join(src, 'small/x'), 'same small contenT');
    const img = join(t, 'd.sqfs');
    snap(src, img);
    checkImage(img, src);
    const dedupSize = statSync(img).size;
    const img2 = join(t, 'nd.sqfs');
    snap(src, img2, ['-no-duplicates']);
    checkImage(img2, src);
    assert.ok(statSync(img2).size > dedupSize + 100000, 'without dedup the image holds the big file twice');
  } finally {
    rmSync(t, { recursive: true, force: true });
  }
});

test('sparse files: holes and zero blocks are stored as sparse blocks, including a file past 4 GiB', { skip }, () => {
  const t = tempDir();
  const src = join(t, 'src');
  try {
    dir(src);
    const p = join(src, 'sparse-5g');
    writeFileSync(p, 'head');
    truncateSync(p, 5 * 1024 ** 3 + 12345);
    const fd = openSync(p, 'r+');
    writeSync(fd, Buffer.from('middle'), 0, 6, 2 * 1024 ** 3);
    writeSync(fd, Buffer.from('tail!'), 0, 5, 5 * 1024 ** 3 + 12000);
    closeSync(fd);
    file(join(src, 'zeros'), Buffer.alloc(4 * 131072));
    const img = join(t, 's.sqfs');
    snap(src, img);
    assert.ok(
      statSync(img).size < 1024 * 1024,
      `sparse data must not be stored (image is ${statSync(img).size} bytes)`,
    );
    checkImage(img, src);
  } finally {
    rmSync(t, { recursive: true, force: true });
  }
});

test('-all-root, -force-uid and -force-gid set the owners', { skip }, () => {
  const t = tempDir();
  const src = join(t, 'src');
  try {
    dir(src);
    file(join(src, 'f'), 'x');
    owner(join(src, 'f'), 1234, 5678);
    snap(src, join(t, 'r.sqfs'), ['-all-root']);
    checkImage(join(t, 'r.sqfs'), src, { ignore: ['uid', 'gid'], mksquashfsArgs: ['-all-root'] });
    snap(src, join(t, 'f.sqfs'), ['-force-uid', '42', '-force-gid', '43']);
    const out = readFileSync(join(t, 'f.sqfs'));
    assert.ok(out.length > 0);
    const { withMount } = await_import_withMount();
    withMount(join(t, 'f.sqfs'), (mnt: string) => {
      assert.equal(statSync(join(mnt, 'f')).uid, 42);
      assert.equal(statSync(join(mnt, 'f')).gid, 43);
      assert.equal(statSync(mnt).uid, 42);
    });
  } finally {
    rmSync(t, { recursive: true, force: true });
  }
});

import * as imageCheck from './helpers/image-check.js';
function await_import_withMount() {
  return imageCheck;
}

test('the same tree and options give byte-identical images', { skip: needs('root') }, () => {
  const t = tempDir();
  const src = join(t, 'src');
  try {
    dir(src);
    for (let i = 0; i < 200; i++) file(join(src, `d${i % 10}/f${i}`), bytes(100 + i * 997, i, 64));
    file(join(src, 'big'), bytes(12_000_000, 99, 64)); // over 8 MiB: with -j 5 (more than libuv's threads) the worker pool runs
    chmodSync(src, 0o755);
    const env = { SOURCE_DATE_EPOCH: '1700000000' };
    snap(src, join(t, 'a.sqfs'), ['-j', '1'], env);
    snap(src, join(t, 'b.sqfs'), ['-j', '2'], env);
    snap(src, join(t, 'c.sqfs'), ['-j', '5'], env);
    const a = readFileSync(join(t, 'a.sqfs'));
    assert.ok(a.equals(readFileSync(join(t, 'b.sqfs'))), '1 and 2 jobs differ');
    assert.ok(a.equals(readFileSync(join(t, 'c.sqfs'))), '1 and 5 jobs differ');
    assert.equal(a.readUInt32LE(8), 1700000000, 'superblock time follows SOURCE_DATE_EPOCH');
  } finally {
    rmSync(t, { recursive: true, force: true });
  }
});

test(
  'inode and directory tables over many metadata blocks, compressed on several threads: one image for 1, 3 and 8 jobs, read back whole',
  { skip },
  () => {
    const t = tempDir();
    const src = join(t, 'src');
    try {
      dir(src);
      // ~3,000 inodes and long names: many inode and directory blocks, and a directory large enough for an
      // index (its listing spans several directory blocks), so blocks of each table wait for the other's.
      for (let d = 0; d < 60; d++)
        for (let i = 0; i < 40; i++)
          file(
            join(src, `dir-${d}-${'n'.repeat(40)}`, `file-${i}-${'x'.repeat(60)}`),
            i % 7 === 0 ? `${d}/${i}\n` : '',
          );
      for (let i = 0; i < 600; i++)
        file(join(src, 'big-dir', `entry-${String(i).padStart(4, '0')}-${'y'.repeat(80)}`), '');
      chmodSync(src, 0o755);
      // A fixed superblock time after every file's mtime (an earlier one would clamp them, and the kernel's view
      // would differ from the source).
      const env = { SOURCE_DATE_EPOCH: String(Math.floor(Date.now() / 1000) + 86400) };
      for (const comp of ['gzip', 'xz']) {
        const images = ['1', '3', '8'].map((jobs) => {
          const img = join(t, `${comp}-${jobs}.sqfs`);
          const r = cli(['--source', src, img, '-q', '--json', '-comp', comp, '-j', jobs], env);
          assert.equal(r.status, 0, `casper-snapshot failed: ${r.stderr}`);
          const tables = (JSON.parse(r.stdout) as { tables: { metadataBlocks: number; metadataWaves: number } }).tables;
          assert.ok(
            tables.metadataBlocks >= 20,
            `only ${tables.metadataBlocks} metadata blocks: the tree does not exercise the waves`,
          );
          assert.ok(
            tables.metadataWaves > 1 && tables.metadataWaves < tables.metadataBlocks,
            `${tables.metadataWaves} waves for ${tables.metadataBlocks} blocks`,
          );
          return img;
        });
        const a = readFileSync(images[0]);
        assert.ok(a.equals(readFileSync(images[1])), `${comp}: 1 and 3 jobs differ`);
        assert.ok(a.equals(readFileSync(images[2])), `${comp}: 1 and 8 jobs differ`);
        checkImage(images[2], src, { noReference: comp !== 'gzip' });
      }
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  },
);
