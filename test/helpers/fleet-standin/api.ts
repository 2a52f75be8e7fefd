import * as fs from 'node:fs/promises';
import * as http from 'node:http';
import { seedAgents, startAgents } from './agents.js';
import {
  agentUnits,
  newState,
  nextGeneration,
  recordEvent,
  standinOptions,
  standinUnitHash,
  type Option,
  type RegistryUnit,
  type StandinEvent,
  type StandinMachine,
  type StandinState,
} from './state.js';

/**
 * The HTTP API v1 of the stand-in under /fleet/v1 (and /v1-alpha), on a unix socket: GET
 * /machines, GET /units, GET/PUT/DELETE /units/NAME, GET /state; answers, pages and errors shaped
 * as fleet v1.0.0 shapes them (docs/dev/fleet-api.md).
 */

export interface StandinOptions {
  socketPath: string;
  machines: StandinMachine[];
  /** Agent reconcile interval (fleet: 5 s). */
  reconcileMs?: number;
  /** Time a unit spends activating before it runs (or fails). */
  startMs?: number;
  /** How long an agent that missed a destroy/start gap keeps the old unit (fleet: up to ~24 s). */
  staleMs?: number;
  /** Items per page of /units, /state and /machines (fleet: 100). */
  pageSize?: number;
  /** false → 503 (fleetd has not registered in etcd). Default: always registered. */
  registered?: () => boolean;
  /** Group owning the socket (mode 0660), as fleet.socket's group `fleet`. */
  socketGid?: number;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  contentType?: string;
  status: number;
  at: number;
}

export interface FleetStandin {
  socketPath: string;
  requests: RecordedRequest[];
  events: StandinEvent[];
  /** The registry's unit (options as stored), or undefined. */
  unit(name: string): { desiredState: string; options: Option[]; hash: string } | undefined;
  /** What a machine's agent runs now. */
  agentState(
    machineId: string,
    unit: string,
  ): { hash: string; active: string; sub: string } | undefined;
  /** Puts a unit straight into the cluster and lets every agent run it at once (test set-up). */
  seedUnit(name: string, text: string): string;
  close(): Promise<void>;
}

const UNIT_TYPES = /\.(service|socket|device|mount|automount|timer|path)$/;
const DESIRED = ['inactive', 'loaded', 'launched'];

interface Reply {
  status: number;
  body?: unknown;
}

interface ApiCall {
  state: StandinState;
  method: string;
  url: URL;
  contentType: string | undefined;
  body: string;
  /** The page to list from (nextPageToken). */
  token: string | undefined;
  pageSize: number;
}

const failure = (status: number, message: string): Reply => ({
  status,
  body: { error: { code: status, message } },
});

/** A listing page: an empty list comes back as {}; more pages give a nextPageToken. */
function list(call: ApiCall, key: string, items: unknown[]): Reply {
  const start = call.token ? Number(Buffer.from(call.token, 'base64url').toString()) : 0;
  const slice = items.slice(start, start + call.pageSize);
  const body: Record<string, unknown> = {};
  if (slice.length > 0) body[key] = slice;
  if (start + call.pageSize < items.length) {
    body.nextPageToken = Buffer.from(String(start + call.pageSize)).toString('base64url');
  }
  return { status: 200, body };
}

const unitObject = (unit: RegistryUnit): Record<string, unknown> => ({
  name: unit.name,
  desiredState: unit.desiredState,
  currentState: 'inactive', // meaningless for global units
  options: unit.options,
});

function listMachines(call: ApiCall): Reply {
  const machines = call.state.machines.map((machine) => ({
    id: machine.id,
    primaryIP: machine.primaryIP,
    metadata: machine.metadata ?? {},
  }));
  return list(call, 'machines', machines);
}

function listStates(call: ApiCall): Reply {
  const unitName = call.url.searchParams.get('unitName') ?? undefined;
  const machineID = call.url.searchParams.get('machineID') ?? undefined;
  const states: unknown[] = [];
  for (const machine of call.state.machines) {
    if (machineID && machine.id !== machineID) continue;
    for (const unit of agentUnits(call.state, machine.id).values()) {
      if (unitName && unit.name !== unitName) continue;
      states.push({
        name: unit.name,
        machineID: machine.id,
        hash: unit.hash,
        systemdLoadState: unit.load,
        systemdActiveState: unit.active,
        systemdSubState: unit.sub,
      });
    }
  }
  return list(call, 'states', states);
}

