import * as path from 'node:path';
import { jest } from '@jest/globals';
import { errorLines, runBundle } from '../helpers/bundle.js';
import {
  startCuttableTcpProxy,
  startFleetFaultProxy,
  type CuttableTcpProxy,
  type FleetFault,
  type FleetFaultProxy,
  type ProxiedRequest,
} from '../helpers/fault-proxies.js';
import {
  startFleetCluster,
  type FleetCluster,
  type StandinMachine,
} from '../helpers/fleet-standin.js';

// deploy-fleet's bundle against faults: an HTTP proxy in front of the fleet STAND-IN (fleet itself
// cannot be installed here) answers chosen requests 500 or 503, and a TCP proxy in front of the
// real sshd cuts the action's SSH connection mid-deploy. Each run must end in exactly one of
// deployed, rolled-back or unknown, in the `result` output, the log and the summary.

jest.setTimeout(120_000);

const image = (tag: string): string => `10.0.0.1:5000/team/hello:${tag}`;
const ETCD_503 = { status: 503, message: 'fleet server unable to communicate with etcd' };
const BOOM_500 = { status: 500, message: 'internal error' };

function machines(behaviour?: (id: string) => StandinMachine['behaviour']): StandinMachine[] {
  return Array.from({ length: 3 }, (_, index) => ({
    id: `m${index + 1}${'0'.repeat(30)}`.slice(0, 32),
    primaryIP: `10.0.0.${index + 11}`,
    behaviour: behaviour?.(`m${index + 1}`),
  }));
}
const ids = machines().map((machine) => machine.id);

/** The new version (2.0) fails on m2, or hangs there, while 1.0 runs everywhere. */
const on2 = (what: 'fail' | 'hang') =>
  machines((id) =>
    id === 'm2' ? (unit) => (unit.text.includes(':2.0') ? what : 'run') : undefined,
  );

interface Rig {
  cluster: FleetCluster;
  fleet: FleetFaultProxy;
  ssh: CuttableTcpProxy;
  /** Inputs that reach the cluster through both proxies. */
  inputs(extra: Record<string, string>): Record<string, string>;
}

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.fleet.close();
  await rig?.ssh.close();
  await rig?.cluster.stop();
  rig = undefined;
});

async function start(
  fault: (request: ProxiedRequest) => FleetFault | undefined,
  options: { machines?: StandinMachine[]; onRequest?: (request: ProxiedRequest) => void } = {},
): Promise<Rig> {
  const cluster = await startFleetCluster({
    machines: options.machines ?? machines(),
    reconcileMs: 300,
    startMs: 300,
    staleMs: 3000,
  });
  const fleet = await startFleetFaultProxy({
    socketPath: path.join(path.dirname(cluster.socketPath), 'faulty-fleet.sock'),
    target: cluster.socketPath,
    gid: cluster.sshd.gid,
    fault,
    onRequest: options.onRequest,
  });
  const ssh = await startCuttableTcpProxy(cluster.sshd.port);
  // The same host key, pinned for the proxy's port: every (re)connect is verified against it.
  const knownHosts = cluster.sshd.knownHosts.replaceAll(
    `[127.0.0.1]:${cluster.sshd.port}`,
    `[127.0.0.1]:${ssh.port}`,
  );
  rig = {
    cluster,
    fleet,
    ssh,
    inputs: (extra) =>
      cluster.inputs({
        host: `127.0.0.1:${ssh.port}`,
        'known-hosts': knownHosts,
        'fleet-endpoint': fleet.socketPath,
        ...extra,
      }),
  };
  return rig;
}

/** A fault for `ms` from the first request `from` matches (and for every request after it). */
function faultWindow(
  fault: FleetFault,
  ms: number,
  from: (request: ProxiedRequest) => boolean = () => true,
): (request: ProxiedRequest) => FleetFault | undefined {
  let opened: number | undefined;
  return (request) => {
    if (opened === undefined) {
      if (!from(request)) return undefined;
      opened = request.at;
      // The request that opens a window after the PUT is the PUT itself: it passes.
      if (request.method === 'PUT') return undefined;
    }
    return request.at - opened < ms ? fault : undefined;
  };
}

