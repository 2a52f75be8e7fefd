/**
 * A STAND-IN for fleet v1.0.0's HTTP API and its agents — not fleet itself. fleet cannot be
 * installed from this machine's package registries, so the tests talk to this server instead.
 * It was written from ../../../shared/FLEET.md (what a real fleet v1.0.0 cluster was observed to
 * do) and from fleet's documented unit semantics (a unit's hash is the SHA-1 of its options
 * serialized as a unit file; MachineMetadata / Global in [X-Fleet]); no fleet code was used.
 *
 * What it models:
 * - the API v1 under /fleet/v1 (and /v1-alpha): GET /machines, GET /units, GET/PUT/DELETE
 *   /units/NAME, GET /state?unitName=; `alt=json`; 415 for a PUT that is not JSON; 201 / 204 /
 *   409 / 400 / 404 as FLEET.md lists them; empty lists as `{}`; pages with `nextPageToken`;
 *   errors as {"error":{"code","message"}}; 503 "fleet server unable to communicate with etcd"
 *   until `registered()` (e.g. until the etcd unit was started); a PUT with an invalid
 *   desiredState on an existing unit answers 204 and then every call 500s;
 * - one agent per machine that reconciles on a timer (default 5 s, with staggered phases): it
 *   starts a unit (activating/start, then after `startMs` active/running — or failed/failed, or
 *   activating forever, as the machine's behaviour says), stops a destroyed one (its state then
 *   disappears), and replaces in-place content changes;
 * - the destroy/start race: an agent that missed the gap (the unit was destroyed and created again
 *   between two of its reconciles) keeps the old process and reports the old unit for `staleMs`
 *   (FLEET.md: up to ~24 s) before it notices.
 * It listens on a unix socket; tests reach it through a real sshd, by `fleetctl fd-forward` (the
 * stand-in script below on the SSH user's PATH) or by a direct-streamlocal channel.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as http from 'node:http';
import * as path from 'node:path';
import { startSshd, type Sshd, type SshdOptions } from './sshd.js';

export type MachineBehaviour = 'run' | 'fail' | 'hang' | 'silent';

export interface StandinMachine {
  id: string;
  primaryIP: string;
  metadata?: Record<string, string>;
  /** What this machine's systemd does with a unit (default: run it). `silent`: never reports. */
  behaviour?: (unit: { name: string; text: string }) => MachineBehaviour;
}

export interface StandinOptions {
  socketPath: string;
  machines: StandinMachine[];
  /** Agent reconcile interval (fleet: 5 s). */
  reconcileMs?: number;
  /** Time a unit spends activating before it runs (or fails). */
  startMs?: number;
  /** How long an agent that missed a destroy/start gap keeps the old unit (FLEET.md: ~24 s). */
  staleMs?: number;
  /** Items per page of /units, /state and /machines (fleet: 100). */
  pageSize?: number;
  /** false → 503 (fleetd has not registered in etcd). Default: always registered. */
  registered?: () => boolean;
  /** Group owning the socket (mode 0660), as fleet.socket's group `fleet`. */
  socketGid?: number;
}

interface Option {
  section: string;
  name: string;
  value: string;
}

interface RegistryUnit {
  name: string;
  desiredState: string;
  options: Option[];
  hash: string;
  /** Incremented on every create after a destroy (the "gap"). */
  generation: number;
}

interface AgentUnit {
  name: string;
  hash: string;
  generation: number;
  load: string;
  active: string;
  sub: string;
  timer?: NodeJS.Timeout;
  /** When the agent first saw that the registry holds a new generation it missed. */
  staleSince?: number;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  contentType?: string;
  status: number;
  at: number;
}

