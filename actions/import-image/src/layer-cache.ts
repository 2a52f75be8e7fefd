import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { temporarySibling } from '../../core/src/files.js';
import type { CompressionOptions, Layer, TarFacts } from './oci.js';

/**
 * `cache-dir`: compressed layers by what they hold. An entry maps the tar stream's digest (the
 * diffID) and the compression settings to the compressed blob and its digest:
 *
 *   DIR/entries/<diffID hex>-<compression><level>.json   {diffId, uncompressedSize, digest, size, mediaType}
 *   DIR/blobs/sha256/<digest hex>                         the compressed layer
 *
 * Both are written under a temporary name and renamed, the blob first, so a killed or concurrent
 * run never leaves an entry whose blob is half written. An entry is used only after its blob's
 * size and sha256 match what it records; one that does not is removed and rebuilt.
 * docs/dev/layer-format.md has the pruning policy.
 */

interface Entry extends TarFacts {
  digest: string;
  size: number;
  mediaType: string;
}

/** Entries used this recently are never pruned: a concurrent run may be using them. */
const IN_USE_MS = 60 * 60 * 1000;

/** What prune keeps besides this run's entries: up to this many times their bytes. */
const KEEP_FACTOR = 2;

export type Lookup = { layer: Layer } | { miss: string; corrupt: boolean };

export class LayerCache {
  private readonly used = new Set<string>();
  private readonly usedDiffIds = new Set<string>();

  constructor(private readonly dir: string) {}

  private entryPath(diffId: string, options: CompressionOptions): string {
    const hex = diffId.replace(/^sha256:/, '');
    return path.join(this.dir, 'entries', `${hex}-${options.compression}${options.level}.json`);
  }

  private blobPath(digest: string): string {
    return path.join(this.dir, 'blobs', 'sha256', digest.replace(/^sha256:/, ''));
  }

  /** The cached layer of this tar stream and compression, checked; or why there is none. */
  async lookup(facts: TarFacts, options: CompressionOptions): Promise<Lookup> {
    const file = this.entryPath(facts.diffId, options);
    const text = await fs.readFile(file, 'utf8').catch(() => undefined);
    if (text === undefined) return { miss: 'is not in the cache', corrupt: false };
    const entry = parseEntry(text);
    const problem = entry
      ? await this.blobProblem(entry, facts)
      : `its entry ${path.basename(file)} is not valid`;
    if (problem || !entry) {
      await fs.rm(file, { force: true });
      if (entry) await fs.rm(this.blobPath(entry.digest), { force: true });
      return { miss: `the cache entry was corrupt (${problem}); rebuilding it`, corrupt: true };
    }
    const now = new Date();
    await fs.utimes(file, now, now);
    this.used.add(file);
    return { layer: { ...entry, file: this.blobPath(entry.digest) } };
  }

