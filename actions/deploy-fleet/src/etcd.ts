import { UserError, messageOf } from '../../core/src/errors.js';
import type { HostPort } from '../../core/src/host-port.js';
import type { SshConnection } from '../../core/src/ssh-connection.js';

/**
 * A small client of etcd's v2 keys API (docs/dev/deploy-lock.md), reached through a local port
 * that the SSH connection forwards (direct-tcpip) to the master's etcd: the deploy lock and the
 * deploy record live there. Only what they need: read a key, create one that must not exist
 * (with a TTL), refresh a TTL and delete, both compared with the value this run wrote.
 */

/** etcd v2 error codes the callers tell apart. */
export const KEY_NOT_FOUND = 100;
export const COMPARE_FAILED = 101;
export const NODE_EXISTS = 105;
/** A watch's waitIndex is older than the 1000 events etcd keeps. */
export const EVENT_INDEX_CLEARED = 401;

export interface EtcdNode {
  key: string;
  value?: string;
  /** Seconds left before the key expires (keys with a TTL only). */
  ttl?: number;
  expiration?: string;
  modifiedIndex: number;
  createdIndex: number;
}

/** etcd answered with an error (`{"errorCode","message","cause"}`). */
export class EtcdError extends UserError {
  override name = 'EtcdError';
  constructor(
    readonly errorCode: number | undefined,
    request: string,
    status: number,
    apiMessage: string,
  ) {
    super(`etcd ${request} answered ${status}${apiMessage ? `: ${apiMessage}` : ''}.`);
  }
}

/** etcd could not be reached or did not answer (not running yet, or a broken forward). */
export class EtcdUnreachableError extends UserError {
  override name = 'EtcdUnreachableError';
}

/** The request got no answer in the time it was given (for a watch: nothing changed). */
class EtcdTimeoutError extends EtcdUnreachableError {
  override name = 'EtcdTimeoutError';
}

interface EtcdAnswer {
  node?: EtcdNode;
  errorCode?: number;
  message?: string;
  cause?: string;
}

const REQUEST_TIMEOUT_MS = 10_000;

export class EtcdClient {
  constructor(
    /** e.g. http://127.0.0.1:PORT (the local end of the forward). */
    private readonly baseUrl: string,
    /** Where etcd is, for messages: `127.0.0.1:12379 on the master`. */
    readonly where: string,
  ) {}

  /** etcd's index (X-Etcd-Index) as of the last answer: a watch from after it misses nothing. */
  index = 0;

  private async request(
    method: string,
    key: string,
    query: Record<string, string>,
    form?: Record<string, string>,
    timeoutMs = REQUEST_TIMEOUT_MS,
  ): Promise<{ status: number; answer: EtcdAnswer }> {
    const url = `${this.baseUrl}/v2/keys${key}?${new URLSearchParams(query).toString()}`;
    const what = `${method} ${key}`;
    let response: Response;
    let text: string;
    try {
      response = await fetch(url, {
        method,
        headers: form ? { 'content-type': 'application/x-www-form-urlencoded' } : undefined,
        body: form ? new URLSearchParams(form).toString() : undefined,
        signal: AbortSignal.timeout(timeoutMs),
      });
      // Within the time too: a watch answers its headers at once and its body on the change.
      text = await response.text();
    } catch (error) {
      const cause = (error as { cause?: unknown }).cause;
      const Failure =
        (error as Error).name === 'TimeoutError' ? EtcdTimeoutError : EtcdUnreachableError;
      throw new Failure(
        `etcd at ${this.where} did not answer ${what}: ${messageOf(cause ?? error)}`,
      );
    }
    const index = Number(response.headers.get('x-etcd-index'));
    if (Number.isInteger(index) && index > 0) this.index = index;
    let answer: EtcdAnswer;
    try {
      answer = JSON.parse(text) as EtcdAnswer;
    } catch {
      throw new EtcdError(undefined, what, response.status, `not JSON: ${text.slice(0, 200)}`);
    }
    if (answer.errorCode !== undefined || response.status >= 300) {
      const message = [answer.message, answer.cause].filter(Boolean).join(': ');
      throw new EtcdError(answer.errorCode, what, response.status, message);
    }
    return { status: response.status, answer };
  }

  /** The key's node, or undefined when it does not exist (or expired). */
  async get(key: string): Promise<EtcdNode | undefined> {
    try {
      return (await this.request('GET', key, {})).answer.node;
    } catch (error) {
      if (error instanceof EtcdError && error.errorCode === KEY_NOT_FOUND) return undefined;
      throw error;
    }
  }

  /** Creates the key only if it does not exist (prevExist=false); undefined when it exists. */
  async create(key: string, value: string, ttlSeconds: number): Promise<EtcdNode | undefined> {
    try {
      const { answer } = await this.request(
        'PUT',
        key,
        { prevExist: 'false' },
        { value, ttl: String(ttlSeconds) },
      );
      return answer.node;
    } catch (error) {
      if (error instanceof EtcdError && error.errorCode === NODE_EXISTS) return undefined;
      throw error;
    }
  }

  /** Sets the key whatever it holds (no TTL). */
  async set(key: string, value: string): Promise<EtcdNode | undefined> {
    return (await this.request('PUT', key, {}, { value })).answer.node;
  }

  /**
   * Resets the key's TTL if it still holds `value` (refresh=true keeps the value and does not
   * wake watchers); false when it holds something else or is gone.
   */
  async refresh(key: string, value: string, ttlSeconds: number): Promise<boolean> {
    return this.compared(() =>
      this.request(
        'PUT',
        key,
        { prevValue: value, prevExist: 'true' },
        { refresh: 'true', ttl: String(ttlSeconds) },
      ),
    );
  }

  /** Deletes the key if it still holds `value`; false when it holds something else or is gone. */
  async compareAndDelete(key: string, value: string): Promise<boolean> {
    return this.compared(() => this.request('DELETE', key, { prevValue: value }));
  }

  /**
   * Waits until the key changes at an index from `fromIndex` on (created, set, deleted or
   * expired; a refresh does not count), for `timeoutMs` at most: true when it did, false when
   * nothing happened meanwhile.
   */
  async watch(key: string, fromIndex: number, timeoutMs: number): Promise<boolean> {
    const query = { wait: 'true', waitIndex: String(fromIndex) };
    try {
      await this.request('GET', key, query, undefined, Math.max(1, timeoutMs));
      return true;
    } catch (error) {
      if (error instanceof EtcdTimeoutError) return false;
      // Too far behind to say what happened: the caller reads the key again.
      if (error instanceof EtcdError && error.errorCode === EVENT_INDEX_CLEARED) return true;
      throw error;
    }
  }

  private async compared(request: () => Promise<unknown>): Promise<boolean> {
    try {
      await request();
      return true;
    } catch (error) {
      const code = error instanceof EtcdError ? error.errorCode : undefined;
      if (code === COMPARE_FAILED || code === KEY_NOT_FOUND) return false;
      throw error;
    }
  }
}

/** A client of the etcd at `endpoint` as the master sees it, through the SSH connection. */
export async function openEtcd(
  connection: SshConnection,
  endpoint: HostPort,
): Promise<{ etcd: EtcdClient; close(): Promise<void> }> {
  const forward = await connection.forwardLocalPort(endpoint.host, endpoint.port);
  const etcd = new EtcdClient(
    `http://127.0.0.1:${forward.port}`,
    `${endpoint.host}:${endpoint.port} on the master`,
  );
  return { etcd, close: () => forward.close() };
}
