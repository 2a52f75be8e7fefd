import { spawn } from 'node:child_process';
import { createHash, type Hash } from 'node:crypto';
import { closeSync, createReadStream, createWriteStream, openSync, writeSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { Readable, Transform, Writable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import { UserError } from '../../core/src/errors.js';
import { produceAtomically } from '../../core/src/files.js';
import {
  ChunkPool,
  cString,
  paxRecord,
  parseNumeric,
  parsePaxRecords,
  TAR_CHUNK_BYTES,
  tarStream,
  writeChecksum,
  writeOctal,
} from '../../core/src/tar.js';

/**
 * OCI images made directly, without a container engine: one gzip or zstd layer from a root directory
 * (or a tarball), an image config, a manifest, and the OCI image layout (directory or `.tar`
 * archive). The same root and inputs give the same bytes, hence the same digests.
 */

export const MEDIA_TYPES = {
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  index: 'application/vnd.oci.image.index.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
} as const;

export interface Blob {
  mediaType: string;
  /** `sha256:<hex>` of the bytes. */
  digest: string;
  size: number;
}

export interface Layer extends Blob {
  /** `sha256:<hex>` of the uncompressed tar (the config's rootfs.diff_ids entry). */
  diffId: string;
  /** The compressed layer on disk. */
  file: string;
  /** Bytes of the uncompressed tar. */
  uncompressedSize: number;
  /** The image config's history comment of the layer. */
  comment?: string;
}

export interface LayerOptions {
  /** Every mtime clamped to at most this (seconds since 1970): SOURCE_DATE_EPOCH. */
  mtimeClamp: number;
  /** Default gzip. */
  compression?: Compression;
  /** Default DEFAULT_LEVEL of the compression. */
  level?: number;
  /** Called with each tar entry name and body, for a caller that wants one file's content. */
  watch?: { path: string; found: (content: Buffer) => void };
  /** A root's entries to put in this layer (tar.ts's `select`); default all. */
  select?: (relativePath: string) => boolean;
}

/** Where a layer's tar stream comes from: each call starts the stream afresh. */
export type TarSource = () => Promise<Iterable<Buffer> | AsyncIterable<Buffer> | Readable>;

/** What a layer's tar stream is, before any compression. */
export interface TarFacts {
  /** `sha256:<hex>` of the tar stream. */
  diffId: string;
  uncompressedSize: number;
}

class Hasher extends Transform {
  readonly hash: Hash = createHash('sha256');
  bytes = 0;
  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    done(null, chunk);
  }
}

/**
 * Uncompressed bytes per gzip member (or zstd frame) of a layer: fixed, so the output is too. A
 * tar chunk is one member, compressed where it is.
 */
export const GZIP_MEMBER_BYTES = TAR_CHUNK_BYTES;

/** The buffers of root tar streams and of members, handed back once compressed or hashed. */
const chunkPool = new ChunkPool();

/** Room for one compressed member in zlib's output buffer: one callback, not 64 of 16 KiB. */
const COMPRESSED_CHUNK_BYTES = GZIP_MEMBER_BYTES + 64 * 1024;

export type Compression = 'gzip' | 'zstd';

export interface CompressionOptions {
  compression: Compression;
  /** gzip 1–9, zstd 1–19. */
  level: number;
}

/** The default level of each compression, chosen by measurement (docs/dev/layer-format.md). */
export const DEFAULT_LEVEL: Record<Compression, number> = { gzip: 4, zstd: 3 };

/** The layer media type of each compression. */
export const LAYER_MEDIA_TYPES: Record<Compression, string> = {
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
};

/** node:zlib's zstd (Node 22.15 and later), typed here: the project's @types/node is Node 20's. */
interface ZstdZlib {
  createZstdCompress?: (options: { chunkSize: number; params: Record<number, number> }) => Encoder;
  constants: { ZSTD_c_compressionLevel: number; ZSTD_c_checksumFlag: number; ZSTD_e_end: number };
}
const zstdZlib = zlib as unknown as ZstdZlib;

/** The part of a node:zlib compression stream (gzip or zstd) a MemberEncoder uses. */
type Encoder = Pick<zlib.Gzip, 'write' | 'flush' | 'close' | 'on'> & { reset(): void };

/** True when this Node has node:zlib's zstd. */
export function hasZstd(): boolean {
  return typeof zstdZlib.createZstdCompress === 'function';
}

/**
 * One compression stream that makes member after member: each member is its input written, then
 * a finishing flush (a whole gzip member or zstd frame, as zlib.gzip would make of it), then a
 * reset for the next. Kept for the whole layer, so the compressor's state and output buffer are
 * allocated once, not once a member.
 */
class MemberEncoder {
  private readonly stream: Encoder;
  private readonly finish: number;
  private output: Buffer[] = [];
  private failed?: (error: Error) => void;

  constructor(options: CompressionOptions) {
    if (options.compression === 'gzip') {
      // @types/node 20 leaves reset() out of Gzip; node:zlib has it on every stream.
      // memLevel 9 (zlib's largest hash): 8–14% less CPU than the default 8 here, 0.3% more bytes.
      const gzip = zlib.createGzip({
        level: options.level,
        memLevel: 9,
        chunkSize: COMPRESSED_CHUNK_BYTES,
      });
      this.stream = gzip as unknown as Encoder;
      this.finish = zlib.constants.Z_FINISH;
    } else if (zstdZlib.createZstdCompress) {
      const { ZSTD_c_compressionLevel, ZSTD_c_checksumFlag, ZSTD_e_end } = zstdZlib.constants;
      const params = { [ZSTD_c_compressionLevel]: options.level, [ZSTD_c_checksumFlag]: 1 };
      this.stream = zstdZlib.createZstdCompress({ chunkSize: COMPRESSED_CHUNK_BYTES, params });
      this.finish = ZSTD_e_end;
    } else {
      throw new UserError(`zstd needs Node 22.15 or later; this is Node ${process.version}.`);
    }
    this.stream.on('data', (chunk: Buffer) => this.output.push(chunk));
    this.stream.on('error', (error: Error) => this.failed?.(error));
  }

  /** The compressed member of `piece`, in the pieces the stream made it in. */
  encode(piece: Buffer): Promise<Buffer[]> {
    return new Promise((resolve, reject) => {
      this.failed = reject;
      this.stream.write(piece);
      this.stream.flush(this.finish, () => {
        const member = this.output;
        this.output = [];
        this.stream.reset();
        resolve(member);
      });
    });
  }

  close(): void {
    this.stream.close();
  }
}

/**
 * Members compressed at once, on libuv's pool: one more than the cores. With one a core, a core
 * idled whenever the main thread (reading, hashing, writing) was late to hand the next member
 * over; with one more, 500 MB took 3.3–3.4 s instead of 3.9–4.0 s (layout only, 2 cores).
 */
export function compressionParallelism(): number {
  return Math.max(2, os.availableParallelism()) + 1;
}

/**
 * node:zlib gives each stream an output buffer of chunkSize and makes a new one whenever it is
 * full; the full one is garbage once its member is written, memory outside V8's heap that V8
 * collects only after some 64 MiB of it pile up. A full collection after every
 * GARBAGE_COLLECT_BYTES of compressed output (a few milliseconds on this small heap) keeps the
 * peak flat: at 2 GB, 167 → 117 MiB (gzip) and 173 → 127 MiB (zstd), the time unchanged.
 * `gc` is taken from a context made while --expose-gc is set, and the flag unset again.
 */
const GARBAGE_COLLECT_BYTES = 16 * 1024 * 1024;

let collectGarbage: (() => void) | undefined;

class OutputGarbage {
  private bytes = 0;

  add(bytes: number): void {
    this.bytes += bytes;
    if (this.bytes < GARBAGE_COLLECT_BYTES) return;
    this.bytes = 0;
    if (!collectGarbage) {
      v8.setFlagsFromString('--expose-gc');
      collectGarbage = vm.runInNewContext('gc') as () => void;
      v8.setFlagsFromString('--no-expose-gc');
    }
    collectGarbage();
  }
}

/**
 * Members read and hashed ahead, waiting for an encoder: one is handed over the moment an
 * encoder is done, instead of its thread idling while the main thread reads and hashes the next
 * (for zstd, a member takes a few milliseconds, about as long as reading and hashing it).
 */
const MEMBERS_WAITING = 2;

/**
 * Parallel compression: the input is cut at fixed offsets into GZIP_MEMBER_BYTES pieces, each
 * compressed as its own gzip member (or zstd frame) on libuv's thread pool, several at once, and
 * written in order. A series of gzip members is one valid gzip file (RFC 1952, 2.2) and a series
 * of zstd frames one valid zstd stream (RFC 8878, 3.1), read whole by every reader (Go's, GNU
 * gzip, zstd, zlib); the same input always gives the same bytes. Each input byte is copied once
 * (a piece that is exactly one member, as the tar writer's chunks are, not at all).
 */
export class ParallelCompressor extends Transform {
  private piece = chunkPool.take();
  private used = 0;
  private readonly queue: Array<Promise<Buffer[]>> = [];
  /** Encoders not compressing a member now; at most `parallel` are ever made. */
  private readonly idle: MemberEncoder[] = [];
  private readonly encoders: MemberEncoder[] = [];
  /** Members waiting for an encoder, first come first served. */
  private readonly waiting: Array<(encoder: MemberEncoder) => void> = [];
  private readonly garbage = new OutputGarbage();

  constructor(
    private readonly options: CompressionOptions,
    private readonly parallel = compressionParallelism(),
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.accept(chunk).then(() => done(), done);
  }

  override _flush(done: TransformCallback): void {
    if (this.used > 0) this.queue.push(this.compress(this.piece.subarray(0, this.used)));
    this.emitUntil(0).then(() => done(), done);
  }

  override _destroy(error: Error | null, done: (error: Error | null) => void): void {
    for (const encoder of this.encoders) encoder.close();
    done(error);
  }

  private async accept(chunk: Buffer): Promise<void> {
    if (this.used === 0 && chunk.length === GZIP_MEMBER_BYTES) return this.dispatch(chunk);
    let offset = 0;
    while (offset < chunk.length) {
      const copied = chunk.copy(this.piece, this.used, offset);
      offset += copied;
      this.used += copied;
      if (this.used === GZIP_MEMBER_BYTES) {
        const full = this.piece;
        this.piece = chunkPool.take();
        this.used = 0;
        await this.dispatch(full);
      }
    }
    chunkPool.give(chunk);
  }

  private async dispatch(member: Buffer): Promise<void> {
    this.queue.push(this.compress(member));
    await this.emitUntil(this.parallel + MEMBERS_WAITING - 1);
  }

  /** The member's compressed bytes; its input goes back to the pool once they are made. */
  private async compress(member: Buffer): Promise<Buffer[]> {
    const encoder = await this.encoder();
    try {
      return await encoder.encode(member);
    } finally {
      chunkPool.give(member);
      const next = this.waiting.shift();
      if (next) next(encoder);
      else this.idle.push(encoder);
    }
  }

  private encoder(): Promise<MemberEncoder> {
    const idle = this.idle.pop();
    if (idle) return Promise.resolve(idle);
    if (this.encoders.length < this.parallel) {
      const encoder = new MemberEncoder(this.options);
      this.encoders.push(encoder);
      return Promise.resolve(encoder);
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Writes finished members in order until at most `left` are still in flight. */
  private async emitUntil(left: number): Promise<void> {
    while (this.queue.length > left) {
      const next = this.queue.shift() as Promise<Buffer[]>;
      for (const piece of await next) {
        this.push(piece);
        this.garbage.add(piece.length);
      }
    }
  }
}

/**
 * Writes the compressed layer with synchronous writes, telling `onWritten` the bytes in the file
 * after each. An async write is one more pool round trip per member, and the wake-up of a pool
 * thread on a busy 2-core machine takes the main thread's core (measured: 6.7 → 6.4 s for 2 GB
 * of zstd); a write into the page cache costs less than that.
 */
class LayerFileSink extends Writable {
  private fd?: number;
  private written = 0;

  constructor(
    file: string,
    private readonly onWritten?: (bytes: number) => void,
  ) {
    super();
    this.fd = openSync(file, 'w');
  }

  override _write(
    chunk: Buffer,
    _encoding: BufferEncoding,
    done: (error?: Error | null) => void,
  ): void {
    try {
      writeSync(this.fd as number, chunk);
      this.written += chunk.length;
      this.onWritten?.(this.written);
      done();
    } catch (error) {
      done(error as Error);
    }
  }

  override _final(done: (error?: Error | null) => void): void {
    try {
      this.close();
      done();
    } catch (error) {
      done(error as Error);
    }
  }

  override _destroy(error: Error | null, done: (error: Error | null) => void): void {
    try {
      this.close();
    } catch {
      // The failure that destroyed the sink is the one to report.
    }
    done(error);
  }

  private close(): void {
    const fd = this.fd;
    this.fd = undefined;
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * A root's tar stream as a Readable that reads one chunk ahead, not Readable.from's 16: the
 * compressor has its own read-ahead (MEMBERS_WAITING), and 16 more 1 MiB chunks were 15 MiB of
 * the peak RSS.
 */
function tarReadable(input: Awaited<ReturnType<TarSource>>): Readable {
  if (input instanceof Readable) return input;
  return Readable.from(input, { objectMode: true, highWaterMark: 1 });
}

async function compressAndHash(
  source: TarSource,
  file: string,
  options: CompressionOptions,
  onWritten?: (bytes: number) => void,
): Promise<Omit<Layer, 'mediaType' | 'file'>> {
  const uncompressed = new Hasher();
  const compressed = new Hasher();
  await pipeline(
    tarReadable(await source()),
    uncompressed,
    new ParallelCompressor(options),
    compressed,
    new LayerFileSink(file, onWritten),
  );
  return {
    diffId: `sha256:${uncompressed.hash.digest('hex')}`,
    uncompressedSize: uncompressed.bytes,
    digest: `sha256:${compressed.hash.digest('hex')}`,
    size: compressed.bytes,
  };
}

/** The digest and size of a tar stream, without compressing it. */
export async function hashTar(source: TarSource): Promise<TarFacts> {
  const hasher = new Hasher();
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunkPool.give(chunk);
      done();
    },
  });
  await pipeline(tarReadable(await source()), hasher, sink);
  return { diffId: `sha256:${hasher.hash.digest('hex')}`, uncompressedSize: hasher.bytes };
}

/**
 * Compresses a tar stream into `file`: the layer, both digests computed in the same pass.
 * `onWritten` is told the bytes in the file as it grows (for an upload that follows it).
 */
export async function compressLayer(
  source: TarSource,
  file: string,
  options: Pick<LayerOptions, 'compression' | 'level'>,
  onWritten?: (bytes: number) => void,
): Promise<Layer> {
  const compression = layerCompression(options);
  const facts = await compressAndHash(source, file, compression, onWritten);
  return { mediaType: LAYER_MEDIA_TYPES[compression.compression], file, ...facts };
}

export function layerCompression(
  options: Pick<LayerOptions, 'compression' | 'level'>,
): CompressionOptions {
  const compression = options.compression ?? 'gzip';
  return { compression, level: options.level ?? DEFAULT_LEVEL[compression] };
}

/** The tar stream of a root directory: sorted entries, every entry owned by 0:0, mtimes clamped. */
export async function rootTarSource(root: string, options: LayerOptions): Promise<TarSource> {
  const stat = await fs.stat(root).catch(() => undefined);
  if (!stat?.isDirectory()) throw new UserError(`The root ${root} is not a directory.`);
  const tarOptions = {
    owners: 'root' as const,
    mtimeClamp: options.mtimeClamp,
    select: options.select,
    pool: chunkPool,
  };
  return () => Promise.resolve(tarStream(root, tarOptions));
}

/** The layer of a root directory, compressed into `file`. */
export async function layerFromRoot(
  root: string,
  file: string,
  options: LayerOptions,
): Promise<Layer> {
  return compressLayer(await rootTarSource(root, options), file, options);
}

/** How a tarball is compressed, from its first bytes. */
export function compressionOf(head: Buffer): 'gzip' | 'xz' | 'zstd' | 'bzip2' | 'none' {
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  if (head.subarray(0, 4).equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))) return 'zstd';
  if (head.subarray(0, 3).toString('latin1') === 'BZh') return 'bzip2';
  return 'none';
}

