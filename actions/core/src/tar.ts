import * as fs from 'node:fs';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { UserError } from './errors.js';

/**
 * Tar, written and read. The writer makes a deterministic tar of a root directory: the same
 * tree gives the same bytes on every run and machine. Entries are sorted by name, owners are
 * numeric, mtimes can be clamped, hard links and symlinks are kept, device nodes and sockets are
 * left out, and no entry can name a path outside the root (the walk never follows a symlink).
 * Long names and sizes of 8 GiB and more use POSIX pax headers. The header fields are read and
 * written by the same primitives, for a caller that rewrites a tar stream entry by entry.
 *
 * The stream comes in TAR_CHUNK_BYTES buffers, each file read in pieces straight into them, so
 * memory does not grow with the root or its largest file. The walk uses synchronous calls: an
 * awaited lstat, open, read and close per file is a chain of thread-pool round trips that leaves
 * the main thread idle most of the time on many small files, while a synchronous call on a
 * cached file takes microseconds; the consumer (compression on the pool) keeps running.
 */
export interface TarOptions {
  /** Clamp every mtime to at most this many seconds since the epoch (SOURCE_DATE_EPOCH). */
  mtimeClamp?: number;
  /** `preserve`: the files' numeric owners; `root`: every entry owned by 0:0. */
  owners: 'preserve' | 'root';
  /** Relative paths (no leading `./`, directories without the trailing `/`) to leave out. */
  exclude?: (relativePath: string) => boolean;
  /**
   * Only the entries this returns true for (relative paths as for `exclude`). A directory it
   * returns false for is still walked, and written (with the same header) when something inside
   * it is, so every written entry has its parent directories before it.
   */
  select?: (relativePath: string) => boolean;
  /** Where the stream's buffers come from, for a consumer that hands them back (ChunkPool). */
  pool?: ChunkPool;
}

const BLOCK = 512;

/** Bytes of each buffer of the stream (the last one may be shorter). */
export const TAR_CHUNK_BYTES = 1024 * 1024;

/** The largest size a ustar size field holds (11 octal digits); above it, a pax `size` record. */
export const USTAR_MAX_SIZE = 0o77777777777;

/** Regular file, hard link, symlink, directory, FIFO, pax extended header. */
type EntryType = '0' | '1' | '2' | '5' | '6' | 'x';

export interface Header {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  type: EntryType;
  linkName?: string;
}

function writeString(block: Buffer, offset: number, length: number, value: string): void {
  block.write(value, offset, length, 'utf8');
}

/** Writes a zero-padded, NUL-terminated octal header field. */
export function writeOctal(block: Buffer, offset: number, length: number, value: number): void {
  block.write(value.toString(8).padStart(length - 1, '0') + '\0', offset, length, 'ascii');
}

/** Computes and writes a header block's checksum (the field counted as spaces). */
export function writeChecksum(block: Buffer): void {
  block.fill(' ', 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
}

/** One pax extended-header record: `<length> <key>=<value>\n`, the length counting itself. */
export function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let length = Buffer.byteLength(body) + 1;
  while (String(length).length + Buffer.byteLength(body) !== length) {
    length = String(length).length + Buffer.byteLength(body);
  }
  return `${length}${body}`;
}

/** A numeric header field: octal text, or base-256 when the high bit of its first byte is set. */
export function parseNumeric(block: Buffer, offset: number, length: number): number {
  if ((block[offset] ?? 0) & 0x80) {
    let value = 0;
    for (let i = offset + 1; i < offset + length; i++) value = value * 256 + (block[i] ?? 0);
    return value;
  }
  const text = block
    .subarray(offset, offset + length)
    .toString('ascii')
    .replace(/[\0 ]+$/, '')
    .replace(/^[\0 ]+/, '');
  return text === '' ? 0 : parseInt(text, 8);
}

/** A NUL-terminated (or field-long) string header field. */
export function cString(block: Buffer, offset: number, length: number): string {
  const raw = block.subarray(offset, offset + length);
  const end = raw.indexOf(0);
  return raw.subarray(0, end < 0 ? length : end).toString('utf8');
}

/** The `key=value` records of a pax extended header body, in order. */
export function parsePaxRecords(body: Buffer): Array<[string, string]> {
  const records: Array<[string, string]> = [];
  let offset = 0;
  while (offset < body.length) {
    const space = body.indexOf(0x20, offset);
    if (space < 0) break;
    const length = parseInt(body.subarray(offset, space).toString('ascii'), 10);
    if (!Number.isFinite(length) || length <= 0) break;
    const record = body.subarray(space + 1, offset + length - 1).toString('utf8');
    const equals = record.indexOf('=');
    if (equals > 0) records.push([record.slice(0, equals), record.slice(equals + 1)]);
    offset += length;
  }
  return records;
}

