import { messageOf } from '../../core/src/errors.js';
import { DeadlineError, type RegistryClient } from '../../core/src/registry.js';

/**
 * A layer uploaded while it is being compressed: a chunked upload (POST, then one PATCH per
 * chunk) that follows the compressed file as it grows, and ends with the PUT of its digest once
 * compression is done. On a first push the upload then costs little more than the compression;
 * uploading after it took 0.9 s of 5 s at 500 MB.
 *
 * It begins only when it is likely to be needed and worth it:
 * - once EARLY_UPLOAD_AFTER_BYTES are compressed (a smaller layer uploads in a moment after);
 * - when none of the tags is in the repository yet. The digest is not known before the end, so
 *   no HEAD can tell whether the registry has the blob; a tag that exists says this may be the
 *   same image again, and then the blob is checked and uploaded afterwards, as it always was.
 * Its requests are not retried. Any failure abandons it (the upload session is cancelled) and
 * the layer is pushed afterwards from the file, with retries, as if it had never begun; only
 * the deadline of `timeout` ends the step.
 */
export const EARLY_UPLOAD_AFTER_BYTES = 32 * 1024 * 1024;

export interface EarlyUploadTarget {
  /** A client for these uploads alone: made without retries or deadline. */
  client: RegistryClient;
  repository: string;
  tags: string[];
  /** Seconds the end of each upload (its last requests) may take: the `timeout` input. */
  timeoutSeconds: number;
  log: (line: string) => void;
}

/** The uploads begun while compressing, and the layers they stored. */
export class EarlyUploads {
  /** Bytes sent for each layer stored this way, by its digest. */
  readonly stored = new Map<string, number>();
  private tagsChecked?: Promise<string | undefined>;

  constructor(private readonly target: EarlyUploadTarget) {}

  /** The upload of the layer being written to `file`. */
  follow(file: string, name: string): LayerUpload {
    return new LayerUpload(this, this.target, file, name);
  }

  /** Undefined when every tag is new to the repository, else why to wait. */
  reasonToWait(): Promise<string | undefined> {
    this.tagsChecked ??= this.findExistingTag().then((tag) =>
      tag === undefined ? undefined : `the tag ${tag} is already in the repository`,
    );
    return this.tagsChecked;
  }

  close(): void {
    this.target.client.close();
  }

  private async findExistingTag(): Promise<string | undefined> {
    for (const tag of this.target.tags) {
      if (await this.target.client.findManifest(this.target.repository, tag)) return tag;
    }
    return undefined;
  }
}

/** One layer's upload; `grew` as the file grows, then `finish` once it is whole. */
export class LayerUpload {
  private written = 0;
  private sent = 0;
  private location?: string;
  private begun = false;
  /** The request running now, if any: one at a time, in order. */
  private running?: Promise<void>;
  /** Why the upload stopped (it is then pushed afterwards). */
  private stopped?: string;

  constructor(
    private readonly uploads: EarlyUploads,
    private readonly target: EarlyUploadTarget,
    private readonly file: string,
    private readonly name: string,
  ) {}

  /** The file now holds `bytes`: sends what is whole chunks of it, when no request runs. */
  readonly grew = (bytes: number): void => {
    this.written = bytes;
    this.next();
  };

  /**
   * Sends the rest and stores the blob under `digest`; true when the registry has it now. False
   * when the upload never began or stopped: the layer is then to be pushed as usual. A deadline
   * passed is an error (the push had its time).
   */
  async finish(digest: string, size: number): Promise<boolean> {
    while (this.running) await this.running;
    if (!this.begun || this.stopped !== undefined) {
      if (this.stopped !== undefined) await this.cancel();
      return false;
    }
    const { client, repository } = this.target;
    client.setDeadline(Date.now() + this.target.timeoutSeconds * 1000);
    try {
      const blob = { digest, size, file: this.file };
      await client.finishChunked(repository, this.location as string, blob, this.sent);
    } catch (error) {
      if (error instanceof DeadlineError) throw error;
      this.stop(`it failed at the end (${messageOf(error)})`);
      await this.cancel();
      return false;
    }
    this.uploads.stored.set(digest, size);
    this.target.log(`${this.name}: ${digest} uploaded while it was compressed (${size} bytes)`);
    return true;
  }

  private next(): void {
    if (this.running || this.stopped !== undefined) return;
    if (!this.begun) {
      if (this.written < EARLY_UPLOAD_AFTER_BYTES) return;
      this.begun = true;
      this.run(() => this.begin());
      return;
    }
    const { chunkSize } = this.target.client;
    if (this.location !== undefined && this.written - this.sent >= chunkSize) {
      const start = this.sent;
      this.run(async () => {
        const { client, repository } = this.target;
        const end = start + chunkSize;
        this.location = await client.sendChunk(
          repository,
          this.location as string,
          { file: this.file },
          start,
          end,
        );
        this.sent = end;
      });
    }
  }

  private async begin(): Promise<void> {
    const wait = await this.uploads.reasonToWait();
    if (wait !== undefined) {
      this.stop(wait);
      return;
    }
    this.location = await this.target.client.beginUpload(this.target.repository);
    this.target.log(`${this.name}: uploading while compressing`);
  }

  private run(step: () => Promise<void>): void {
    this.running = step().then(
      () => {
        this.running = undefined;
        this.next();
      },
      (error: unknown) => {
        this.running = undefined;
        this.stop(`it failed (${messageOf(error)})`);
      },
    );
  }

  /** Stops the upload; the layer is pushed afterwards. */
  private stop(why: string): void {
    this.stopped = why;
    this.target.log(
      `${this.name}: not uploaded while compressing (${why}); pushed once compressed`,
    );
  }

  private async cancel(): Promise<void> {
    if (this.location === undefined) return;
    await this.target.client.cancelUpload(this.target.repository, this.location);
    this.location = undefined;
  }
}