const isPut = (request: ProxiedRequest): boolean => request.method === 'PUT';

/** Every machine runs `hash` active/running, as the stand-in's own agents say. */
function expectEverywhere(cluster: FleetCluster, hash: string | undefined): void {
  expect(hash).toBeDefined();
  for (const id of ids) {
    expect(cluster.standin.agentState(id, 'hello.service')).toEqual({
      hash,
      active: 'active',
      sub: 'running',
    });
  }
}

test('(a) 500 for the first 4 s from the first request, timeout 30: retried, deployed', async () => {
  const { cluster, fleet, inputs } = await start(faultWindow(BOOM_500, 4000));
  const result = await runBundle('deploy-fleet', inputs({ image: image('1.0'), timeout: '30' }));
  expect(errorLines(result.log)).toEqual([]);
  expect(result.code).toBe(0);
  expect(result.outputs.result).toBe('deployed');
  const faulted = fleet.seen.filter((request) => request.status === 500);
  expect(faulted.length).toBeGreaterThan(2);
  const answered = fleet.seen.find((request) => request.status === 200);
  expect((answered?.at ?? 0) - (faulted[0]?.at ?? Infinity)).toBeGreaterThanOrEqual(4000);
  expect(result.log).toMatch(/fleet API GET \/machines answered 500: internal error\. Retrying/);
  expect(result.log).toMatch(/fleet API GET \/machines answered 200 after \d+ attempts/);
  expect(result.log).toContain('Result: deployed: the new unit runs on every machine');
  expect(result.summary).toContain('deployed: the new unit runs on every machine');
  expectEverywhere(cluster, cluster.standin.unit('hello.service')?.hash);
});

test('(b) 503 "unable to communicate with etcd" for 4 s right after the unit PUT: deployed', async () => {
  const { cluster, fleet, inputs } = await start(faultWindow(ETCD_503, 4000, isPut));
  const result = await runBundle('deploy-fleet', inputs({ image: image('1.0'), timeout: '30' }));
  expect(errorLines(result.log)).toEqual([]);
  expect(result.outputs.result).toBe('deployed');
  expect(result.code).toBe(0);
  const put = fleet.seen.findIndex(isPut);
  const after = fleet.seen.slice(put + 1);
  expect(after[0]?.status).toBe(503);
  expect(after.filter((request) => request.status === 503).length).toBeGreaterThan(2);
  expect(result.log).toContain(
    'fleet API GET /state answered 503: fleet server unable to communicate with etcd. Retrying',
  );
  expectEverywhere(cluster, cluster.standin.unit('hello.service')?.hash);
});

test('(c) the SSH connection cut while the unit PUT is under way: reconnected, PUT again, deployed', async () => {
  let armed = true;
  const cut = (request: ProxiedRequest): void => {
    if (armed && isPut(request)) {
      armed = false;
      rig?.ssh.cut();
    }
  };
  const { cluster, ssh, inputs } = await start(() => undefined, { onRequest: cut });
  const result = await runBundle('deploy-fleet', inputs({ image: image('1.0'), timeout: '30' }));
  expect(errorLines(result.log)).toEqual([]);
  expect(result.code).toBe(0);
  expect(result.outputs.result).toBe('deployed');
  expect(armed).toBe(false);
  expect(ssh.accepted).toBe(2);
  expect(result.log).toMatch(
    /The SSH connection to \[127\.0\.0\.1\]:\d+ is (closed|lost[^\n]*)\. Connecting to \S+ again \(host key verified again\)\./,
  );
  // The cut PUT reached fleet (201); its answer was lost; the PUT again found the unit so (204).
  const puts = cluster.standin.requests.filter((request) => request.method === 'PUT');
  expect(puts.map((request) => request.status)).toEqual([201, 204]);
  expectEverywhere(cluster, cluster.standin.unit('hello.service')?.hash);
  // The update-services were stopped over the new connection.
  expect(cluster.running('arch-core-etcd.service')).toBe(false);
  expect(result.post?.log).toContain('no update window was left open');
});