function fitsUstar(value: string, length: number): boolean {
  return Buffer.byteLength(value) <= length && /^[\x20-\x7e]*$/.test(value);
}

function headerBlock(header: Header): Buffer {
  const block = Buffer.alloc(BLOCK);
  writeString(block, 0, 100, header.name);
  writeOctal(block, 100, 8, header.mode);
  writeOctal(block, 108, 8, header.uid);
  writeOctal(block, 116, 8, header.gid);
  writeOctal(block, 124, 12, header.size);
  writeOctal(block, 136, 12, header.mtime);
  block.write(header.type, 156, 1, 'ascii');
  writeString(block, 157, 100, header.linkName ?? '');
  block.write('ustar\0', 257, 6, 'ascii');
  block.write('00', 263, 2, 'ascii');
  writeOctal(block, 329, 8, 0);
  writeOctal(block, 337, 8, 0);
  writeChecksum(block);
  return block;
}

function padding(size: number): Buffer {
  return Buffer.alloc(paddingBytes(size));
}

function paddingBytes(size: number): number {
  const rest = size % BLOCK;
  return rest === 0 ? 0 : BLOCK - rest;
}

/**
 * TAR_CHUNK_BYTES buffers to fill, and to fill again once their consumer hands them back. A
 * fresh buffer a chunk is garbage only a full collection returns, and V8 lets such external
 * memory grow by tens of MiB before it runs one: reusing them keeps the stream's memory to the
 * chunks in flight. Only a consumer that holds no reference to a chunk may give it back.
 */
export class ChunkPool {
  private readonly made = new WeakSet<ArrayBufferLike>();
  private readonly free: Buffer[] = [];

  take(): Buffer {
    const reused = this.free.pop();
    if (reused) return reused;
    const chunk = Buffer.allocUnsafe(TAR_CHUNK_BYTES);
    this.made.add(chunk.buffer);
    return chunk;
  }

  /** Hands a whole chunk this pool made back for reuse; anything else is left to the GC. */
  give(chunk: Buffer): void {
    const whole = chunk.byteOffset === 0 && chunk.length === TAR_CHUNK_BYTES;
    if (whole && this.made.has(chunk.buffer) && !this.free.includes(chunk)) this.free.push(chunk);
  }
}

/** Collects the tar stream into TAR_CHUNK_BYTES buffers; each full one is handed out once. */
class Chunker {
  private chunk: Buffer;
  private used = 0;

  constructor(private readonly pool = new ChunkPool()) {
    this.chunk = pool.take();
  }

  /** Copies `bytes` in; yields every chunk it fills. */
  *add(bytes: Buffer): Generator<Buffer> {
    let offset = 0;
    while (offset < bytes.length) {
      const copied = bytes.copy(this.chunk, this.used, offset);
      offset += copied;
      this.used += copied;
      if (this.used === TAR_CHUNK_BYTES) yield this.next();
    }
  }

  /** Reads `size` bytes of `fd` straight into the chunks, then the padding; yields full ones. */
  *addFile(fd: number, size: number, name: string): Generator<Buffer> {
    let position = 0;
    while (position < size) {
      const want = Math.min(TAR_CHUNK_BYTES - this.used, size - position);
      const read = fs.readSync(fd, this.chunk, this.used, want, position);
      if (read === 0) throw new UserError(`${name} shrank while it was being read.`);
      position += read;
      this.used += read;
      if (this.used === TAR_CHUNK_BYTES) yield this.next();
    }
    yield* this.add(Buffer.alloc(paddingBytes(size)));
  }

  /** What is left, shorter than a chunk. */
  rest(): Buffer {
    return this.chunk.subarray(0, this.used);
  }

  private next(): Buffer {
    const full = this.chunk;
    this.chunk = this.pool.take();
    this.used = 0;
    return full;
  }
}

/** The header blocks of one entry: a pax header first when a name does not fit ustar. */
export function headerBlocks(header: Header): Buffer[] {
  const records: string[] = [];
  if (!fitsUstar(header.name, 100)) records.push(paxRecord('path', header.name));
  if (header.linkName !== undefined && !fitsUstar(header.linkName, 100)) {
    records.push(paxRecord('linkpath', header.linkName));
  }
  const bigSize = header.size > USTAR_MAX_SIZE;
  // As GNU tar's posix format does: the size in the pax record, 0 in the ustar field.
  if (bigSize) records.push(paxRecord('size', String(header.size)));
  const main = headerBlock({
    ...header,
    size: bigSize ? 0 : header.size,
    name: records.length ? truncateUtf8(header.name, 100) : header.name,
    linkName: header.linkName === undefined ? undefined : truncateUtf8(header.linkName, 100),
  });
  if (records.length === 0) return [main];
  const body = Buffer.from(records.join(''), 'utf8');
  const pax = headerBlock({
    name: truncateUtf8(`PaxHeaders/${path.posix.basename(header.name)}`, 100),
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: body.length,
    mtime: header.mtime,
    type: 'x',
  });
  return [pax, body, padding(body.length), main];
}

