import * as http from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { UserError } from '../../core/src/errors.js';
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
  ) {
    super(`fleet API ${request} answered ${status}${apiMessage ? `: ${apiMessage}` : ''}.`);
  }
}

/** Opens a fresh byte stream to the fleet API server (one per request). */
export type StreamOpener = () => Promise<Duplex>;

export interface FleetClientOptions {
  /** Per-request time limit (default 30 s). */
  requestTimeoutMs?: number;
  /** The API prefix (default /fleet/v1). */
  prefix?: string;
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
  /** How many HTTP requests were made (each on its own stream). */
  requests = 0;

  constructor(
    private readonly open: StreamOpener,
    options: FleetClientOptions = {},
  ) {
    this.timeoutMs = options.requestTimeoutMs ?? 30_000;
    this.prefix = options.prefix ?? '/fleet/v1';
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

  private expect(response: { status: number; json: unknown; request: string }, ok: number[]): void {
    if (ok.includes(response.status)) return;
    const error = (response.json as { error?: { message?: string } } | undefined)?.error;
    throw new FleetApiError(response.status, response.request, error?.message ?? '');
  }

  /** One HTTP request on a fresh stream. */
  async request(
    method: string,
    resource: string,
    query: Record<string, string | undefined>,
    body?: unknown,
  ): Promise<{ status: number; json: unknown; request: string }> {
    const label = `${method} ${resource}`;
    const stream = await this.open();
    this.requests++;
    const answer = await exchange(stream, {
      method,
      path: apiPath(this.prefix, resource, query),
      label,
      payload: body === undefined ? undefined : Buffer.from(JSON.stringify(body)),
      timeoutMs: this.timeoutMs,
    });
    return { ...answer, request: label };
  }
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
          new UserError(
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
      finish(new UserError(`fleet API ${label} failed: ${describeStreamFailure(stream, error)}`)),
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
    response.on('error', (error) => reject(new UserError(`fleet API ${label}: ${error.message}`)));
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
