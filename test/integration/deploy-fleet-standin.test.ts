import { jest } from '@jest/globals';
import { connectSsh } from '../../actions/core/src/ssh-connect.js';
import type { SshConnection } from '../../actions/core/src/ssh-connection.js';
import { FleetClient, FleetApiError } from '../../actions/deploy-fleet/src/fleet.js';
import { fleetStreamOpener, type TunnelMode } from '../../actions/deploy-fleet/src/tunnel.js';
import { parseUnitFile, unitHash } from '../../actions/deploy-fleet/src/unit.js';
import { startFleetCluster, type FleetCluster } from '../helpers/fleet-standin.js';

// deploy-fleet's fleet client, through a real sshd both ways (fd-forward via the fleetctl
// stand-in on the SSH user's PATH, and streamlocal), against the fleet STAND-IN of
// test/helpers/fleet-standin/, since fleet itself cannot be installed here. These tests hold
// the stand-in to the facts about fleet's API in docs/dev/fleet-api.md.

jest.setTimeout(60_000);

let cluster: FleetCluster;
let connection: SshConnection;
const machines = Array.from({ length: 5 }, (_, index) => ({
  id: `machine${index + 1}`,
  primaryIP: `10.0.1.${index + 1}`,
  metadata: { index: String(index + 1) },
}));

beforeAll(async () => {
  cluster = await startFleetCluster({
    machines,
    reconcileMs: 250,
    startMs: 200,
    staleMs: 2500,
    pageSize: 2,
  });
  connection = await connectSsh({
    host: cluster.sshd.host,
    port: cluster.sshd.port,
    user: cluster.sshd.user,
    privateKey: cluster.sshd.privateKey,
    knownHosts: cluster.sshd.knownHosts,
  });
});
afterAll(async () => {
  await connection?.close();
  await cluster?.stop();
});

async function client(mode: TunnelMode, endpoint = cluster.socketPath): Promise<FleetClient> {
  const { open } = await fleetStreamOpener(connection, endpoint, mode);
  return new FleetClient(open, { requestTimeoutMs: 10_000 });
}

const UNIT = (image: string): string =>
  `[Service]\nExecStart=/usr/bin/docker run ${image}\n\n[X-Fleet]\nGlobal=true\n`;
const options = (image: string) => parseUnitFile(UNIT(image), 'test unit');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('503 "unable to communicate with etcd" until the etcd unit runs', async () => {
  const fleet = await client('streamlocal');
  await expect(fleet.machines()).rejects.toThrow(
    new FleetApiError(503, 'GET /machines', 'fleet server unable to communicate with etcd'),
  );
  expect(
    (await connection.exec(['sudo', 'systemctl', 'start', 'arch-core-etcd.service'])).code,
  ).toBe(0);
  expect(await fleet.machines()).toHaveLength(5);
});

test.each(['fd-forward', 'streamlocal'] as const)(
  '%s: pages of /machines, {} for empty lists, alt=json',
  async (mode) => {
    const fleet = await client(mode);
    const before = cluster.standin.requests.length;
    const all = await fleet.machines();
    expect(all.map((machine) => machine.id)).toEqual(machines.map((machine) => machine.id));
    expect(all[2]).toEqual({ id: 'machine3', primaryIP: '10.0.1.3', metadata: { index: '3' } });
    const pages = cluster.standin.requests.slice(before);
    expect(pages.map((request) => request.query.nextPageToken !== undefined)).toEqual([
      false,
      true,
      true,
    ]);
    expect(pages.every((request) => request.query.alt === 'json')).toBe(true);
    const empty = await fleet.request('GET', '/state', { unitName: 'none.service' });
    expect(empty).toMatchObject({ status: 200, json: {} });
    expect(await fleet.unitStates('none.service')).toEqual([]);
    expect(await fleet.getUnit('none.service')).toBeUndefined();
  },
);

