import { createReadStream } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { isIP } from 'node:net';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { Readable } from 'node:stream';
import { UserError, messageOf } from './errors.js';
import { TransientError, withRetries } from './retry.js';

/**
 * A client of the OCI distribution API (the registry protocol), enough to push an image:
 * HEAD a blob (present → skip), upload it (monolithic when small, chunked PATCHes when large),
 * PUT a manifest per tag. Basic auth and the Bearer token flow (`WWW-Authenticate: Bearer
 * realm=...,service=...,scope=...`). TLS is verified unless the registry is `insecure`, in which
 * case plain HTTP is spoken. Transient failures (5xx, 429, reset or refused connections,
 * timeouts) are retried with exponential backoff, a bounded number of times, and logged; 401/403
 * fail at once naming the registry and the user. The password is never logged.
 */
export interface RegistryOptions {
  /** host[:port] to connect to (may be a tunnel's 127.0.0.1:PORT). */
  address: string;
  /** How messages name the registry (the image's registry); default `address`. */
  displayName?: string;
  /** Plain HTTP instead of verified HTTPS. */
  insecure: boolean;
  /** The registry's own host[:port] when `address` is a tunnel: sent as Host, checked by TLS. */
  serverName?: string;
  username?: string;
  password?: string;
  /** An OAuth2 refresh token (Docker's identitytoken), traded at the token realm by POST. */
  identityToken?: string;
  /** Where the credentials came from, for messages (an input, or a Docker config entry). */
  credentialsFrom?: string;
  /** How many times a transient failure is retried (default 5). */
  retries?: number;
  /** First backoff delay; doubled each retry, at most 8 s (default 500 ms). */
  backoffMs?: number;
  /** A connection not established within this fails (default 15 s). */
  connectTimeoutMs?: number;
  /** A request silent for this long fails, and is retried (default 30 s). */
  idleTimeoutMs?: number;
  /** Epoch milliseconds by which everything must be done: a request then running is ended,
   * no retry starts, and the call fails with a DeadlineError. */
  deadline?: number;
  /** Blobs up to this size are uploaded with one PUT (default 16 MiB). */
  monolithicMax?: number;
  /** Chunk size of chunked uploads (default 16 MiB). */
  chunkSize?: number;
  /** Where progress and retries are reported (default: nowhere). */
  log?: (line: string) => void;
}

/** A blob to push: its digest, size, and how to read (a range of) it. */
export interface PushBlob {
  digest: string;
  size: number;
  mediaType?: string;
  /** Bytes in memory, or a file path. */
  bytes?: Buffer;
  file?: string;
}

interface Response {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

interface RequestSpec {
  method: string;
  /** Path and query on the registry, or an absolute URL (Location headers). */
  url: string;
  headers?: Record<string, string>;
  body?: Buffer | (() => Readable);
  bodyLength?: number;
  /** The repository, for the token scope. */
  repository?: string;
}

const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNABORTED',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/** The client's deadline passed: nothing more was sent. */
export class DeadlineError extends UserError {
  override name = 'DeadlineError';
}

export class RegistryClient {
  private readonly base: URL;
  private readonly agent: http.Agent;
  private readonly name: string;
  /** Authorization header value per token scope (or '' for basic, which has one scope). */
  private readonly authorization = new Map<string, string>();
  /** Bytes of blob data sent in uploads (all attempts counted). */
  uploadedBytes = 0;

  constructor(private readonly options: RegistryOptions) {
    const scheme = options.insecure ? 'http' : 'https';
    const host = options.address === 'docker.io' ? 'registry-1.docker.io' : options.address;
    this.base = new URL(`${scheme}://${host}`);
    this.name = options.displayName ?? options.address;
    this.agent = options.insecure
      ? new http.Agent({ keepAlive: true, maxSockets: 4 })
      : new https.Agent({ keepAlive: true, maxSockets: 4 });
  }

  close(): void {
    this.agent.destroy();
  }

  private log(line: string): void {
    this.options.log?.(line);
  }

  private who(): string {
    const from = this.options.credentialsFrom ? ` (from ${this.options.credentialsFrom})` : '';
    if (this.options.identityToken) return `an identity token${from}`;
    return this.options.username ? `user "${this.options.username}"${from}` : 'no credentials';
  }