export interface StandinEvent {
  at: number;
  machine?: string;
  what: string;
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

/** The SHA-1 of the unit serialized as fleet serializes it (sections in first-seen order). */
export function standinUnitHash(options: Option[]): string {
  const order: string[] = [];
  const grouped = new Map<string, string[]>();
  for (const option of options) {
    if (!grouped.has(option.section)) {
      grouped.set(option.section, []);
      order.push(option.section);
    }
    grouped.get(option.section)?.push(`${option.name}=${option.value}\n`);
  }
  const text = order
    .map((section) => `[${section}]\n${(grouped.get(section) ?? []).join('')}`)
    .join('\n');
  return createHash('sha1').update(text).digest('hex');
}

/** A simple unit text → options (for seeding; no continuation lines). */
export function standinOptions(text: string): Option[] {
  const options: Option[] = [];
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) section = header[1] as string;
    else {
      const equals = line.indexOf('=');
      options.push({
        section,
        name: line.slice(0, equals).trim(),
        value: line.slice(equals + 1).trim(),
      });
    }
  }
  return options;
}

function unitText(options: Option[]): string {
  return options.map((option) => `[${option.section}] ${option.name}=${option.value}`).join('\n');
}

const UNIT_TYPES = /\.(service|socket|device|mount|automount|timer|path)$/;
const DESIRED = ['inactive', 'loaded', 'launched'];

