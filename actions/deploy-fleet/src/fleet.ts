import * as core from '../../core/src/runner.js';
import * as http from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { UserError, messageOf } from '../../core/src/errors.js';
import { withRetries } from '../../core/src/retry.js';
import type { UnitOption } from './unit.js';

/**
 * A client of fleet's HTTP API v1 (its behaviours: docs/dev/fleet-api.md), spoken over a stream
 * the caller opens — an SSH channel to the fleet socket. One stream per request (as fleetctl's
 * tunnel does), HTTP/1.1 with `Connection: close`, `?alt=json` on every request, JSON bodies.
 */
export const DESIRED_STATES = ['inactive', 'loaded', 'launched'] as const;
export type DesiredState = (typeof DESIRED_STATES)[number];

export interface FleetMachine {
  id: string;
  primaryIP: string;
  metadata?: Record<string, string>;
}

export interface FleetUnit {
  name: string;
  desiredState: DesiredState;
  currentState?: string;
  machineID?: string;
  options: UnitOption[];
}

export interface FleetUnitState {
  name: string;
  machineID: string;
  hash: string;
  systemdLoadState: string;
  systemdActiveState: string;
  systemdSubState: string;
}

/** An error answer of the fleet API (`{"error":{"code","message"}}`). */
export class FleetApiError extends UserError {
  override name = 'FleetApiError';
  constructor(
    readonly status: number,
    readonly request: string,
    readonly apiMessage: string,
    /** Appended, e.g. how long the request was retried. */
    note = '',
  ) {
    super(
      `fleet API ${request} answered ${status}${apiMessage ? `: ${apiMessage}` : ''}${note ? ` ${note}` : ''}.`,
    );
  }
}

/** No answer came: the stream broke (a dropped SSH connection, fleetd restarting) or stayed silent. */
export class FleetTransportError extends UserError {
  override name = 'FleetTransportError';
}

/**
 * Opens a fresh byte stream to the fleet API server (one per request); `deadline` bounds any
 * reconnect it needs first.
 */
export type StreamOpener = (deadline?: number) => Promise<Duplex>;

export interface FleetClientOptions {
  /** Per-request time limit (default 30 s; never beyond the deadline, but at least 2 s). */
  requestTimeoutMs?: number;
  /** The API prefix (default /fleet/v1). */
  prefix?: string;
  /**
   * Epoch milliseconds until which a 5xx answer or a broken stream is retried with backoff;
   * without it every request is tried once.
   */
  deadline?: number;
  /**
   * Awaited before every attempt of a change (PUT, DELETE) with its label; what it throws fails
   * the request unsent (the deploy lock's check that it is still this run's).
   */
  beforeChange?: (change: string) => Promise<void>;
}

/** The backoff between attempts: doubling from the first delay up to the cap. */
export const RETRY_FIRST_DELAY_MS = 250;
export const RETRY_MAX_DELAY_MS = 2000;
const MIN_REQUEST_TIMEOUT_MS = 2000;

/**
 * Worth another attempt: a 5xx (fleet's 503 "unable to communicate with etcd" while etcd is
 * away, a 500 while it recovers) or no answer at all. A 4xx is an answer about the request
 * itself and is never retried.
 */
export function isRetryable(error: unknown): boolean {
  return (
    error instanceof FleetTransportError || (error instanceof FleetApiError && error.status >= 500)
  );
}

/** Validates a desiredState before it is sent: fleet accepts a bad one and then breaks the unit. */
export function checkDesiredState(state: string): DesiredState {
  if (!(DESIRED_STATES as readonly string[]).includes(state)) {
    throw new UserError(
      `desiredState "${state}" is not one of ${DESIRED_STATES.join(', ')} (fleet would accept it and then fail on the unit).`,
    );
  }
  return state as DesiredState;
}

/** A unit object as sent in a PUT (the body fleet's units resource decodes). */
export function unitBody(
  name: string,
  desiredState: string,
  options?: UnitOption[],
): Record<string, unknown> {
  const body: Record<string, unknown> = { name, desiredState: checkDesiredState(desiredState) };
  if (options)
    body.options = options.map(({ section, name: key, value }) => ({ section, name: key, value }));
  return body;
}

/** The path of a request: prefix, resource, `alt=json` and any query values. */
export function apiPath(
  prefix: string,
  resource: string,
  query: Record<string, string | undefined> = {},
): string {
  const search = new URLSearchParams({ alt: 'json' });
  for (const [key, value] of Object.entries(query)) if (value !== undefined) search.set(key, value);
  return `${prefix}${resource}?${search.toString()}`;
}

export class FleetClient {
  private readonly timeoutMs: number;
  private readonly prefix: string;
  private readonly deadline?: number;
  /** How many HTTP requests were made (each on its own stream). */
  requests = 0;

