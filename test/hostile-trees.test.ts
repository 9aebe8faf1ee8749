// Hostile and extreme inputs and outputs: a full output filesystem, a huge sparse file, symlink loops,
// a bind mount of the source inside itself, a directory of 200,000 entries.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
  truncateSync,
} from 'node:fs';
import { join } from 'node:path';
import { needs } from './helpers/capabilities.js';
import { checkImage, tempDir, withMount, withTmpfs } from './helpers/image-check.js';
import { bytes, dir, file, symlink } from './helpers/make-tree.js';
import { cli, has, must, run } from './helpers/tools.js';

const leftovers = (d: string) => readdirSync(d).filter((n) => n.includes('.tmp-') || n.endsWith('.lock'));

test(
  'ENOSPC on the output: a clear error, no temporary file, the existing image untouched',
  { skip: needs('root') },
  () => {
    const t = tempDir();
    try {
      dir(join(t, 'src'));
      file(join(t, 'src', 'random'), bytes(6 * 1024 * 1024, 5)); // incompressible: needs ~6 MiB
      const small = join(t, 'small');
      mkdirSync(small);
      must('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', small]);
      try {
        writeFileSync(join(small, 'out.sqfs'), 'hsqs: old image');
        // The free-space check alone refuses it…
        const checked = cli(['--source', join(t, 'src'), join(small, 'out.sqfs'), '-q']);
        assert.equal(checked.status, 2, checked.stderr);
        assert.match(checked.stderr, /not enough free space .*--no-space-check/);
        // …and without the check the write itself fails with ENOSPC.
        const r = cli(['--source', join(t, 'src'), join(small, 'out.sqfs'), '-q', '--no-space-check']);
        assert.equal(r.status, 2, r.stderr);
        assert.match(r.stderr, /No space left on device/);
        assert.match(r.stderr, /out\.sqfs/);
        assert.equal(readFileSync(join(small, 'out.sqfs'), 'utf8'), 'hsqs: old image');
        assert.deepEqual(leftovers(small), []);
      } finally {
        run('umount', [small]);
      }
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  },
);

test(
  'a sparse file of 2^40 bytes takes seconds (holes found with SEEK_DATA), symlink loops are never followed',
  { skip: needs('root', 'loop', 'squashfs-tools', 'squashfs-tools-ng') },
  () => {
    const t = tempDir();
    try {
      const src = join(t, 'src');
      dir(src);
      const p = join(src, 'huge-sparse');
      writeFileSync(p, 'start');
      truncateSync(p, 2 ** 40);
      const fd = openSync(p, 'r+');
      writeSync(fd, Buffer.from('end'), 0, 3, 2 ** 40 - 3);
      closeSync(fd);
      symlink('loop-b', join(src, 'loop-a'));
      symlink('loop-a', join(src, 'loop-b'));
      symlink('.', join(src, 'self'));
      dir(join(src, 'd'));
      symlink('..', join(src, 'd', 'up'));
      const t0 = Date.now();
      const r = cli(['--source', src, join(t, 'o.sqfs'), '-q']);
      const secs = (Date.now() - t0) / 1000;
      assert.equal(r.status, 0, r.stderr);
      // Seconds, not hours (under ASan/UBSan everything is several times slower: no time limit there).
      if (process.env.CASPER_SANITIZE !== '1') assert.ok(secs < 120, `took ${secs} s`);
      assert.ok(statSync(join(t, 'o.sqfs')).size < 64 * 1024 * 1024, 'holes are not stored');
      withMount(join(t, 'o.sqfs'), (mnt) => {
        assert.equal(statSync(join(mnt, 'huge-sparse')).size, 2 ** 40);
        const f = openSync(join(mnt, 'huge-sparse'), 'r');
        const b = Buffer.alloc(3);
        readSync(f, b, 0, 3, 2 ** 40 - 3);
        closeSync(f);
        assert.equal(b.toString(), 'end');
      });
      const listing = must('unsquashfs', ['-lls', '-n', '-d', '', join(t, 'o.sqfs')]);
      assert.match(listing, /loop-a -> loop-b/);
      assert.match(listing, /self -> \./);
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  },
);

test(
  'a bind mount of the source inside itself is not walked endlessly',
  { skip: needs('root', 'loop', 'squashfs-tools') },
  () => {
    const t = tempDir();
    const src = join(t, 'src');
    try {
      dir(join(src, 'inner'));
      file(join(src, 'a'), 'a');
      must('mount', ['--bind', src, join(src, 'inner')]);
      try {
        const r = cli(['--source', src, join(t, 'o.sqfs'), '-q']);
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stderr, /directory loop at '.*inner'/);
        withMount(join(t, 'o.sqfs'), (mnt) => {
          assert.deepEqual(readdirSync(mnt).sort(), ['a', 'inner']);
          assert.deepEqual(readdirSync(join(mnt, 'inner')), []);
        });
      } finally {
        run('umount', [join(src, 'inner')]);
      }
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  },
);

test('a directory of 200,000 entries', { skip: needs('root', 'loop', 'squashfs-tools', 'squashfs-tools-ng') }, () => {
  withTmpfs((t) => {
    const src = join(t, 'src');
    mkdirSync(join(src, 'big'), { recursive: true });
    // One shell loop is much faster than 200,000 calls from here.
    must('sh', ['-c', `cd '${join(src, 'big')}' && seq -w 1 200000 | xargs touch`]);
    file(join(src, 'big', 'zz-with-data'), 'data');
    const img = join(t, 'o.sqfs');
    const r = cli(['--source', src, img, '-q']);
    assert.equal(r.status, 0, r.stderr);
    checkImage(img, src, { noReference: true, contents: false });
    withMount(img, (mnt) => {
      assert.ok(existsSync(join(mnt, 'big', '100000')));
      assert.ok(existsSync(join(mnt, 'big', '199999')));
      assert.equal(readFileSync(join(mnt, 'big', 'zz-with-data'), 'utf8'), 'data');
    });
  }, 512);
});

test(
  'an output device that fails when flushed: a clear error naming the image, nothing left, old image kept',
  { skip: needs('root') || (has('mkfs.ext4') ? false : 'mkfs.ext4 (e2fsprogs) is missing') },
  () => {
    const t = tempDir();
    const back = join(t, 'back');
    const disk = join(t, 'disk');
    try {
      dir(join(t, 'src'));
      file(join(t, 'src', 'random'), bytes(30_000_000, 9));
      mkdirSync(back);
      mkdirSync(disk);
      // A 64 MiB ext4 whose loop device sits on a 12 MiB tmpfs: writes land in the page cache, the flush fails.
      must('mount', ['-t', 'tmpfs', '-o', 'size=12m', 'tmpfs', back]);
      try {
        must('truncate', ['-s', '64M', join(back, 'img')]);
        must('mkfs.ext4', ['-q', join(back, 'img')]);
        must('mount', ['-o', 'loop', join(back, 'img'), disk]);
        try {
          writeFileSync(join(disk, 'out.sqfs'), 'hsqs: old');
          must('sync', []);
          const r = cli(['--source', join(t, 'src'), join(disk, 'out.sqfs'), '-q', '--no-space-check']);
          assert.equal(r.status, 2, r.stderr);
          assert.match(r.stderr, /cannot write '.*out\.sqfs': (ENOSPC|EIO)/);
          assert.equal(readFileSync(join(disk, 'out.sqfs'), 'utf8'), 'hsqs: old');
          assert.deepEqual(leftovers(disk), []);
        } finally {
          run('umount', [disk]);
        }
      } finally {
        run('umount', [back]);
      }
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  },
);