  /** Runs `attempt` up to retries+1 times while it fails transiently. */
  withRetries<T>(what: string, attempt: () => Promise<T>): Promise<T> {
    const retries = this.options.retries ?? 5;
    const deadline = this.options.deadline;
    return withRetries(attempt, {
      retries,
      deadline,
      firstDelayMs: this.options.backoffMs ?? 500,
      maxDelayMs: 8000,
      onRetry: (error, retry, delay) =>
        this.log(
          `registry ${this.name}: ${what}: ${messageOf(error)}; retry ${retry} of ${retries} in ${(delay / 1000).toFixed(1)} s`,
        ),
      giveUp: (error, attempts, retryable) => {
        if (!retryable) return error;
        const outOfTime = deadline !== undefined && attempts <= retries;
        const message = `Registry ${this.name}: ${what} failed after ${attempts} attempts: ${messageOf(error)}`;
        return outOfTime
          ? new DeadlineError(`${message}; no time left for another`)
          : new UserError(message);
      },
    });
  }

  /** A path or a Location header on our connection (a Location naming the server → us). */
  private resolve(url: string): URL {
    const resolved = new URL(url, this.base);
    if (this.options.serverName && resolved.host === this.options.serverName) {
      return new URL(`${resolved.pathname}${resolved.search}`, this.base);
    }
    return resolved;
  }

  /** One HTTP exchange; network errors become TransientError. No retry, no auth handling. */
  private exchange(spec: RequestSpec, authorization?: string): Promise<Response> {
    const url = this.resolve(spec.url);
    const transport = url.protocol === 'https:' ? https : http;
    return new Promise<Response>((resolve, reject) => {
      let settled = false;
      const settle = (finish: () => void): void => {
        if (settled) return;
        settled = true;
        finish();
      };
      const fail = (error: Error): void => settle(() => reject(error));
      const ours = url.host === this.base.host;
      const request = transport.request(url, {
        method: spec.method,
        headers: this.headersOf(spec, ours, authorization),
        agent: ours ? this.agent : undefined,
        ...(ours ? this.tlsIdentity() : {}),
      });
      this.watchTimeouts(request, `${spec.method} ${url.pathname}`);
      request.on('error', (error: NodeJS.ErrnoException) =>
        fail(this.failureOf(error, `${spec.method} ${url.pathname}`)),
      );
      request.on('response', (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', (error) =>
          fail(new TransientError(`reading the answer: ${error.message}`)),
        );
        response.on('end', () =>
          settle(() =>
            resolve({
              status: response.statusCode ?? 0,
              headers: response.headers,
              body: Buffer.concat(chunks),
            }),
          ),
        );
      });
      sendBody(request, spec.body);
    });
  }

  /** The request headers: the spec's, authorization, Host through a tunnel, content-length. */
  private headersOf(
    spec: RequestSpec,
    ours: boolean,
    authorization: string | undefined,
  ): Record<string, string> {
    const headers: Record<string, string> = { ...(spec.headers ?? {}) };
    if (authorization) headers.authorization = authorization;
    if (this.options.serverName && ours) headers.host = this.options.serverName;
    if (spec.body !== undefined) {
      const length = Buffer.isBuffer(spec.body) ? spec.body.length : (spec.bodyLength ?? 0);
      headers['content-length'] = String(length);
    } else if (['PUT', 'POST', 'PATCH'].includes(spec.method)) {
      headers['content-length'] = '0';
    }
    return headers;
  }

  /** Through a tunnel the certificate must match the registry's name, not 127.0.0.1. */
  private tlsIdentity(): Pick<https.RequestOptions, 'servername' | 'checkServerIdentity'> {
    const named = this.options.serverName?.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
    if (!named) return {};
    return {
      // SNI takes host names only; an IP address is still checked against the certificate.
      ...(isIP(named) ? {} : { servername: named }),
      checkServerIdentity: (_host: string, certificate: PeerCertificate) =>
        checkServerIdentity(named, certificate),
    };
  }