  /** Why the entry's blob cannot be trusted, or undefined when it can. */
  private async blobProblem(entry: Entry, facts: TarFacts): Promise<string | undefined> {
    if (entry.diffId !== facts.diffId) return `it records the diffID ${entry.diffId}`;
    const blob = this.blobPath(entry.digest);
    const stat = await fs.stat(blob).catch(() => undefined);
    if (!stat) return 'its blob is missing';
    if (stat.size !== entry.size) return `its blob has ${stat.size} bytes, not ${entry.size}`;
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(blob, { highWaterMark: 1024 * 1024 })) {
      hash.update(chunk as Buffer);
    }
    const digest = `sha256:${hash.digest('hex')}`;
    return digest === entry.digest ? undefined : `its blob's sha256 is ${digest}`;
  }

  private fingerprintPath(fingerprint: string): string {
    return path.join(this.dir, 'fingerprints', `${fingerprint}.json`);
  }

  /** The tar facts recorded for a tree's fingerprint (cache-fingerprint), if any. */
  async factsOf(fingerprint: string): Promise<TarFacts | undefined> {
    const text = await fs.readFile(this.fingerprintPath(fingerprint), 'utf8').catch(() => '');
    const facts = parseFacts(text);
    if (facts) this.usedDiffIds.add(facts.diffId);
    return facts;
  }

  /** Records that a tree with this fingerprint has this tar stream. */
  async rememberFingerprint(fingerprint: string, facts: TarFacts): Promise<void> {
    const file = this.fingerprintPath(fingerprint);
    await fs.mkdir(path.dirname(file), { recursive: true });
    const temporary = temporarySibling(file);
    const record = { diffId: facts.diffId, uncompressedSize: facts.uncompressedSize };
    await fs.writeFile(temporary, `${JSON.stringify(record)}\n`);
    await fs.rename(temporary, file);
    this.usedDiffIds.add(facts.diffId);
  }

  /** A path in the cache to compress a new layer into (renamed by `store`). */
  async temporaryBlob(): Promise<string> {
    await fs.mkdir(path.join(this.dir, 'blobs', 'sha256'), { recursive: true });
    return temporarySibling(path.join(this.dir, 'blobs', 'sha256', 'layer'));
  }

  /** Moves a layer compressed into `temporaryBlob()` into the cache; returns it there. */
  async store(layer: Layer, options: CompressionOptions): Promise<Layer> {
    const blob = this.blobPath(layer.digest);
    await fs.rename(layer.file, blob);
    const entry: Entry = {
      diffId: layer.diffId,
      uncompressedSize: layer.uncompressedSize,
      digest: layer.digest,
      size: layer.size,
      mediaType: layer.mediaType,
    };
    const file = this.entryPath(layer.diffId, options);
    await fs.mkdir(path.dirname(file), { recursive: true });
    const temporary = temporarySibling(file);
    await fs.writeFile(temporary, `${JSON.stringify(entry)}\n`);
    await fs.rename(temporary, file);
    this.used.add(file);
    return { ...layer, file: blob };
  }

  /**
   * Bounds the cache: keeps this run's entries, then others, most recently used first, while
   * their blobs total at most KEEP_FACTOR times this run's; entries used within IN_USE_MS stay
   * too. Blobs no entry names and temporaries older than IN_USE_MS go. Returns what it removed.
   */
  async prune(): Promise<{ entries: number; bytes: number }> {
    const entries = await this.allEntries();
    const usedBytes = entries.filter((e) => this.used.has(e.file)).reduce((n, e) => n + e.size, 0);
    let kept = 0;
    let removed = { entries: 0, bytes: 0 };
    const keep = new Set<string>();
    const keptDiffIds = new Set(this.usedDiffIds);
    for (const entry of entries.sort((a, b) => b.mtimeMs - a.mtimeMs)) {
      const mine = this.used.has(entry.file);
      const recent = Date.now() - entry.mtimeMs < IN_USE_MS;
      if (mine || recent || kept + entry.size <= KEEP_FACTOR * usedBytes) {
        if (!mine) kept += entry.size;
        keep.add(entry.digest);
        keptDiffIds.add(entry.diffId);
      } else {
        await fs.rm(entry.file, { force: true });
        removed = { entries: removed.entries + 1, bytes: removed.bytes + entry.size };
      }
    }
    await this.removeUnnamedBlobs(keep);
    await this.removeStaleFingerprints(keptDiffIds);
    return removed;
  }

  private async allEntries(): Promise<Array<Entry & { file: string; mtimeMs: number }>> {
    const dir = path.join(this.dir, 'entries');
    const names = await fs.readdir(dir).catch(() => [] as string[]);
    const found: Array<Entry & { file: string; mtimeMs: number }> = [];
    for (const name of names) {
      const file = path.join(dir, name);
      const stat = await fs.stat(file).catch(() => undefined);
      if (!stat) continue;
      const entry = name.endsWith('.json')
        ? parseEntry(await fs.readFile(file, 'utf8').catch(() => ''))
        : undefined;
      if (entry) found.push({ ...entry, file, mtimeMs: stat.mtimeMs });
      else if (Date.now() - stat.mtimeMs > IN_USE_MS) await fs.rm(file, { force: true });
    }
    return found;
  }

  private async removeUnnamedBlobs(named: Set<string>): Promise<void> {
    const dir = path.join(this.dir, 'blobs', 'sha256');
    for (const name of await fs.readdir(dir).catch(() => [] as string[])) {
      if (named.has(`sha256:${name}`)) continue;
      const file = path.join(dir, name);
      const stat = await fs.stat(file).catch(() => undefined);
      // A blob renamed in just before its entry, or a temporary being written, is left alone.
      if (stat && Date.now() - stat.mtimeMs > IN_USE_MS) await fs.rm(file, { force: true });
    }
  }

  private async removeStaleFingerprints(keptDiffIds: Set<string>): Promise<void> {
    const dir = path.join(this.dir, 'fingerprints');
    for (const name of await fs.readdir(dir).catch(() => [] as string[])) {
      const file = path.join(dir, name);
      const facts = parseFacts(await fs.readFile(file, 'utf8').catch(() => ''));
      if (facts && keptDiffIds.has(facts.diffId)) continue;
      const stat = await fs.stat(file).catch(() => undefined);
      if (stat && Date.now() - stat.mtimeMs > IN_USE_MS) await fs.rm(file, { force: true });
    }
  }
}

const DIGEST = /^sha256:[a-f0-9]{64}$/;

function parseFacts(text: string): TarFacts | undefined {
  try {
    const facts = JSON.parse(text) as Partial<TarFacts>;
    const valid = DIGEST.test(facts.diffId ?? '') && Number.isInteger(facts.uncompressedSize);
    return valid ? (facts as TarFacts) : undefined;
  } catch {
    return undefined;
  }
}

function parseEntry(text: string): Entry | undefined {
  try {
    const entry = JSON.parse(text) as Partial<Entry>;
    const valid =
      DIGEST.test(entry.diffId ?? '') &&
      DIGEST.test(entry.digest ?? '') &&
      Number.isInteger(entry.size) &&
      Number.isInteger(entry.uncompressedSize) &&
      typeof entry.mediaType === 'string';
    return valid ? (entry as Entry) : undefined;
  } catch {
    return undefined;
  }
}