async function decompressed(tarball: string): Promise<Readable> {
  const handle = await fs.open(tarball, 'r').catch(() => {
    throw new UserError(`The tarball ${tarball} cannot be read.`);
  });
  const head = Buffer.alloc(8);
  await handle.read(head, 0, 8, 0);
  await handle.close();
  const kind = compressionOf(head);
  if (kind === 'none') return createReadStream(tarball);
  if (kind === 'gzip') return createReadStream(tarball).pipe(zlib.createGunzip());
  const tool = { xz: 'xz', zstd: 'zstd', bzip2: 'bzip2' }[kind];
  const child = spawn(tool, ['-dc', tarball], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.on('error', (error) =>
    child.stdout.destroy(
      new UserError(`Cannot decompress ${tarball} with ${tool}: ${error.message}`),
    ),
  );
  child.on('exit', (code) => {
    if (code !== 0) {
      child.stdout.destroy(
        new UserError(`${tool} could not decompress ${tarball}: ${stderr.trim()}`),
      );
    }
  });
  return child.stdout;
}

/** The tar stream of an existing tarball (plain, gzip, xz, zstd, bzip2), normalized like a root's. */
export function tarballTarSource(tarball: string, options: LayerOptions): TarSource {
  return async () => {
    const input = await decompressed(tarball);
    return input.pipe(new TarNormalizer(options.mtimeClamp, tarball, options.watch));
  };
}

/** The layer of an existing tarball, compressed into `file`. */
export async function layerFromTarball(
  tarball: string,
  file: string,
  options: LayerOptions,
): Promise<Layer> {
  return compressLayer(tarballTarSource(tarball, options), file, options);
}

/** The content of one regular file entry of a tarball (any compression), or undefined. */
export async function readFileFromTarball(
  tarball: string,
  entryPath: string,
): Promise<Buffer | undefined> {
  let found: Buffer | undefined;
  const normalizer = new TarNormalizer(Number.MAX_SAFE_INTEGER, tarball, {
    path: entryPath,
    found: (content) => (found = content),
  });
  const sink = new Writable({ write: (_chunk, _encoding, done) => done() });
  await pipeline(await decompressed(tarball), normalizer, sink);
  return found;
}

/** True when a tar entry name stays inside the root. */
export function isSafeEntryName(name: string): boolean {
  if (name.startsWith('/')) return false;
  return !name.split('/').includes('..');
}

/**
 * Rewrites a tar stream so that every entry is owned by 0:0 (no user or group names), no mtime
 * is later than the clamp, and pax records that would override those are dropped. An entry
 * whose name escapes the root is an error.
 */
export class TarNormalizer extends Transform {
  private pending: Buffer = Buffer.alloc(0);
  /** Bytes of entry body still to pass through unchanged (data + padding). */
  private bodyLeft = 0;
  private paxNeeded = 0;
  private paxHeader?: Buffer;
  private paxPath?: string;
  private capture?: Buffer[];
  private captureLeft = 0;
  private longName?: string;
  private longNameNeeded = 0;
  private longNameHeader?: Buffer;

  constructor(
    private readonly clamp: number,
    private readonly origin: string,
    private readonly watch?: LayerOptions['watch'],
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    try {
      this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
      this.process();
      done();
    } catch (error) {
      done(error as Error);
    }
  }

  override _flush(done: TransformCallback): void {
    if (this.pending.length > 0) this.push(this.pending);
    done();
  }

  private process(): void {
    while (this.step()) {
      // Each step consumes pending input; the loop stops when more is needed.
    }
  }

  /** Handles the next piece of pending input; false when more input is needed. */
  private step(): boolean {
    if (this.bodyLeft > 0) return this.passBody();
    if (this.paxNeeded > 0 || this.longNameNeeded > 0) return this.takeExtendedBody();
    if (this.pending.length < 512) return false;
    const block = Buffer.from(this.pending.subarray(0, 512));
    this.pending = this.pending.subarray(512);
    this.takeHeader(block);
    return true;
  }

  /** Passes entry body through unchanged, capturing the watched file's content. */
  private passBody(): boolean {
    const take = Math.min(this.bodyLeft, this.pending.length);
    if (take === 0) return false;
    const part = this.pending.subarray(0, take);
    if (this.capture && this.captureLeft > 0) {
      const keep = part.subarray(0, Math.min(this.captureLeft, part.length));
      this.capture.push(Buffer.from(keep));
      this.captureLeft -= keep.length;
      if (this.captureLeft === 0) {
        this.watch?.found(Buffer.concat(this.capture));
        this.capture = undefined;
      }
    }
    this.push(part);
    this.pending = this.pending.subarray(take);
    this.bodyLeft -= take;
    return true;
  }

  /** The body of a pax header (rewritten) or of a GNU long name (remembered), once whole. */
  private takeExtendedBody(): boolean {
    const needed = this.paxNeeded || this.longNameNeeded;
    if (this.pending.length < needed) return false;
    const body = this.pending.subarray(0, needed);
    this.pending = this.pending.subarray(needed);
    if (this.paxNeeded > 0) {
      this.paxNeeded = 0;
      this.emitPax(this.paxHeader as Buffer, body);
    } else {
      this.longNameNeeded = 0;
      const size = parseNumeric(this.longNameHeader as Buffer, 124, 12);
      this.longName = body.subarray(0, size).toString('utf8').replace(/\0+$/, '');
      this.push(this.longNameHeader as Buffer);
      this.push(body);
    }
    return true;
  }

  private takeHeader(block: Buffer): void {
    if (block.every((byte) => byte === 0)) {
      this.push(block);
      return;
    }
    const type = String.fromCharCode(block[156] || 0x30);
    const size = parseNumeric(block, 124, 12);
    const padded = Math.ceil(size / 512) * 512;
    this.normalizeHeader(block);
    if (type === 'x' || type === 'g') {
      this.paxHeader = block;
      this.paxNeeded = padded;
      if (padded === 0) this.emitPax(block, Buffer.alloc(0));
    } else if (type === 'L') {
      this.longNameHeader = block;
      this.longNameNeeded = padded;
    } else if (type === 'K') {
      this.push(block);
      this.bodyLeft = padded;
    } else {
      this.takeEntryHeader(block, type, size, padded);
    }
  }

  /** The header of an entry itself: its name (from pax, long name or ustar) must stay inside. */
  private takeEntryHeader(block: Buffer, type: string, size: number, padded: number): void {
    const ustar = block.subarray(257, 262).toString('latin1') === 'ustar';
    const ustarPrefix = ustar ? cString(block, 345, 155) : '';
    const headerName = (ustarPrefix ? `${ustarPrefix}/` : '') + cString(block, 0, 100);
    const name = this.paxPath ?? this.longName ?? headerName;
    this.paxPath = undefined;
    this.longName = undefined;
    const bare = name.replace(/^\.\//, '');
    if (!isSafeEntryName(bare)) {
      throw new UserError(`The tarball ${this.origin} has an entry "${name}" outside the root.`);
    }
    this.push(block);
    this.bodyLeft = type === '0' || type === '\0' || type === '7' ? padded : 0;
    if (this.bodyLeft > 0 && this.watch && bare === this.watch.path && size > 0) {
      this.capture = [];
      this.captureLeft = size;
    }
  }

  private normalizeHeader(block: Buffer): void {
    writeOctal(block, 108, 8, 0);
    writeOctal(block, 116, 8, 0);
    const mtime = parseNumeric(block, 136, 12);
    writeOctal(block, 136, 12, Math.min(mtime, this.clamp));
    if (block.subarray(257, 262).toString('latin1') === 'ustar') {
      block.fill(0, 265, 265 + 64);
    }
    writeChecksum(block);
  }

  private emitPax(header: Buffer, body: Buffer): void {
    const size = parseNumeric(header, 124, 12);
    const records = parsePaxRecords(body.subarray(0, size));
    const kept = records.filter(
      ([key]) => !['uid', 'gid', 'uname', 'gname', 'mtime', 'atime', 'ctime'].includes(key),
    );
    const pathRecord = records.find(([key]) => key === 'path');
    if (pathRecord && header[156] === 0x78) this.paxPath = pathRecord[1];
    const text = Buffer.from(kept.map(([key, value]) => paxRecord(key, value)).join(''), 'utf8');
    writeOctal(header, 124, 12, text.length);
    writeChecksum(header);
    this.push(header);
    this.push(text);
    const rest = text.length % 512;
    if (rest) this.push(Buffer.alloc(512 - rest));
  }
}

/** The image config as docker import --change allows it. */
export interface RuntimeConfig {
  entrypoint?: string[];
  cmd?: string[];
  env?: string[];
  workdir?: string;
  user?: string;
  exposedPorts?: string[];
  labels: Record<string, string>;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** The exact bytes of the image config (keys in a fixed order, no insignificant whitespace). */
export function imageConfigJson(
  platform: Platform,
  created: string,
  runtime: RuntimeConfig,
  diffIds: string[],
  comments: string[] = ['the root as one layer'],
): Buffer {
  const config: Record<string, unknown> = {};
  if (runtime.user) config.User = runtime.user;
  if (runtime.exposedPorts?.length) {
    config.ExposedPorts = Object.fromEntries(
      [...runtime.exposedPorts].sort().map((port) => [port, {}]),
    );
  }
  if (runtime.env?.length) config.Env = runtime.env;
  if (runtime.entrypoint?.length) config.Entrypoint = runtime.entrypoint;
  if (runtime.cmd?.length) config.Cmd = runtime.cmd;
  if (runtime.workdir) config.WorkingDir = runtime.workdir;
  config.Labels = sortedObject(runtime.labels);
  const image = {
    created,
    architecture: platform.architecture,
    ...(platform.variant ? { variant: platform.variant } : {}),
    os: platform.os,
    config,
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: comments.map((comment) => ({
      created,
      created_by: 'arch-core import-image',
      comment,
    })),
  };
  return Buffer.from(JSON.stringify(image));
}

export function sortedObject(record: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.keys(record)
      .sort()
      .map((key) => [key, record[key] as string]),
  );
}

/** The exact bytes of the image manifest. */
export function imageManifestJson(
  config: Blob,
  layers: Blob[],
  annotations: Record<string, string>,
): Buffer {
  const manifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.manifest,
    config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
    layers: layers.map((layer) => ({
      mediaType: layer.mediaType,
      digest: layer.digest,
      size: layer.size,
    })),
    ...(Object.keys(annotations).length ? { annotations: sortedObject(annotations) } : {}),
  };
  return Buffer.from(JSON.stringify(manifest));
}

export function digestOf(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** An image ready to be written or pushed: its blobs as files or bytes. */
export interface BuiltImage {
  /** Bottom first. */
  layers: Layer[];
  config: Blob & { bytes: Buffer };
  manifest: Blob & { bytes: Buffer };
  platform: Platform;
}

function blobPath(dir: string, digest: string): string {
  const [algorithm = 'sha256', hex = ''] = digest.split(':');
  return path.join(dir, 'blobs', algorithm, hex);
}

/**
 * A hard link where the file system allows one (a layer is written once and never changed, and
 * a cache-dir entry is checked against its digest before use), else a copy: copying hundreds of
 * MB of layer costs the layout-only run a few percent.
 */
async function linkOrCopy(source: string, target: string): Promise<void> {
  try {
    await fs.link(source, target);
  } catch {
    await fs.copyFile(source, target);
  }
}

/** The image's blobs (layers, config, manifest) into a layout directory, and its oci-layout. */
export async function fillLayoutBlobs(dir: string, image: BuiltImage): Promise<void> {
  await fs.mkdir(path.join(dir, 'blobs', 'sha256'), { recursive: true });
  await fs.writeFile(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  for (const layer of image.layers) await linkOrCopy(layer.file, blobPath(dir, layer.digest));
  await fs.writeFile(blobPath(dir, image.config.digest), image.config.bytes);
  await fs.writeFile(blobPath(dir, image.manifest.digest), image.manifest.bytes);
}

async function fillLayout(dir: string, image: BuiltImage, tags: string[]): Promise<void> {
  await fillLayoutBlobs(dir, image);
  const descriptor = {
    mediaType: MEDIA_TYPES.manifest,
    digest: image.manifest.digest,
    size: image.manifest.size,
    platform: {
      architecture: image.platform.architecture,
      os: image.platform.os,
      ...(image.platform.variant ? { variant: image.platform.variant } : {}),
    },
  };
  const index = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.index,
    manifests: (tags.length ? tags : [undefined]).map((tag) => ({
      ...descriptor,
      ...(tag ? { annotations: { 'org.opencontainers.image.ref.name': tag } } : {}),
    })),
  };
  await fs.writeFile(path.join(dir, 'index.json'), JSON.stringify(index));
}

/**
 * Writes the image as an OCI image layout: a directory, or an OCI archive (a tar of that
 * directory) when `target` ends in `.tar`. Atomic: `target` appears complete or not at all.
 */
export async function writeOciLayout(
  target: string,
  image: BuiltImage,
  tags: string[],
  mtimeClamp: number,
): Promise<'directory' | 'archive'> {
  return writeLayout(target, (dir) => fillLayout(dir, image, tags), mtimeClamp);
}

/**
 * A layout directory that `fill` writes, at `target` or, when `target` ends in `.tar`, tarred
 * into an OCI archive there (entries owned by root, mtimes clamped). Atomic.
 */
export async function writeLayout(
  target: string,
  fill: (dir: string) => Promise<void>,
  mtimeClamp: number,
): Promise<'directory' | 'archive'> {
  if (!target.endsWith('.tar')) {
    await produceAtomically(target, fill);
    return 'directory';
  }
  await produceAtomically(target, async (temporary) => {
    const staging = `${temporary}.d`;
    try {
      await fill(staging);
      await pipeline(
        tarStream(staging, { owners: 'root', mtimeClamp }),
        createWriteStream(temporary),
      );
    } finally {
      await fs.rm(staging, { recursive: true, force: true });
    }
  });
  return 'archive';
}