function listUnits(call: ApiCall): Reply {
  const units = [...call.state.registry.values()]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map(unitObject);
  return list(call, 'units', units);
}

function getUnit(call: ApiCall, name: string): Reply {
  const existing = call.state.registry.get(name);
  if (!existing) return failure(404, 'unit does not exist');
  return { status: 200, body: unitObject(existing) };
}

function deleteUnit(call: ApiCall, name: string): Reply {
  if (!call.state.registry.has(name)) return failure(404, 'unit does not exist');
  call.state.registry.delete(name);
  recordEvent(call.state, `DELETE ${name}`);
  return { status: 204 };
}

function isOptionList(given: unknown): given is Option[] {
  return (
    Array.isArray(given) &&
    given.every(
      (option: Partial<Option> | undefined) =>
        typeof option?.section === 'string' &&
        typeof option?.name === 'string' &&
        typeof option?.value === 'string',
    )
  );
}

/** A PUT body checked as fleet checks it: the unit's options and desiredState, or a failure. */
function readPutBody(
  call: ApiCall,
  name: string,
): { options?: Option[]; desiredState?: string } | Reply {
  if ((call.contentType ?? '').split(';')[0]?.trim() !== 'application/json') {
    return failure(415, 'expected Content-Type application/json');
  }
  let unit: { name?: unknown; desiredState?: unknown; options?: unknown };
  try {
    unit = JSON.parse(call.body) as typeof unit;
  } catch (parseError) {
    return failure(400, `unable to decode body: ${(parseError as Error).message}`);
  }
  if (unit.name !== undefined && unit.name !== name) {
    return failure(
      400,
      `name in URL "${name}" differs from unit name in request body "${String(unit.name)}"`,
    );
  }
  if (!UNIT_TYPES.test(name)) return failure(400, `invalid unit name "${name}"`);
  if (unit.options !== undefined && !isOptionList(unit.options)) {
    return failure(400, 'invalid options');
  }
  return {
    options: unit.options?.map(({ section, name: key, value }) => ({ section, name: key, value })),
    desiredState: typeof unit.desiredState === 'string' ? unit.desiredState : undefined,
  };
}

function createUnit(call: ApiCall, name: string, options?: Option[], desiredState?: string): Reply {
  if (!options || options.length === 0) {
    return failure(409, 'unit does not exist and options field empty');
  }
  if (!desiredState || !DESIRED.includes(desiredState)) {
    return failure(400, `invalid desiredState "${String(desiredState)}"`);
  }
  const generation = nextGeneration(call.state, name);
  const hash = standinUnitHash(options);
  call.state.registry.set(name, { name, desiredState, options, hash, generation });
  recordEvent(call.state, `PUT ${name} ${hash.slice(0, 7)} ${desiredState} (created)`);
  return { status: 201 };
}

function updateUnit(
  call: ApiCall,
  existing: RegistryUnit,
  options?: Option[],
  desiredState?: string,
): Reply {
  const { name } = existing;
  if (options && options.length > 0 && standinUnitHash(options) !== existing.hash) {
    if (desiredState !== undefined && !DESIRED.includes(desiredState)) {
      return failure(400, `invalid desiredState "${desiredState}"`);
    }
    existing.options = options;
    existing.hash = standinUnitHash(options);
    if (desiredState) existing.desiredState = desiredState;
    recordEvent(call.state, `PUT ${name} ${existing.hash.slice(0, 7)} (replaced)`);
    return { status: 201 };
  }
  if (desiredState === undefined) return failure(400, 'desiredState required');
  if (!DESIRED.includes(desiredState)) {
    // fleet v1.0.0 accepts it, and from then on every call fails.
    call.state.broken = true;
    recordEvent(call.state, `PUT ${name} invalid desiredState ${desiredState}: broken`);
    return { status: 204 };
  }
  existing.desiredState = desiredState;
  recordEvent(call.state, `PUT ${name} ${desiredState} (unchanged options)`);
  return { status: 204 };
}

function putUnit(call: ApiCall, name: string): Reply {
  const put = readPutBody(call, name);
  if ('status' in put) return put;
  const existing = call.state.registry.get(name);
  return existing
    ? updateUnit(call, existing, put.options, put.desiredState)
    : createUnit(call, name, put.options, put.desiredState);
}