  constructor(
    private readonly open: StreamOpener,
    private readonly options: FleetClientOptions = {},
  ) {
    this.timeoutMs = options.requestTimeoutMs ?? 30_000;
    this.prefix = options.prefix ?? '/fleet/v1';
    this.deadline = options.deadline;
  }

  /** The same client, retrying until another deadline (the rollback's budget). */
  until(deadline: number): FleetClient {
    return new FleetClient(this.open, { ...this.options, deadline });
  }

  async machines(): Promise<FleetMachine[]> {
    return this.paged<FleetMachine>('/machines', 'machines', {});
  }

  /** The unit, or undefined when fleet has none of that name (404). */
  async getUnit(name: string): Promise<FleetUnit | undefined> {
    const response = await this.request('GET', `/units/${encodeURIComponent(name)}`, {});
    if (response.status === 404) return undefined;
    this.expect(response, [200]);
    const unit = response.json as FleetUnit;
    unit.options ??= [];
    return unit;
  }

  /** PUT a unit: 201 (created or replaced) or 204 (unchanged / only desiredState). */
  async putUnit(name: string, desiredState: string, options?: UnitOption[]): Promise<201 | 204> {
    const response = await this.request(
      'PUT',
      `/units/${encodeURIComponent(name)}`,
      {},
      unitBody(name, desiredState, options),
    );
    this.expect(response, [201, 204]);
    return response.status as 201 | 204;
  }

  /** DELETE a unit: true when it existed (204), false when fleet had none (404). */
  async deleteUnit(name: string): Promise<boolean> {
    const response = await this.request('DELETE', `/units/${encodeURIComponent(name)}`, {});
    if (response.status === 404) return false;
    this.expect(response, [204]);
    return true;
  }

  /** Every machine's state of the unit (`/state?unitName=`; one entry per machine running it). */
  async unitStates(name: string): Promise<FleetUnitState[]> {
    return this.paged<FleetUnitState>('/state', 'states', { unitName: name });
  }

  private async paged<T>(
    resource: string,
    key: string,
    query: Record<string, string>,
  ): Promise<T[]> {
    const items: T[] = [];
    let token: string | undefined;
    for (let page = 0; page < 1000; page++) {
      const response = await this.request('GET', resource, { ...query, nextPageToken: token });
      this.expect(response, [200]);
      const body = (response.json ?? {}) as Record<string, unknown>;
      // An empty list comes back as {} with the key missing.
      const list = body[key];
      if (list !== undefined && !Array.isArray(list)) {
        throw new UserError(`fleet API GET ${resource}: "${key}" is not a list.`);
      }
      items.push(...((list as T[] | undefined) ?? []));
      token =
        typeof body.nextPageToken === 'string' && body.nextPageToken
          ? body.nextPageToken
          : undefined;
      if (!token) return items;
    }
    throw new UserError(`fleet API GET ${resource}: more than 1000 pages; giving up.`);
  }

  private expect(response: FleetAnswer, ok: number[]): void {
    if (ok.includes(response.status)) return;
    throw this.apiError(response);
  }

  /**
   * One request, retried with backoff until the deadline while it fails in a retryable way
   * (isRetryable). Every request this client makes may be repeated: GETs read; a PUT sets the
   * whole unit (or its desiredState) to a value, so a second one finds it so and answers 204; a
   * DELETE that already happened answers 404, which deleteUnit takes as "gone". So an attempt
   * whose answer was lost leaves the same end state when it is made again.
   */
  async request(
    method: string,
    resource: string,
    query: Record<string, string | undefined>,
    body?: unknown,
  ): Promise<FleetAnswer> {
    const label = `${method} ${resource}`;
    const path = apiPath(this.prefix, resource, query);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const started = Date.now();
    let attempts = 0;
    const answer = await withRetries(
      async () => {
        attempts++;
        if (method !== 'GET') await this.options.beforeChange?.(label);
        // Each attempt on a fresh stream, with what is left of the deadline.
        const stream = await this.open(this.deadline);
        this.requests++;
        const left = this.deadline === undefined ? Infinity : this.deadline - Date.now();
        const timeoutMs = Math.min(this.timeoutMs, Math.max(MIN_REQUEST_TIMEOUT_MS, left));
        const sent = await exchange(stream, { method, path, label, payload, timeoutMs });
        const response = { ...sent, request: label };
        if (response.status >= 500) throw this.apiError(response);
        return response;
      },
      {
        deadline: this.deadline ?? 0,
        firstDelayMs: RETRY_FIRST_DELAY_MS,
        maxDelayMs: RETRY_MAX_DELAY_MS,
        retryable: isRetryable,
        onRetry: (error, retry, delayMs) => {
          const say = retry === 1 ? core.info : core.debug;
          say(
            `${messageOf(error)} Retrying in ${(delayMs / 1000).toFixed(1)} s (until the deadline).`,
          );
        },
        giveUp: (error, made, retryable) =>
          retryable && made > 1 ? retriedError(error, made, Date.now() - started) : error,
      },
    );
    if (attempts > 1) {
      core.info(
        `fleet API ${label} answered ${answer.status} after ${attempts} attempts (${((Date.now() - started) / 1000).toFixed(1)} s).`,
      );
    }
    return answer;
  }