test('the status codes of fleet v1.0.0', async () => {
  const fleet = await client('fd-forward');
  const put = (name: string, body: unknown) =>
    fleet.request('PUT', `/units/${name}`, {}, body).then((r) => r.status);
  // A unit that is not there.
  const raw = await fleet.request('GET', '/units/a.service', {});
  expect(raw).toEqual({
    status: 404,
    json: { error: { code: 404, message: 'unit does not exist' } },
    request: 'GET /units/a.service',
  });
  expect(await put('a.service', { name: 'a.service', desiredState: 'launched' })).toBe(409);
  expect(
    await put('a.service', {
      name: 'b.service',
      desiredState: 'launched',
      options: options('x:1'),
    }),
  ).toBe(400);
  expect(
    await put('a.service', {
      name: 'a.service',
      desiredState: 'launched',
      options: options('x:1'),
    }),
  ).toBe(201);
  expect(
    await put('a.service', {
      name: 'a.service',
      desiredState: 'launched',
      options: options('x:1'),
    }),
  ).toBe(204);
  expect(await put('a.service', { name: 'a.service', desiredState: 'loaded' })).toBe(204);
  expect(
    await put('a.service', {
      name: 'a.service',
      desiredState: 'launched',
      options: options('x:2'),
    }),
  ).toBe(201);
  expect((await fleet.getUnit('a.service'))?.options).toEqual(options('x:2'));
  expect(await fleet.deleteUnit('a.service')).toBe(true);
  expect(await fleet.deleteUnit('a.service')).toBe(false);
  expect(await fleet.request('POST', '/units/a.service', {}).then((r) => r.status)).toBe(405);
  // The client validates desiredState before sending (fleet would accept it and break).
  await expect(fleet.putUnit('a.service', 'started', options('x:1'))).rejects.toThrow(
    /desiredState "started" is not one of inactive, loaded, launched/,
  );
});

test('the destroy/start race: a machine that missed the gap keeps the old unit for a while', async () => {
  const fleet = await client('streamlocal');
  const oldHash = cluster.standin.seedUnit('race.service', UNIT('app:1'));
  // The stand-in hashes the options on its own; the client's hash of the same unit agrees.
  expect(oldHash).toBe(unitHash(options('app:1')));
  await fleet.deleteUnit('race.service');
  await fleet.putUnit('race.service', 'launched', options('app:2'));
  const newHash = unitHash(options('app:2'));
  expect(cluster.standin.unit('race.service')?.hash).toBe(newHash);
  await sleep(700); // several reconciles, well before staleMs
  const sawGap = new Set(
    cluster.standin.events
      .filter((event) => event.what === 'race.service: stopped and unloaded')
      .map((event) => event.machine),
  );
  const missed = machines.filter((machine) => !sawGap.has(machine.id));
  expect(missed.length).toBeGreaterThan(0);
  const states = new Map(
    (await fleet.unitStates('race.service')).map((state) => [state.machineID, state]),
  );
  for (const machine of missed) expect(states.get(machine.id)?.hash).toBe(oldHash);
  await sleep(2500 + 250 + 200 + 300); // staleMs + a reconcile + startMs + margin
  const later = await fleet.unitStates('race.service');
  expect(
    later.map((state) => [state.hash, state.systemdActiveState, state.systemdSubState]),
  ).toEqual(machines.map(() => [newHash, 'active', 'running']));
});

test('a PUT that is not JSON is 415; an invalid desiredState on an existing unit breaks every later call', async () => {
  const { open } = await fleetStreamOpener(connection, cluster.socketPath, 'streamlocal');
  const http = await import('node:http');
  const rawPut = async (body: string, type: string): Promise<number> => {
    const stream = await open();
    return new Promise((resolve, reject) => {
      const request = http.request({
        method: 'PUT',
        path: '/fleet/v1/units/z.service?alt=json',
        headers: { 'Content-Type': type, Connection: 'close' },
        createConnection: () => stream as never,
      });
      request.on('response', (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      });
      request.on('error', reject);
      request.end(body);
    });
  };
  const body = JSON.stringify({
    name: 'z.service',
    desiredState: 'launched',
    options: options('z:1'),
  });
  expect(await rawPut(body, 'text/plain')).toBe(415);
  expect(await rawPut(body, 'application/json')).toBe(201);
  expect(
    await rawPut(JSON.stringify({ name: 'z.service', desiredState: 'bogus' }), 'application/json'),
  ).toBe(204);
  const fleet = new FleetClient(open);
  await expect(fleet.machines()).rejects.toThrow(/answered 500/);
});

test('fd-forward to a socket that is not there says what fleetctl said', async () => {
  const fleet = await client('fd-forward', '/nonexistent/fleet.sock');
  await expect(fleet.machines()).rejects.toThrow(
    /fleetctl fd-forward on the host said: fleetctl fd-forward: connect ENOENT/,
  );
});