test('(c) the SSH path goes silent while the unit PUT is under way: keepalives tell, reconnected, deployed', async () => {
  let silentSince: number | undefined;
  const silence = (request: ProxiedRequest): void => {
    if (silentSince === undefined && isPut(request)) {
      silentSince = Date.now();
      rig?.ssh.blackHole();
    }
  };
  const { cluster, ssh, inputs } = await start(() => undefined, { onRequest: silence });
  const started = Date.now();
  const result = await runBundle(
    'deploy-fleet',
    inputs({ image: image('1.0'), timeout: '60' }),
    // Keepalives every 500 ms: the path is declared dead 2 s after its last answer.
    { ARCH_CORE_SSH_KEEPALIVE_MS: '500' },
  );
  expect(errorLines(result.log)).toEqual([]);
  expect(result.code).toBe(0);
  expect(result.outputs.result).toBe('deployed');
  expect(silentSince).toBeDefined();
  // Well before fleet's 30 s request timeout would have ended the silent PUT.
  expect(Date.now() - started).toBeLessThan(25_000);
  expect(ssh.accepted).toBe(2);
  const lost =
    /The SSH connection to \[127\.0\.0\.1\]:\d+ is lost: no answer from the host for 2 s \(3 keepalives unanswered\): the network path or the host is gone\./;
  expect(result.log).toMatch(new RegExp(`::warning::${lost.source}`));
  expect(result.log).toMatch(/Connecting to \S+ again \(host key verified again\)\./);
  expectEverywhere(cluster, cluster.standin.unit('hello.service')?.hash);
  expect(cluster.running('arch-core-etcd.service')).toBe(false);
});

test('(c) the deploy fails and the SSH connection is cut during the rollback: reconnected, rolled-back', async () => {
  let puts = 0;
  let armed = true;
  const cut = (request: ProxiedRequest): void => {
    if (isPut(request)) puts++;
    // The DELETE of the rollback, after the PUT of 2.0 (the first deploy makes one PUT).
    if (armed && puts === 2 && request.method === 'DELETE') {
      armed = false;
      rig?.ssh.cut();
    }
  };
  const { cluster, ssh, inputs } = await start(() => undefined, {
    machines: on2('fail'),
    onRequest: cut,
  });
  const first = await runBundle('deploy-fleet', inputs({ image: image('1.0') }));
  expect(first.outputs.result).toBe('deployed');
  const oldHash = cluster.standin.unit('hello.service')?.hash;
  const result = await runBundle('deploy-fleet', inputs({ image: image('2.0'), timeout: '30' }));
  expect(result.code).toBe(1);
  expect(result.outputs.result).toBe('rolled-back');
  expect(armed).toBe(false);
  expect(ssh.accepted).toBe(3);
  expect(result.log).toContain('(host key verified again)');
  expect(result.log).toMatch(
    /rolled back: the previous hello\.service \(hash [0-9a-f]{7}\) runs again on all 3 machine/,
  );
  expect(errorLines(result.log).at(-1)).toMatch(/^hello\.service failed on m2\S* \(10\.0\.0\.12\)/);
  expect(result.summary).toContain('rolled-back: rolled back: the previous hello.service');
  // The DELETE cut under way was made again: fleet answered 204, then 404 (already gone).
  const deletes = cluster.standin.requests.filter((request) => request.method === 'DELETE');
  expect(deletes.slice(-2).map((request) => request.status)).toEqual([204, 404]);
  expect(cluster.standin.unit('hello.service')?.hash).toBe(oldHash);
  expectEverywhere(cluster, oldHash);
});