  private apiError(response: FleetAnswer): FleetApiError {
    const error = (response.json as { error?: { message?: string } } | undefined)?.error;
    return new FleetApiError(response.status, response.request, error?.message ?? '');
  }
}

/** The last error of a retried request, saying for how long it was tried. */
function retriedError(error: unknown, attempts: number, elapsedMs: number): unknown {
  const note = `(${attempts} attempts in ${(elapsedMs / 1000).toFixed(1)} s, until the deadline)`;
  if (error instanceof FleetApiError) {
    return new FleetApiError(error.status, error.request, error.apiMessage, note);
  }
  return new FleetTransportError(`${messageOf(error).replace(/\.$/, '')} ${note}.`);
}

/** One request as sent; `label` (`GET /machines`) names it in messages. */
interface HttpExchange {
  method: string;
  path: string;
  label: string;
  payload?: Buffer;
  timeoutMs: number;
}

interface HttpAnswer {
  status: number;
  json: unknown;
}

/** An answer and the request it answers (`PUT /units/x`), for messages. */
type FleetAnswer = HttpAnswer & { request: string };

/** Sends one request over `stream` and reads its answer; the stream is destroyed after. */
function exchange(stream: Duplex, sent: HttpExchange): Promise<HttpAnswer> {
  const { label } = sent;
  return new Promise((resolve, reject) => {
    const socket = asSocket(stream);
    let done = false;
    const finish = (error: Error | undefined, value?: HttpAnswer): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(value as HttpAnswer);
    };
    const timer = setTimeout(
      () =>
        finish(
          new FleetTransportError(
            `fleet API ${label}: no answer within ${Math.round(sent.timeoutMs / 1000)} s.`,
          ),
        ),
      sent.timeoutMs,
    );
    const request = http.request({
      method: sent.method,
      path: sent.path,
      headers: requestHeaders(sent.payload),
      createConnection: () => socket,
    });
    request.on('error', (error) =>
      finish(
        new FleetTransportError(
          `fleet API ${label} failed: ${describeStreamFailure(stream, error)}.`,
        ),
      ),
    );
    request.on('response', (response) => {
      readAnswer(response, label).then(
        (answer) => finish(undefined, answer),
        (error: Error) => finish(error),
      );
    });
    request.end(sent.payload);
  });
}

function requestHeaders(payload: Buffer | undefined): http.OutgoingHttpHeaders {
  const headers: http.OutgoingHttpHeaders = {
    Host: 'fleet',
    Accept: 'application/json',
    Connection: 'close',
  };
  if (payload) {
    headers['Content-Type'] = 'application/json';
    headers['Content-Length'] = payload.length;
  }
  return headers;
}

/** The status and JSON body of an answer; an error answer that is not JSON becomes its message. */
function readAnswer(response: http.IncomingMessage, label: string): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    response.on('data', (chunk: Buffer) => chunks.push(chunk));
    response.on('error', (error) =>
      reject(new FleetTransportError(`fleet API ${label}: ${error.message}.`)),
    );
    response.on('end', () => {
      const status = response.statusCode ?? 0;
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') return resolve({ status, json: undefined });
      try {
        resolve({ status, json: JSON.parse(text) });
      } catch {
        if (status < 300) {
          reject(
            new UserError(`fleet API ${label}: the answer is not JSON: ${text.slice(0, 120)}`),
          );
          return;
        }
        resolve({ status, json: { error: { message: text.trim().slice(0, 200) } } });
      }
    });
  });
}

/** Lets an SSH channel stand in for the socket node's HTTP client expects. */
function asSocket(stream: Duplex): Socket {
  const socket = stream as Duplex & Partial<Socket> & Record<string, unknown>;
  const noop = function (this: unknown) {
    return this;
  };
  for (const method of ['setKeepAlive', 'setNoDelay', 'setTimeout', 'ref', 'unref']) {
    if (typeof socket[method] !== 'function') socket[method] = noop;
  }
  if (typeof socket.destroySoon !== 'function') socket.destroySoon = () => socket.destroy();
  return socket as unknown as Socket;
}

/** For an exec channel (fd-forward), what its stderr said helps more than "socket hang up". */
function describeStreamFailure(stream: Duplex, error: Error): string {
  const notes = (stream as Duplex & { failureNote?: () => string }).failureNote?.();
  return notes ? `${error.message} (${notes})` : error.message;
}