function xFleet(options: Option[], name: string): string[] {
  return options
    .filter((option) => option.section === 'X-Fleet' && option.name === name)
    .flatMap((option) =>
      option.value.startsWith('"')
        ? option.value.split(/"\s+"/).map((v) => v.replace(/"/g, ''))
        : [option.value],
    );
}

function isGlobal(options: Option[]): boolean {
  const values = xFleet(options, 'Global');
  return ['true', 'yes', '1', 'on', 't'].includes((values[values.length - 1] ?? '').toLowerCase());
}

function eligible(machine: StandinMachine, options: Option[]): boolean {
  const required = new Map<string, Set<string>>();
  for (const pair of xFleet(options, 'MachineMetadata')) {
    const [key, value, extra] = pair.split('=');
    if (!key || !value || extra !== undefined) continue;
    required.set(key, (required.get(key) ?? new Set()).add(value));
  }
  for (const [key, values] of required) {
    const local = machine.metadata?.[key];
    if (local === undefined || !values.has(local)) return false;
  }
  return true;
}

export async function startFleetStandin(options: StandinOptions): Promise<FleetStandin> {
  const reconcileMs = options.reconcileMs ?? 5000;
  const startMs = options.startMs ?? 1000;
  const staleMs = options.staleMs ?? 24_000;
  const pageSize = options.pageSize ?? 100;
  const registered = options.registered ?? (() => true);
  const registry = new Map<string, RegistryUnit>();
  const generations = new Map<string, number>();
  const agents = new Map<string, Map<string, AgentUnit>>(
    options.machines.map((machine) => [machine.id, new Map()]),
  );
  const requests: RecordedRequest[] = [];
  const events: StandinEvent[] = [];
  let broken = false;
  const event = (what: string, machine?: string): void => {
    events.push({ at: Date.now(), machine, what });
  };

  // ---- agents --------------------------------------------------------------------------------
  const startUnit = (machine: StandinMachine, unit: RegistryUnit): void => {
    const units = agents.get(machine.id) as Map<string, AgentUnit>;
    const old = units.get(unit.name);
    if (old?.timer) clearTimeout(old.timer);
    const behaviour =
      machine.behaviour?.({ name: unit.name, text: unitText(unit.options) }) ?? 'run';
    if (behaviour === 'silent') {
      units.delete(unit.name);
      event(`${unit.name} ${unit.hash.slice(0, 7)}: agent silent`, machine.id);
      return;
    }
    const running: AgentUnit = {
      name: unit.name,
      hash: unit.hash,
      generation: unit.generation,
      load: 'loaded',
      active: 'activating',
      sub: 'start',
    };
    units.set(unit.name, running);
    event(`${unit.name} ${unit.hash.slice(0, 7)}: activating`, machine.id);
    if (behaviour === 'hang') return;
    running.timer = setTimeout(() => {
      running.timer = undefined;
      if (behaviour === 'fail') {
        running.active = 'failed';
        running.sub = 'failed';
      } else {
        running.active = 'active';
        running.sub = 'running';
      }
      event(`${unit.name} ${unit.hash.slice(0, 7)}: ${running.active}/${running.sub}`, machine.id);
    }, startMs);
  };

  const reconcile = (machine: StandinMachine): void => {
    const units = agents.get(machine.id) as Map<string, AgentUnit>;
    const desired = new Map<string, RegistryUnit>();
    for (const unit of registry.values()) {
      if (unit.desiredState !== 'launched') continue;
      const global = isGlobal(unit.options);
      const scheduledHere = global
        ? eligible(machine, unit.options)
        : options.machines.find((candidate) => eligible(candidate, unit.options))?.id ===
          machine.id;
      if (scheduledHere) desired.set(unit.name, unit);
    }
    for (const name of new Set([...units.keys(), ...desired.keys()])) {
      const current = units.get(name);
      const want = desired.get(name);
      if (!want) {
        if (current) {
          if (current.timer) clearTimeout(current.timer);
          units.delete(name);
          event(`${name}: stopped and unloaded`, machine.id);
        }
      } else if (!current) {
        startUnit(machine, want);
      } else if (current.hash !== want.hash) {
        if (current.generation === want.generation) {
          startUnit(machine, want);
        } else {
          // The race: destroyed and created again between two reconciles of this agent.
          if (current.staleSince === undefined) {
            current.staleSince = Date.now();
            event(`${name}: missed the destroy gap, keeps the old unit`, machine.id);
          }
          if (Date.now() - current.staleSince >= staleMs) startUnit(machine, want);
        }
      } else if (current.generation !== want.generation) {
        current.generation = want.generation;
      }
    }
  };

  const timers: NodeJS.Timeout[] = [];
  options.machines.forEach((machine, index) => {
    const phase = Math.round((reconcileMs * index) / Math.max(1, options.machines.length));
    const first = setTimeout(() => {
      reconcile(machine);
      timers.push(setInterval(() => reconcile(machine), reconcileMs));
    }, phase);
    timers.push(first);
  });

  // ---- API -----------------------------------------------------------------------------------
  const send = (response: http.ServerResponse, status: number, body?: unknown): void => {
    if (body === undefined) {
      response.writeHead(status);
      response.end();
      return;
    }
    const text = JSON.stringify(body);
    response.writeHead(status, { 'Content-Type': 'application/json' });
    response.end(text);
  };
  const error = (response: http.ServerResponse, status: number, message: string): void =>
    send(response, status, { error: { code: status, message } });

  const page = <T>(items: T[], token: string | undefined): { items: T[]; next?: string } => {
    const start = token ? Number(Buffer.from(token, 'base64url').toString()) : 0;
    const slice = items.slice(start, start + pageSize);
    const next =
      start + pageSize < items.length
        ? Buffer.from(String(start + pageSize)).toString('base64url')
        : undefined;
    return { items: slice, next };
  };
  const list = (
    key: string,
    items: unknown[],
    token: string | undefined,
  ): Record<string, unknown> => {
    const { items: slice, next } = page(items, token);
    const body: Record<string, unknown> = {};
    if (slice.length > 0) body[key] = slice; // an empty list comes back as {}
    if (next) body.nextPageToken = next;
    return body;
  };
  const unitObject = (unit: RegistryUnit): Record<string, unknown> => ({
    name: unit.name,
    desiredState: unit.desiredState,
    currentState: 'inactive', // meaningless for global units
    options: unit.options,
  });

  const handle = (
    request: http.IncomingMessage,
    body: string,
    response: http.ServerResponse,
  ): number => {
    const url = new URL(request.url ?? '/', 'http://fleet');
    const match = /^\/(?:fleet\/v1|v1-alpha)(\/.*)$/.exec(url.pathname);
    const token = url.searchParams.get('nextPageToken') ?? undefined;
    if (!match) {
      error(response, 404, '');
      return 404;
    }
    if (!registered()) {
      error(response, 503, 'fleet server unable to communicate with etcd');
      return 503;
    }
    if (broken) {
      error(response, 500, '');
      return 500;
    }
    const resource = match[1] as string;
    const method = request.method ?? 'GET';
    if (resource === '/machines') {
      if (method !== 'GET')
        return (error(response, 405, 'only GET supported against this resource'), 405);
      const machines = options.machines.map((machine) => ({
        id: machine.id,
        primaryIP: machine.primaryIP,
        metadata: machine.metadata ?? {},
      }));
      send(response, 200, list('machines', machines, token));
      return 200;
    }
    if (resource === '/state') {
      if (method !== 'GET')
        return (error(response, 405, 'only GET supported against this resource'), 405);
      const unitName = url.searchParams.get('unitName') ?? undefined;
      const machineID = url.searchParams.get('machineID') ?? undefined;
      const states: unknown[] = [];
      for (const machine of options.machines) {
        if (machineID && machine.id !== machineID) continue;
        for (const unit of (agents.get(machine.id) as Map<string, AgentUnit>).values()) {
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
      send(response, 200, list('states', states, token));
      return 200;
    }
    if (resource === '/units') {
      if (method !== 'GET')
        return (error(response, 405, 'only GET supported against this resource'), 405);
      const units = [...registry.values()]
        .sort((a, b) => a.name.localeCompare(b.name))
        .map(unitObject);
      send(response, 200, list('units', units, token));
      return 200;
    }
    const unitMatch = /^\/units\/([^/]+)$/.exec(resource);
    if (!unitMatch) {
      error(response, 404, '');
      return 404;
    }
    const name = decodeURIComponent(unitMatch[1] as string);
    const existing = registry.get(name);
    if (method === 'GET') {
      if (!existing) return (error(response, 404, 'unit does not exist'), 404);
      send(response, 200, unitObject(existing));
      return 200;
    }
    if (method === 'DELETE') {
      if (!existing) return (error(response, 404, 'unit does not exist'), 404);
      registry.delete(name);
      event(`DELETE ${name}`);
      send(response, 204);
      return 204;
    }
    if (method !== 'PUT')
      return (
        error(response, 405, 'only GET, PUT and DELETE supported against this resource'),
        405
      );
    if ((request.headers['content-type'] ?? '').split(';')[0]?.trim() !== 'application/json') {
      error(response, 415, 'expected Content-Type application/json');
      return 415;
    }
    let unit: { name?: unknown; desiredState?: unknown; options?: unknown };
    try {
      unit = JSON.parse(body) as typeof unit;
    } catch (parseError) {
      return (error(response, 400, `unable to decode body: ${(parseError as Error).message}`), 400);
    }
    if (unit.name !== undefined && unit.name !== name) {
      return (
        error(
          response,
          400,
          `name in URL "${name}" differs from unit name in request body "${String(unit.name)}"`,
        ),
        400
      );
    }
    if (!UNIT_TYPES.test(name)) return (error(response, 400, `invalid unit name "${name}"`), 400);
    const given = unit.options;
    if (
      given !== undefined &&
      (!Array.isArray(given) ||
        !given.every(
          (option) =>
            typeof option?.section === 'string' &&
            typeof option?.name === 'string' &&
            typeof option?.value === 'string',
        ))
    ) {
      return (error(response, 400, 'invalid options'), 400);
    }
    const newOptions = (given as Option[] | undefined)?.map(({ section, name: key, value }) => ({
      section,
      name: key,
      value,
    }));
    const desiredState = typeof unit.desiredState === 'string' ? unit.desiredState : undefined;
    if (!existing) {
      if (!newOptions || newOptions.length === 0) {
        return (error(response, 409, 'unit does not exist and options field empty'), 409);
      }
      if (!desiredState || !DESIRED.includes(desiredState)) {
        return (error(response, 400, `invalid desiredState "${String(desiredState)}"`), 400);
      }
      const generation = (generations.get(name) ?? 0) + 1;
      generations.set(name, generation);
      const hash = standinUnitHash(newOptions);
      registry.set(name, { name, desiredState, options: newOptions, hash, generation });
      event(`PUT ${name} ${hash.slice(0, 7)} ${desiredState} (created)`);
      send(response, 201);
      return 201;
    }
    if (newOptions && newOptions.length > 0 && standinUnitHash(newOptions) !== existing.hash) {
      if (desiredState !== undefined && !DESIRED.includes(desiredState)) {
        return (error(response, 400, `invalid desiredState "${desiredState}"`), 400);
      }
      existing.options = newOptions;
      existing.hash = standinUnitHash(newOptions);
      if (desiredState) existing.desiredState = desiredState;
      event(`PUT ${name} ${existing.hash.slice(0, 7)} (replaced)`);
      send(response, 201);
      return 201;
    }
    if (desiredState === undefined) return (error(response, 400, 'desiredState required'), 400);
    if (!DESIRED.includes(desiredState)) {
      // FLEET.md: accepted, and from then on the unit breaks every call.
      broken = true;
      event(`PUT ${name} invalid desiredState ${desiredState}: broken`);
      send(response, 204);
      return 204;
    }
    existing.desiredState = desiredState;
    event(`PUT ${name} ${desiredState} (unchanged options)`);
    send(response, 204);
    return 204;
  };

  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const url = new URL(request.url ?? '/', 'http://fleet');
      let status: number;
      try {
        status = handle(request, Buffer.concat(chunks).toString('utf8'), response);
      } catch (thrown) {
        status = 500;
        error(response, 500, (thrown as Error).message);
      }
      requests.push({
        method: request.method ?? '',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        contentType: request.headers['content-type'],
        status,
        at: Date.now(),
      });
    });
  });
  await fs.rm(options.socketPath, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.socketPath, () => resolve());
  });
  await fs.chmod(options.socketPath, 0o660);
  if (options.socketGid !== undefined) await fs.chown(options.socketPath, 0, options.socketGid);

  return {
    socketPath: options.socketPath,
    requests,
    events,
    unit(name) {
      const unit = registry.get(name);
      return unit && { desiredState: unit.desiredState, options: unit.options, hash: unit.hash };
    },
    agentState(machineId, name) {
      const unit = agents.get(machineId)?.get(name);
      return unit && { hash: unit.hash, active: unit.active, sub: unit.sub };
    },
    seedUnit(name, text) {
      const unitOptions = standinOptions(text);
      const generation = (generations.get(name) ?? 0) + 1;
      generations.set(name, generation);
      const unit = {
        name,
        desiredState: 'launched',
        options: unitOptions,
        hash: standinUnitHash(unitOptions),
        generation,
      };
      registry.set(name, unit);
      for (const machine of options.machines) {
        if (!eligible(machine, unitOptions)) continue;
        const behaviour = machine.behaviour?.({ name, text: unitText(unitOptions) }) ?? 'run';
        if (behaviour === 'silent') continue;
        (agents.get(machine.id) as Map<string, AgentUnit>).set(name, {
          name,
          hash: unit.hash,
          generation,
          load: 'loaded',
          active: behaviour === 'run' ? 'active' : behaviour === 'fail' ? 'failed' : 'activating',
          sub: behaviour === 'run' ? 'running' : behaviour === 'fail' ? 'failed' : 'start',
        });
      }
      return unit.hash;
    },
    async close() {
      for (const timer of timers) clearTimeout(timer);
      for (const units of agents.values())
        for (const unit of units.values()) if (unit.timer) clearTimeout(unit.timer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// ---- the host side: stand-in commands on the SSH user's PATH ----------------------------------

/**
 * `fleetctl` stand-in: only `fleetctl fd-forward SOCKET` (what fleetctl --tunnel runs on the
 * host): copies stdin to the socket and the socket to stdout until either side ends.
 */
export async function writeFleetctlStandin(binDir: string): Promise<void> {
  const script = `#!${process.execPath}
// Stand-in for fleetctl (test suite): only "fleetctl fd-forward SOCKET" is implemented.
const net = require('node:net');
const [command, socketPath] = process.argv.slice(2);
if (command !== 'fd-forward' || !socketPath) {
  process.stderr.write('fleetctl stand-in: only "fd-forward SOCKET" is implemented\\n');
  process.exit(2);
}
const socket = net.connect(socketPath);
socket.on('error', (error) => {
  process.stderr.write('fleetctl fd-forward: ' + error.message + '\\n');
  process.exit(1);
});
process.stdin.pipe(socket);
socket.pipe(process.stdout);
socket.on('end', () => process.stdout.end(() => process.exit(0)));
`;
  await fs.writeFile(path.join(binDir, 'fleetctl'), script, { mode: 0o755 });
}

/**
 * `sudo` and `systemctl` stand-ins that record each call to `log` and keep which units run as
 * files in `stateDir` (start: created, stop: removed). A file `fail-start-UNIT` in stateDir makes
 * that start fail.
 */
export async function writeSystemdStandins(
  binDir: string,
  log: string,
  stateDir: string,
): Promise<void> {
  await fs.writeFile(
    path.join(binDir, 'sudo'),
    `#!/bin/sh\n# Stand-in for sudo (test suite): records the call, runs the command.\necho "sudo $*" >> '${log}'\nexec "$@"\n`,
    { mode: 0o755 },
  );
  await fs.writeFile(
    path.join(binDir, 'systemctl'),
    `#!/bin/sh
# Stand-in for systemctl (test suite): start/stop/is-active on marker files.
echo "systemctl $*" >> '${log}'
case "$1" in
  start)
    if [ -e '${stateDir}'/"fail-start-$2" ]; then
      echo "Job for $2 failed because the control process exited with error code." >&2
      exit 1
    fi
    touch '${stateDir}'/"$2" ;;
  stop) rm -f '${stateDir}'/"$2" ;;
  is-active) [ -e '${stateDir}'/"$2" ] && echo active || { echo inactive; exit 3; } ;;
  *) echo "systemctl stand-in: $1 not implemented" >&2; exit 1 ;;
esac
`,
    { mode: 0o755 },
  );
}

export interface FleetCluster {
  sshd: Sshd;
  standin: FleetStandin;
  /** The fleet socket on the "master". */
  socketPath: string;
  /** The recorded sudo/systemctl calls, one per line. */
  calls(): Promise<string[]>;
  /** Which units the systemctl stand-in considers running. */
  running(unit: string): boolean;
  /** Makes `systemctl start UNIT` fail. */
  failStart(unit: string): Promise<void>;
  /** The action inputs that reach this cluster. */
  inputs(extra?: Record<string, string>): Record<string, string>;
  stop(): Promise<void>;
}

export interface FleetClusterOptions extends Omit<
  StandinOptions,
  'socketPath' | 'socketGid' | 'registered'
> {
  sshd?: SshdOptions;
  /** The API answers 503 unless this unit was started (default arch-core-etcd.service; '' = always). */
  etcdUnit?: string;
}

/** A real sshd + the fleet stand-in behind it + fleetctl/sudo/systemctl stand-ins. */
export async function startFleetCluster(options: FleetClusterOptions): Promise<FleetCluster> {
  const sshd = await startSshd(options.sshd);
  try {
    const runDir = path.join(sshd.dir, 'run');
    await fs.mkdir(runDir, { mode: 0o755 });
    const socketPath = path.join(runDir, 'fleet.sock');
    const stateDir = path.join(sshd.dir, 'systemd');
    await fs.mkdir(stateDir, { mode: 0o755 });
    await fs.chown(stateDir, sshd.uid, sshd.gid);
    const log = path.join(stateDir, 'calls.log');
    await writeFleetctlStandin(sshd.binDir);
    await writeSystemdStandins(sshd.binDir, log, stateDir);
    const etcdUnit = options.etcdUnit ?? 'arch-core-etcd.service';
    const standin = await startFleetStandin({
      ...options,
      socketPath,
      socketGid: sshd.gid,
      registered: etcdUnit ? () => existsSync(path.join(stateDir, etcdUnit)) : undefined,
    });
    return {
      sshd,
      standin,
      socketPath,
      async calls() {
        const text = await fs.readFile(log, 'utf8').catch(() => '');
        return text.split('\n').filter((line) => line !== '');
      },
      running: (unit) => existsSync(path.join(stateDir, unit)),
      async failStart(unit) {
        await fs.writeFile(path.join(stateDir, `fail-start-${unit}`), '');
      },
      inputs(extra = {}) {
        return {
          host: `${sshd.host}:${sshd.port}`,
          'ssh-user': sshd.user,
          'ssh-key': sshd.privateKey,
          'known-hosts': sshd.knownHosts,
          'fleet-endpoint': socketPath,
          ...extra,
        };
      },
      async stop() {
        await standin.close();
        await sshd.stop();
      },
    };
  } catch (error) {
    await sshd.stop();
    throw error;
  }
}