type Route = (call: ApiCall, name: string) => Reply;

/** Resource → method → handler; /units/NAME passes NAME. */
const ROUTES = new Map<string, { methods: Map<string, Route>; notAllowed: string }>([
  ['/machines', { methods: new Map([['GET', listMachines]]), notAllowed: 'only GET' }],
  ['/state', { methods: new Map([['GET', listStates]]), notAllowed: 'only GET' }],
  ['/units', { methods: new Map([['GET', listUnits]]), notAllowed: 'only GET' }],
  [
    '/units/NAME',
    {
      methods: new Map<string, Route>([
        ['GET', getUnit],
        ['DELETE', deleteUnit],
        ['PUT', putUnit],
      ]),
      notAllowed: 'only GET, PUT and DELETE',
    },
  ],
]);

function route(call: ApiCall, registered: () => boolean): Reply {
  const match = /^\/(?:fleet\/v1|v1-alpha)(\/.*)$/.exec(call.url.pathname);
  if (!match) return failure(404, '');
  if (!registered()) return failure(503, 'fleet server unable to communicate with etcd');
  if (call.state.broken) return failure(500, '');
  const resource = match[1] as string;
  const unitMatch = /^\/units\/([^/]+)$/.exec(resource);
  const entry = ROUTES.get(unitMatch ? '/units/NAME' : resource);
  if (!entry) return failure(404, '');
  const handler = entry.methods.get(call.method);
  if (!handler) return failure(405, `${entry.notAllowed} supported against this resource`);
  return handler(call, unitMatch ? decodeURIComponent(unitMatch[1] as string) : '');
}

function send(response: http.ServerResponse, reply: Reply): void {
  if (reply.body === undefined) {
    response.writeHead(reply.status);
    response.end();
    return;
  }
  response.writeHead(reply.status, { 'Content-Type': 'application/json' });
  response.end(JSON.stringify(reply.body));
}

function apiServer(
  state: StandinState,
  options: StandinOptions,
  requests: RecordedRequest[],
): http.Server {
  const registered = options.registered ?? (() => true);
  return http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const url = new URL(request.url ?? '/', 'http://fleet');
      let reply: Reply;
      try {
        reply = route(
          {
            state,
            method: request.method ?? 'GET',
            url,
            contentType: request.headers['content-type'],
            body: Buffer.concat(chunks).toString('utf8'),
            token: url.searchParams.get('nextPageToken') ?? undefined,
            pageSize: options.pageSize ?? 100,
          },
          registered,
        );
      } catch (thrown) {
        reply = failure(500, (thrown as Error).message);
      }
      send(response, reply);
      requests.push({
        method: request.method ?? '',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        contentType: request.headers['content-type'],
        status: reply.status,
        at: Date.now(),
      });
    });
  });
}

async function listen(server: http.Server, options: StandinOptions): Promise<void> {
  await fs.rm(options.socketPath, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.socketPath, () => resolve());
  });
  await fs.chmod(options.socketPath, 0o660);
  if (options.socketGid !== undefined) await fs.chown(options.socketPath, 0, options.socketGid);
}

export async function startFleetStandin(options: StandinOptions): Promise<FleetStandin> {
  const state = newState(options.machines);
  const stopAgents = startAgents(state, {
    reconcileMs: options.reconcileMs ?? 5000,
    startMs: options.startMs ?? 1000,
    staleMs: options.staleMs ?? 24_000,
  });
  const requests: RecordedRequest[] = [];
  const server = apiServer(state, options, requests);
  await listen(server, options);
  return {
    socketPath: options.socketPath,
    requests,
    events: state.events,
    unit(name) {
      const unit = state.registry.get(name);
      return unit && { desiredState: unit.desiredState, options: unit.options, hash: unit.hash };
    },
    agentState(machineId, name) {
      const unit = state.agents.get(machineId)?.get(name);
      return unit && { hash: unit.hash, active: unit.active, sub: unit.sub };
    },
    seedUnit(name, text) {
      const unitOptions = standinOptions(text);
      const unit: RegistryUnit = {
        name,
        desiredState: 'launched',
        options: unitOptions,
        hash: standinUnitHash(unitOptions),
        generation: nextGeneration(state, name),
      };
      state.registry.set(name, unit);
      seedAgents(state, unit);
      return unit.hash;
    },
    async close() {
      stopAgents();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