  /**
   * Fails a request that gets no connection, or no answer, in time (as ETIMEDOUT), and ends it
   * at the deadline (a DeadlineError).
   */
  private watchTimeouts(request: http.ClientRequest, what: string): void {
    const connectTimeout = this.options.connectTimeoutMs ?? 15_000;
    const idleTimeout = this.options.idleTimeoutMs ?? 30_000;
    request.setTimeout(idleTimeout, () => {
      request.destroy(
        Object.assign(new Error(`no answer within ${idleTimeout / 1000} s`), { code: 'ETIMEDOUT' }),
      );
    });
    const deadline = this.options.deadline;
    if (deadline !== undefined) {
      const timer = setTimeout(
        () =>
          request.destroy(
            new DeadlineError(`Registry ${this.name}: ${what} was still running at the deadline`),
          ),
        Math.max(0, deadline - Date.now()),
      );
      request.once('close', () => clearTimeout(timer));
    }
    request.on('socket', (socket) => {
      if (!socket.connecting) return;
      const timer = setTimeout(() => {
        request.destroy(
          Object.assign(new Error(`no connection within ${connectTimeout / 1000} s`), {
            code: 'ETIMEDOUT',
          }),
        );
      }, connectTimeout);
      socket.once('connect', () => clearTimeout(timer));
      socket.once('secureConnect', () => clearTimeout(timer));
      socket.once('close', () => clearTimeout(timer));
    });
  }

  /** A network error of `what` (method and path): transient, a TLS failure, or final. */
  private failureOf(error: NodeJS.ErrnoException, what: string): Error {
    if (error instanceof DeadlineError) return error;
    // OpenSSL reads an HTTP answer to its hello as a record of a wrong version.
    if (error.code === 'EPROTO' && /wrong version number|http request/i.test(error.message)) {
      return new UserError(
        `The registry at ${this.name} answers plain HTTP: set insecure: true (only for a loopback registry or one reached through the SSH tunnel).`,
      );
    }
    if (error.code && TRANSIENT_CODES.has(error.code)) {
      return new TransientError(`${what}: ${error.code} (${error.message})`);
    }
    if (error.message === 'socket hang up') return new TransientError(`${what}: connection closed`);
    if (error.code?.startsWith('ERR_TLS') || /certificate|self.signed/i.test(error.message)) {
      return new UserError(
        `Registry ${this.name}: TLS verification failed (${error.message}). Use a certificate the runner trusts, or "insecure" for a loopback registry.`,
      );
    }
    return new UserError(`Registry ${this.name}: ${what}: ${error.message}`);
  }

  private scopeOf(spec: RequestSpec): string {
    return spec.repository ? `repository:${spec.repository}:pull,push` : '';
  }

  /**
   * A request with authentication: a 401 answers with a challenge, which is met once (basic
   * credentials, or a Bearer token fetched from the realm); a second 401, or a 403, fails at once.
   * Transient statuses (5xx, 429) become TransientError for the caller's retry loop.
   */
  async request(spec: RequestSpec, expected: number[]): Promise<Response> {
    const scope = this.scopeOf(spec);
    let authorization = this.authorization.get(scope) ?? this.authorization.get('');
    let response = await this.exchange(spec, authorization);
    if (response.status === 401) {
      const challenge = String(response.headers['www-authenticate'] ?? '');
      authorization = await this.answerChallenge(challenge, scope);
      response = await this.exchange(spec, authorization);
    }
    if (response.status === 401 || response.status === 403) {
      const verb = response.status === 401 ? 'refused the credentials of' : 'denied access to';
      throw new UserError(
        `Registry ${this.name} ${verb} ${this.who()} (HTTP ${response.status} on ${spec.method} ${this.resolve(spec.url).pathname})${registryError(response)}.`,
      );
    }
    if (response.status === 429 || response.status >= 500) {
      throw new TransientError(
        `HTTP ${response.status} on ${spec.method} ${this.resolve(spec.url).pathname}`,
      );
    }
    if (!expected.includes(response.status)) {
      throw new UserError(
        `Registry ${this.name}: ${spec.method} ${this.resolve(spec.url).pathname} answered HTTP ${response.status}${registryError(response)}.`,
      );
    }
    return response;
  }

