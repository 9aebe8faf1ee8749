// The report the addon's image reader gives (verifyImage, ImageBuilder.verifyWritten): the library's verify()
// hands it on as VerifyReport (src/api/verify.ts), snapshot()'s --verify reads it. Types only.

/** A fault in the image: a table or block that does not read as the format says. */
export interface VerifyProblem {
  /** ESQUASH_CORRUPT, or an errno-style code when reading the image failed (EIO). */
  code: string;
  /** The table or block kind: 'superblock', 'inode table', 'directory table', 'data block', … */
  table: string;
  /** Byte offset in the image, when the fault is at one place. */
  offset: number | null;
  /** The file concerned (data blocks). */
  path?: string;
  message: string;
}

export interface VerifyDifference {
  /** Path in the image, from its root ('/etc/hosts'). */
  path: string;
  kind:
    | 'only-in-image'
    | 'only-in-dir'
    | 'type'
    | 'content'
    | 'mode'
    | 'owner'
    | 'group'
    | 'mtime'
    | 'xattrs'
    | 'symlink'
    | 'device'
    | 'links'
    | 'unreadable';
  image?: string;
  dir?: string;
  /** One line, like diff -r's. */
  line: string;
}

/** The image's superblock, as read. */
export interface ImageSuperblock {
  imageSize: number;
  bytesUsed: number;
  compressor: string;
  blockSize: number;
  mkfsTime: number;
  flags: number;
  inodes: number;
  ids: number;
  fragmentBlocks: number;
  xattrIds: number;
  exportTable: boolean;
}

/** What the image holds, as read. */
export interface ImageCounts {
  entries: number;
  directories: number;
  files: number;
  symlinks: number;
  devices: number;
  fifos: number;
  sockets: number;
  hardlinks: number;
  fileBytes: number;
  /**
   * The tree's size once unpacked onto a filesystem with 4 KiB blocks: every file (a hard-linked one once) and
   * directory rounded up to whole blocks, a symlink of 60 bytes or more one block (what `remaster` writes as
   * filesystem.size).
   */
  installedBytes: number;
  dataBlocks: number;
  sparseBlocks: number;
  fragmentTails: number;
  dataBytesRead: number;
  metadataBlocks: number;
}

/**
 * The integrity record casper-snapshot writes after bytes_used: 'valid' (with data: every stored block checked
 * against its digest, every file against its content tag, every fragment block against its pieces), 'absent'
 * (an image of another tool or an older casper-snapshot), 'broken' (a problem). What was checked against it.
 */
export interface IntegrityCheck {
  record: 'valid' | 'absent' | 'broken';
  blocks: number;
  files: number;
  fragments: number;
}

/** verifyImage()'s result. */
export interface NativeVerifyReport {
  ok: boolean;
  problems: VerifyProblem[];
  problemsTruncated: boolean;
  differences: VerifyDifference[];
  image: ImageSuperblock;
  counts: ImageCounts;
  /** Regular files whose content digest was checked (verifyWritten: against the data phase's), and their bytes. */
  digests: { files: number; bytes: number };
  integrity: IntegrityCheck;
}