function truncateUtf8(value: string, bytes: number): string {
  const buffer = Buffer.from(value, 'utf8');
  return buffer.length <= bytes ? value : buffer.subarray(0, bytes).toString('latin1');
}

function byName(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** The tar stream of `root` in TAR_CHUNK_BYTES buffers, ending with the two zero blocks. */
export function* tarStream(root: string, options: TarOptions): Generator<Buffer> {
  const firstPathOfInode = new Map<string, string>();
  const chunker = new Chunker(options.pool);
  const mtimeOf = (seconds: number): number =>
    options.mtimeClamp === undefined ? seconds : Math.min(seconds, options.mtimeClamp);
  const headers = function* (header: Header): Generator<Buffer> {
    for (const block of headerBlocks(header)) yield* chunker.add(block);
  };

  // Directories not selected themselves, walked into, and not written yet (outermost first).
  const unwrittenDirs: Header[] = [];
  const entry = function* (header: Header): Generator<Buffer> {
    for (const dir of unwrittenDirs) yield* headers(dir);
    unwrittenDirs.length = 0;
    yield* headers(header);
  };

  function* walk(relativeDir: string): Generator<Buffer> {
    const names = fs.readdirSync(path.join(root, relativeDir)).sort(byName);
    for (const name of names) {
      const relative = relativeDir ? `${relativeDir}/${name}` : name;
      if (options.exclude?.(relative)) continue;
      const full = path.join(root, relative);
      const stat = fs.lstatSync(full);
      const base = {
        mode: stat.mode & 0o7777,
        uid: options.owners === 'root' ? 0 : stat.uid,
        gid: options.owners === 'root' ? 0 : stat.gid,
        mtime: mtimeOf(Math.floor(stat.mtimeMs / 1000)),
        size: 0,
      };
      const selected = options.select?.(relative) ?? true;
      if (stat.isDirectory()) {
        const header: Header = { ...base, name: `${relative}/`, type: '5' };
        if (selected) yield* entry(header);
        else unwrittenDirs.push(header);
        yield* walk(relative);
        if (unwrittenDirs[unwrittenDirs.length - 1] === header) unwrittenDirs.pop();
        continue;
      }
      if (!selected) continue;
      if (stat.isSymbolicLink()) {
        const target = fs.readlinkSync(full);
        yield* entry({ ...base, name: relative, type: '2', linkName: target });
      } else if (stat.isFile()) {
        const inode = `${stat.dev}:${stat.ino}`;
        const first = stat.nlink > 1 ? firstPathOfInode.get(inode) : undefined;
        if (first !== undefined) {
          yield* entry({ ...base, name: relative, type: '1', linkName: first });
          continue;
        }
        if (stat.nlink > 1) firstPathOfInode.set(inode, relative);
        yield* entry({ ...base, name: relative, type: '0', size: stat.size });
        const fd = fs.openSync(full, 'r');
        try {
          yield* chunker.addFile(fd, stat.size, full);
        } finally {
          fs.closeSync(fd);
        }
      } else if (stat.isFIFO()) {
        yield* entry({ ...base, name: relative, type: '6' });
      }
      // Device nodes and sockets are never written: a root image must not carry them.
    }
  }

  yield* walk('');
  yield* chunker.add(Buffer.alloc(BLOCK * 2));
  const rest = chunker.rest();
  if (rest.length > 0) yield rest;
}

/** Writes the tar of `root` to `file`. */
export async function writeTar(root: string, file: string, options: TarOptions): Promise<void> {
  await pipeline(tarStream(root, options), fs.createWriteStream(file));
}

/** SOURCE_DATE_EPOCH from the environment, when set; a value that is not seconds is an error. */
export function sourceDateEpoch(): number | undefined {
  const value = process.env.SOURCE_DATE_EPOCH?.trim();
  if (value === undefined || value === '') return undefined;
  if (!/^\d+$/.test(value)) {
    throw new UserError(`SOURCE_DATE_EPOCH "${value}" is not a number of seconds since 1970.`);
  }
  return Number(value);
}