  private async answerChallenge(challenge: string, scope: string): Promise<string> {
    const { scheme, params } = parseChallenge(challenge);
    const { username, password, identityToken } = this.options;
    if (!identityToken && (!username || password === undefined)) {
      throw new UserError(
        `Registry ${this.name} requires authentication (HTTP 401); give registry-username and registry-password, or log in with docker login (docker/login-action).`,
      );
    }
    const basic = identityToken
      ? undefined
      : `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
    if (scheme === 'basic' && basic) {
      this.authorization.set('', basic);
      return basic;
    }
    if (scheme !== 'bearer' || !params.realm) {
      throw new UserError(
        `Registry ${this.name} asks for an authentication ${this.who()} cannot answer: "${challenge}".`,
      );
    }
    const realm = new URL(params.realm);
    const wanted = scope || params.scope;
    const request = identityToken
      ? refreshTokenRequest(realm, identityToken, params.service, wanted)
      : basicTokenRequest(realm, basic as string, params.service, wanted);
    const token = await this.withRetries('token', () => this.fetchToken(request, realm));
    const bearer = `Bearer ${token}`;
    this.authorization.set(scope, bearer);
    return bearer;
  }

  /** One exchange with the token service; its token (GET's `token`, OAuth2's `access_token`). */
  private async fetchToken(
    request: { spec: RequestSpec; authorization?: string },
    realm: URL,
  ): Promise<string> {
    const answer = await this.exchange(request.spec, request.authorization);
    if (answer.status === 401 || answer.status === 403) {
      throw new UserError(
        `Registry ${this.name}: the token service ${realm.origin} refused the credentials of ${this.who()} (HTTP ${answer.status}).`,
      );
    }
    if (answer.status === 429 || answer.status >= 500) {
      throw new TransientError(`token service answered HTTP ${answer.status}`);
    }
    if (answer.status !== 200) {
      throw new UserError(
        `Registry ${this.name}: the token service ${realm.origin} answered HTTP ${answer.status} to ${request.spec.method}.`,
      );
    }
    const json = JSON.parse(answer.body.toString()) as { token?: string; access_token?: string };
    const value = json.token ?? json.access_token;
    if (!value) throw new UserError(`Registry ${this.name}: the token service sent no token.`);
    return value;
  }

  /** True when the registry already has the blob. */
  async blobExists(repository: string, digest: string): Promise<boolean> {
    return this.withRetries(`HEAD blob ${short(digest)}`, async () => {
      const response = await this.request(
        { method: 'HEAD', url: `/v2/${repository}/blobs/${digest}`, repository },
        [200, 404],
      );
      return response.status === 200;
    });
  }

  /** Uploads a blob unless present; returns the bytes sent (0 when it was there). */
  async pushBlob(repository: string, blob: PushBlob): Promise<number> {
    if (await this.blobExists(repository, blob.digest)) {
      this.log(`blob ${short(blob.digest)} (${blob.size} bytes) is already there`);
      return 0;
    }
    const monolithic = blob.size <= (this.options.monolithicMax ?? 16 * 1024 * 1024);
    return this.withRetries(`upload of ${short(blob.digest)}`, async () => {
      const location = await this.beginUpload(repository);
      const sent = this.uploadedBytes;
      if (monolithic) {
        await this.request(
          {
            method: 'PUT',
            url: withDigest(location, blob.digest),
            headers: { 'content-type': 'application/octet-stream' },
            body: this.bodyOf(blob, 0, blob.size),
            bodyLength: blob.size,
            repository,
          },
          [201],
        );
      } else {
        await this.finishChunked(repository, location, blob, 0);
      }
      this.log(
        `blob ${short(blob.digest)}: uploaded ${blob.size} bytes (${monolithic ? 'one request' : 'chunked'})`,
      );
      return this.uploadedBytes - sent;
    });
  }

  /** Bytes a chunked upload sends in each PATCH. */
  get chunkSize(): number {
    return this.options.chunkSize ?? 16 * 1024 * 1024;
  }

  /**
   * From now on no retry starts after `epochMs` and a request started after it is ended there
   * (a request already running keeps its idle timeout): for work begun before its bound was known.
   */
  setDeadline(epochMs: number): void {
    this.options.deadline = epochMs;
  }

  /** Starts an upload session and gives its Location. One attempt: retrying is the caller's. */
  async beginUpload(repository: string): Promise<string> {
    const start = await this.request(
      { method: 'POST', url: `/v2/${repository}/blobs/uploads/`, repository },
      [202],
    );
    return locationOf(start, this.name);
  }

  /** Sends bytes [start, end) of the blob as the upload's next chunk; gives the next Location. */
  async sendChunk(
    repository: string,
    location: string,
    blob: Pick<PushBlob, 'bytes' | 'file'>,
    start: number,
    end: number,
  ): Promise<string> {
    const response = await this.request(
      {
        method: 'PATCH',
        url: location,
        headers: {
          'content-type': 'application/octet-stream',
          'content-range': `${start}-${end - 1}`,
        },
        body: this.bodyOf(blob, start, end),
        bodyLength: end - start,
        repository,
      },
      [202],
    );
    return locationOf(response, this.name);
  }

  /**
   * Sends the blob's bytes from `start` on in chunks, then ends the upload: the registry checks
   * all the bytes sent against the digest and stores the blob.
   */
  async finishChunked(
    repository: string,
    location: string,
    blob: PushBlob,
    start: number,
  ): Promise<void> {
    let next = location;
    for (let offset = start; offset < blob.size; offset += this.chunkSize) {
      const end = Math.min(offset + this.chunkSize, blob.size);
      next = await this.sendChunk(repository, next, blob, offset, end);
    }
    const url = withDigest(next, blob.digest);
    await this.request({ method: 'PUT', url, repository }, [201]);
  }

  /** Gives an unfinished upload up; a registry that will not is left to expire it. */
  async cancelUpload(repository: string, location: string): Promise<void> {
    await this.request({ method: 'DELETE', url: location, repository }, [200, 202, 204, 404]).catch(
      () => undefined,
    );
  }

  private bodyOf(
    blob: Pick<PushBlob, 'bytes' | 'file'>,
    start: number,
    end: number,
  ): Buffer | (() => Readable) {
    const count = (stream: Readable): Readable => {
      stream.on('data', (chunk: Buffer) => (this.uploadedBytes += chunk.length));
      return stream;
    };
    if (blob.bytes) {
      const part = blob.bytes.subarray(start, end);
      return () => count(Readable.from([part]));
    }
    if (!blob.file) throw new Error('a blob needs bytes or a file');
    const file = blob.file;
    // Node's 64 KiB reads: 1 MiB ones made the upload the run's peak of memory (each a fresh
    // buffer left for the GC), some 30 MiB above the layer's own.
    return () => count(createReadStream(file, { start, end: end - 1 }));
  }

  /** Puts the manifest under `reference` (a tag or its digest); returns the registry's digest. */
  async putManifest(
    repository: string,
    reference: string,
    mediaType: string,
    bytes: Buffer,
  ): Promise<string | undefined> {
    return this.withRetries(`PUT manifest ${reference}`, async () => {
      const response = await this.request(
        {
          method: 'PUT',
          url: `/v2/${repository}/manifests/${reference}`,
          headers: { 'content-type': mediaType },
          body: bytes,
          repository,
        },
        [200, 201],
      );
      const digest = response.headers['docker-content-digest'];
      return typeof digest === 'string' ? digest : undefined;
    });
  }

  /** The manifest bytes under a tag or digest, with its media type and digest. */
  async getManifest(
    repository: string,
    reference: string,
  ): Promise<{ bytes: Buffer; mediaType: string; digest?: string }> {
    const found = await this.findManifest(repository, reference);
    if (!found) {
      throw new UserError(`Registry ${this.name} has no manifest ${repository}:${reference}.`);
    }
    return found;
  }

  /** Like getManifest, but undefined when the registry has none under `reference` (404). */
  async findManifest(
    repository: string,
    reference: string,
  ): Promise<{ bytes: Buffer; mediaType: string; digest?: string } | undefined> {
    return this.withRetries(`GET manifest ${reference}`, async () => {
      const response = await this.request(
        {
          method: 'GET',
          url: `/v2/${repository}/manifests/${reference}`,
          // The index types too: a tag may name a platforms image's index.
          headers: {
            accept: [
              'application/vnd.oci.image.manifest.v1+json',
              'application/vnd.docker.distribution.manifest.v2+json',
              'application/vnd.oci.image.index.v1+json',
              'application/vnd.docker.distribution.manifest.list.v2+json',
            ].join(', '),
          },
          repository,
        },
        [200, 404],
      );
      if (response.status === 404) return undefined;
      const digest = response.headers['docker-content-digest'];
      return {
        bytes: response.body,
        mediaType: String(response.headers['content-type'] ?? ''),
        digest: typeof digest === 'string' ? digest : undefined,
      };
    });
  }

  /** A small blob's bytes (a signature payload), or undefined when the registry has none (404). */
  async findBlob(repository: string, digest: string): Promise<Buffer | undefined> {
    return this.withRetries(`GET blob ${short(digest)}`, async () => {
      const response = await this.request(
        { method: 'GET', url: `/v2/${repository}/blobs/${digest}`, repository },
        [200, 404],
      );
      return response.status === 404 ? undefined : response.body;
    });
  }

  /** Checks that the registry answers the API at all (and that the credentials work). */
  async ping(repository: string): Promise<void> {
    await this.withRetries('connect', async () => {
      await this.request({ method: 'GET', url: '/v2/', repository }, [200]);
    });
  }
}

function sendBody(request: http.ClientRequest, body: RequestSpec['body']): void {
  if (body === undefined) {
    request.end();
  } else if (Buffer.isBuffer(body)) {
    request.end(body);
  } else {
    const stream = body();
    stream.on('error', (error) => request.destroy(error));
    stream.pipe(request);
  }
}

function short(digest: string): string {
  return digest.slice(0, 19);
}

function registryError(response: Response): string {
  try {
    const json = JSON.parse(response.body.toString()) as {
      errors?: Array<{ code?: string; message?: string }>;
    };
    const first = json.errors?.[0];
    return first ? `: ${first.code ?? ''} ${first.message ?? ''}`.trimEnd() : '';
  } catch {
    return '';
  }
}

function locationOf(response: Response, name: string): string {
  const location = response.headers.location;
  if (typeof location !== 'string' || location === '') {
    throw new UserError(`Registry ${name} started an upload without a Location header.`);
  }
  return location;
}

function withDigest(location: string, digest: string): string {
  return `${location}${location.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`;
}

/** Parses `Bearer realm="...",service="..."` or `Basic realm="..."`. */
export function parseChallenge(header: string): {
  scheme: string;
  params: Record<string, string>;
} {
  const match = /^\s*(\w+)\s*(.*)$/.exec(header);
  if (!match) return { scheme: '', params: {} };
  const params: Record<string, string> = {};
  const pattern = /([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
  for (const part of (match[2] ?? '').matchAll(pattern)) {
    params[(part[1] ?? '').toLowerCase()] = (part[2] ?? part[3] ?? '').replace(/\\(.)/g, '$1');
  }
  return { scheme: (match[1] ?? '').toLowerCase(), params };
}

/** The token spec's GET: service and scope as query parameters, the user's basic credentials. */
function basicTokenRequest(
  realm: URL,
  basic: string,
  service: string | undefined,
  scope: string | undefined,
): { spec: RequestSpec; authorization: string } {
  const url = new URL(realm);
  if (service) url.searchParams.set('service', service);
  if (scope) url.searchParams.set('scope', scope);
  return { spec: { method: 'GET', url: url.toString() }, authorization: basic };
}

/**
 * The OAuth2 form of the token spec, as Docker uses an identity token: a POST of
 * grant_type=refresh_token with the token, service, scope and a client_id.
 */
function refreshTokenRequest(
  realm: URL,
  refreshToken: string,
  service: string | undefined,
  scope: string | undefined,
): { spec: RequestSpec } {
  const form = new URLSearchParams({
    grant_type: 'refresh_token',
    refresh_token: refreshToken,
    client_id: 'arch-core',
  });
  if (service) form.set('service', service);
  if (scope) form.set('scope', scope);
  return {
    spec: {
      method: 'POST',
      url: realm.toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: Buffer.from(form.toString()),
    },
  };
}