test('(d) 503 for every change after a failed deploy, beyond the rollback budget: unknown, every machine listed with its hash', async () => {
  let puts = 0;
  const { cluster, inputs } = await start(
    (request) => {
      // The PUTs of 1.0 and 2.0 pass; after them fleet takes no change any more; reads answer.
      if (request.method === 'GET' || (isPut(request) && ++puts <= 2)) return undefined;
      return puts >= 2 ? ETCD_503 : undefined;
    },
    { machines: on2('hang') },
  );
  expect((await runBundle('deploy-fleet', inputs({ image: image('1.0') }))).code).toBe(0);
  const oldHash = cluster.standin.unit('hello.service')?.hash;
  const started = Date.now();
  const result = await runBundle(
    'deploy-fleet',
    inputs({ image: image('2.0'), timeout: '4', 'rollback-timeout': '3', strategy: 'restart' }),
  );
  const seconds = (Date.now() - started) / 1000;
  expect(result.code).toBe(1);
  expect(result.outputs.result).toBe('unknown');
  // Both budgets used, and not much more: 4 s deploy, 3 s rollback, the start and the stops.
  expect(seconds).toBeGreaterThan(7);
  expect(seconds).toBeLessThan(20);
  const newHash = cluster.standin.unit('hello.service')?.hash;
  expect(newHash).not.toBe(oldHash);
  expect(result.log).toMatch(
    /rollback FAILED: fleet API DELETE \/units\/hello\.service answered 503: fleet server unable to communicate with etcd \(\d+ attempts in [\d.]+ s, until the deadline\)\./,
  );
  const short = (newHash ?? '').slice(0, 7);
  const listing = [
    `${ids[0]} (10.0.0.11): hello.service hash ${short} (the new unit), active/running`,
    `${ids[1]} (10.0.0.12): hello.service hash ${short} (the new unit), activating/start`,
    `${ids[2]} (10.0.0.13): hello.service hash ${short} (the new unit), active/running`,
  ];
  const warnings = result.log
    .split('\n')
    .filter((line) => line.startsWith('::warning::m'))
    .map((line) => line.replace('::warning::', ''));
  expect(warnings).toEqual(listing);
  expect(result.log).toContain('Result: unknown: neither the new nor the previous unit');
  for (const id of ids) expect(result.summary).toContain(id);
  expect(result.summary).toContain('What each machine runs now (result unknown)');
  expect(result.summary).toContain(`hello.service hash ${short} (the new unit), activating/start`);
});

test('(d) 500 on every call from the PUT on, beyond both budgets: unknown, each machine as last seen', async () => {
  const { cluster, inputs } = await start(faultWindow(BOOM_500, 600_000, isPut));
  const started = Date.now();
  const result = await runBundle(
    'deploy-fleet',
    inputs({ image: image('1.0'), timeout: '4', 'rollback-timeout': '3' }),
  );
  expect(Date.now() - started).toBeLessThan(25_000);
  expect(result.code).toBe(1);
  expect(result.outputs.result).toBe('unknown');
  expect(errorLines(result.log).at(-1)).toMatch(
    /^fleet API GET \/state answered 500: internal error \(\d+ attempts in [\d.]+ s, until the deadline\)\.$/,
  );
  expect(result.log).toMatch(
    /rollback FAILED: fleet API DELETE \/units\/hello\.service answered 500/,
  );
  const warnings = result.log.split('\n').filter((line) => line.startsWith('::warning::m'));
  expect(warnings).toHaveLength(3);
  for (const [index, id] of ids.entries()) {
    expect(warnings[index]).toContain(
      `${id} (10.0.0.${index + 11}): not readable now (fleet API GET /state answered 500: internal error.)`,
    );
    expect(result.summary).toContain(id);
  }
  expect(result.summary).toContain('What each machine runs now (result unknown)');
  // The new unit is still in fleet: the rollback could not reach it, and the step says so.
  expect(cluster.standin.unit('hello.service')?.desiredState).toBe('launched');
});

test('a 4xx is not retried: the deploy fails at once and says what fleet answered', async () => {
  const { fleet, inputs } = await start((request) =>
    isPut(request) ? { status: 400, message: 'invalid unit' } : undefined,
  );
  const started = Date.now();
  const result = await runBundle('deploy-fleet', inputs({ image: image('1.0'), timeout: '30' }));
  expect(Date.now() - started).toBeLessThan(15_000);
  expect(result.code).toBe(1);
  expect(fleet.seen.filter(isPut)).toHaveLength(1);
  expect(errorLines(result.log).at(-1)).toBe(
    'fleet API PUT /units/hello.service answered 400: invalid unit.',
  );
  // The PUT may have been refused after nothing ran before: the rollback checks it is gone.
  expect(result.outputs.result).toBe('rolled-back');
  expect(result.log).toContain('rolled back: nothing ran hello.service before');
});
