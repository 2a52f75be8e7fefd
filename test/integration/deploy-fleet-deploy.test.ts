import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { jest } from '@jest/globals';
import { errorLines, runBundle } from '../helpers/bundle.js';
import {
  startFleetCluster,
  type FleetCluster,
  type FleetClusterOptions,
  type StandinMachine,
} from '../helpers/fleet-standin.js';

// deploy-fleet's bundle, driven as the runner drives it, against a real sshd on loopback and
// the fleet STAND-IN of test/helpers/fleet-standin/ (it behaves as docs/dev/fleet-api.md
// describes fleet, which itself cannot be installed here). Agents reconcile every 300 ms here (5 s in real fleet).

jest.setTimeout(120_000);

const REGISTRY = '10.0.0.1:5000';
const image = (tag: string): string => `${REGISTRY}/team/hello:${tag}`;
const FAST = { reconcileMs: 300, startMs: 300, staleMs: 3000 };

function machines(
  count: number,
  behaviour?: (id: string) => StandinMachine['behaviour'],
): StandinMachine[] {
  return Array.from({ length: count }, (_, index) => ({
    id: `m${index + 1}${'0'.repeat(30)}`.slice(0, 32),
    primaryIP: `10.0.0.${index + 11}`,
    metadata: { role: index === 0 ? 'master' : 'worker', region: 'eu' },
    behaviour: behaviour?.(`m${index + 1}`),
  }));
}

let cluster: FleetCluster | undefined;
async function start(options: Partial<FleetClusterOptions> = {}): Promise<FleetCluster> {
  cluster = await startFleetCluster({ machines: machines(3), ...FAST, ...options });
  return cluster;
}
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

const STARTS = [
  'sudo systemctl start arch-core-etcd.service',
  'systemctl start arch-core-etcd.service',
  'sudo systemctl start arch-core-registry.service',
  'systemctl start arch-core-registry.service',
];
/** Each stop is followed by the check that the unit ended inactive. */
const STOPS = [
  'sudo systemctl stop arch-core-registry.service',
  'systemctl stop arch-core-registry.service',
  'systemctl is-active arch-core-registry.service',
  'sudo systemctl stop arch-core-etcd.service',
  'systemctl stop arch-core-etcd.service',
  'systemctl is-active arch-core-etcd.service',
];

interface MachineState {
  machineID: string;
  address: string;
  activeState: string;
  subState: string;
  hash: string;
  secondsToRunning?: number;
}

test('deploys to 3 machines through fd-forward, waits until all 3 run it, stops the services', async () => {
  const fleet = await start();
  const result = await runBundle(
    'deploy-fleet',
    fleet.inputs({ image: image('1.0'), 'tunnel-mode': 'fd-forward' }),
  );
  expect(errorLines(result.log)).toEqual([]);
  expect(result.code).toBe(0);
  const unit = fleet.standin.unit('hello.service');
  expect(unit?.desiredState).toBe('launched');
  expect(result.outputs['unit-name']).toBe('hello.service');
  expect(result.outputs.machines).toBe('3');
  const states = JSON.parse(result.outputs.states as string) as MachineState[];
  expect(states.map((state) => [state.address, state.activeState, state.subState])).toEqual([
    ['10.0.0.11', 'active', 'running'],
    ['10.0.0.12', 'active', 'running'],
    ['10.0.0.13', 'active', 'running'],
  ]);
  // The hash the action waited for is the one the stand-in computes on its own from the options.
  for (const state of states) {
    expect(state.hash).toBe(unit?.hash);
    expect(fleet.standin.agentState(state.machineID, 'hello.service')).toEqual({
      hash: unit?.hash,
      active: 'active',
      sub: 'running',
    });
    expect(state.secondsToRunning).toBeGreaterThan(0);
  }
  expect(result.outputs['previous-image']).toBe('');
  expect(Number(result.outputs['duration-seconds'])).toBeGreaterThan(0);
  // The unit ran the image: the stand-in holds the rendered template.
  const execStart = unit?.options.find((option) => option.name === 'ExecStart');
  expect(execStart?.value).toBe(`/usr/bin/docker run --rm --name hello.service ${image('1.0')}`);
  expect(unit?.options).toContainEqual({ section: 'X-Fleet', name: 'Global', value: 'true' });
  // Every request carried alt=json; the PUT was JSON; services started, then stopped in reverse.
  expect(fleet.standin.requests.every((request) => request.query.alt === 'json')).toBe(true);
  const puts = fleet.standin.requests.filter((request) => request.method === 'PUT');
  expect(puts.map((request) => [request.contentType, request.status])).toEqual([
    ['application/json', 201],
  ]);
  // The calls are read after the post step too: after a clean run it did nothing.
  expect(await fleet.calls()).toEqual([...STARTS, ...STOPS]);
  expect(fleet.running('arch-core-etcd.service')).toBe(false);
  expect(result.post?.code).toBe(0);
  expect(result.post?.log).toContain('no update window was left open; nothing to clean up');
  // The summary: one row per machine, the image, the unit, the total time.
  for (const state of states) expect(result.summary).toContain(state.machineID);
  expect(result.summary).toContain(image('1.0'));
  expect(result.summary).toContain('Total time');
  expect(result.log).toContain('via fd-forward');
  expect(result.log).not.toContain(fleet.sshd.privateKey.split('\n')[1]?.slice(0, 40) + '\n');
});

test('replaces a running image (streamlocal): old unit gone everywhere before the new one starts', async () => {
  const fleet = await start();
  const oldUnit = (
    await fs.readFile(path.join(process.cwd(), 'workflows-examples/samples/app.service'), 'utf8')
  )
    .replaceAll('{{image}}', image('1.0'))
    .replaceAll('{{version}}', '1.0')
    .replaceAll('{{unit}}', 'hello.service');
  const oldHash = fleet.standin.seedUnit('hello.service', oldUnit);
  const result = await runBundle(
    'deploy-fleet',
    fleet.inputs({ image: image('2.0'), 'tunnel-mode': 'streamlocal' }),
  );
  expect(errorLines(result.log)).toEqual([]);
  expect(result.code).toBe(0);
  expect(result.outputs['previous-image']).toBe(image('1.0'));
  const newHash = fleet.standin.unit('hello.service')?.hash;
  expect(newHash).not.toBe(oldHash);
  const states = JSON.parse(result.outputs.states as string) as MachineState[];
  expect(states.map((state) => state.hash)).toEqual([newHash, newHash, newHash]);
  // Destroy, then every agent stopped the old unit, and only then the PUT.
  const events = fleet.standin.events;
  const put = events.find((event) => event.what.startsWith('PUT hello.service'));
  const deleted = events.find((event) => event.what === 'DELETE hello.service');
  const stopped = events.filter((event) => event.what === 'hello.service: stopped and unloaded');
  expect(deleted && put).toBeTruthy();
  expect(stopped.map((event) => event.machine).sort()).toEqual(
    states.map((state) => state.machineID).sort(),
  );
  for (const event of stopped) {
    expect(event.at).toBeGreaterThanOrEqual(deleted?.at ?? Infinity);
    expect(event.at).toBeLessThanOrEqual(put?.at ?? -Infinity);
  }
  expect(events.some((event) => event.what.includes('missed the destroy gap'))).toBe(false);
  expect(result.log).toContain('via streamlocal');
});

test('strategy restart replaces the content in place; an unchanged deploy changes nothing', async () => {
  const fleet = await start();
  const first = await runBundle('deploy-fleet', fleet.inputs({ image: image('1.0') }));
  expect(first.code).toBe(0);
  const second = await runBundle(
    'deploy-fleet',
    fleet.inputs({ image: image('1.1'), strategy: 'restart' }),
  );
  expect(errorLines(second.log)).toEqual([]);
  expect(second.code).toBe(0);
  expect(second.outputs['previous-image']).toBe(image('1.0'));
  const methods = fleet.standin.requests.filter((request) => request.method !== 'GET');
  expect(methods.map((request) => `${request.method} ${request.status}`)).toEqual([
    'PUT 201',
    'PUT 201',
  ]);
  expect(fleet.standin.events.filter((event) => event.what.includes('(replaced)'))).toHaveLength(1);
  const requestsBefore = fleet.standin.requests.length;
  const third = await runBundle('deploy-fleet', fleet.inputs({ image: image('1.1') }));
  expect(third.code).toBe(0);
  expect(third.log).toContain('already runs on every machine: nothing to change');
  expect(
    fleet.standin.requests.slice(requestsBefore).every((request) => request.method === 'GET'),
  ).toBe(true);
  expect(third.outputs.machines).toBe('3');
});

test('a machine that fails fails the step at once, names it, and the previous unit is rolled back', async () => {
  const fleet = await start({
    machines: machines(3, (id) =>
      id === 'm2' ? (unit) => (unit.text.includes(':2.0') ? 'fail' : 'run') : undefined,
    ),
  });
  const first = await runBundle('deploy-fleet', fleet.inputs({ image: image('1.0') }));
  expect(first.code).toBe(0);
  const oldHash = fleet.standin.unit('hello.service')?.hash;
  const started = Date.now();
  const result = await runBundle(
    'deploy-fleet',
    fleet.inputs({ image: image('2.0'), timeout: '60' }),
  );
  expect(result.code).toBe(1);
  expect(Date.now() - started).toBeLessThan(30_000); // at once, not at the 60 s deadline
  const errors = errorLines(result.log);
  expect(errors.at(-1)).toMatch(
    /^hello\.service failed on m2\S* \(10\.0\.0\.12\): failed\/failed\.$/,
  );
  expect(result.log).toMatch(
    /rolled back: the previous hello\.service \(hash [0-9a-f]{7}\) runs again on all 3 machine/,
  );
  expect(result.summary).toContain('rolled back');
  expect(fleet.standin.unit('hello.service')?.hash).toBe(oldHash);
  for (const state of JSON.parse(first.outputs.states as string) as MachineState[]) {
    expect(fleet.standin.agentState(state.machineID, 'hello.service')).toEqual({
      hash: oldHash,
      active: 'active',
      sub: 'running',
    });
  }
  // Services stopped also on failure.
  expect((await fleet.calls()).slice(-STOPS.length)).toEqual(STOPS);
  expect(result.outputs['previous-image']).toBe(image('1.0'));
});

test('the timeout names the stragglers (one never comes up, one never reports); rollback false leaves it', async () => {
  const fleet = await start({
    machines: machines(4, (id) =>
      id === 'm3' ? () => 'hang' : id === 'm4' ? () => 'silent' : undefined,
    ),
  });
  const result = await runBundle(
    'deploy-fleet',
    fleet.inputs({ image: image('1.0'), timeout: '4', rollback: 'false' }),
  );
  expect(result.code).toBe(1);
  const error = errorLines(result.log).at(-1) ?? '';
  expect(error).toMatch(
    /^Timed out: 2 of 4 machines did not run hello\.service \(hash [0-9a-f]{7}\) active\/running: /,
  );
  expect(error).toMatch(/m3\S* \(10\.0\.0\.13\): activating\/start/);
  expect(error).toMatch(/m4\S* \(10\.0\.0\.14\): no state reported/);
  expect(error).not.toMatch(/m1|m2/);
  expect(result.log).toContain('rollback is false: the new unit was left as it is.');
  expect(fleet.standin.unit('hello.service')).toBeDefined();
  expect(await fleet.calls()).toEqual([...STARTS, ...STOPS]);
  const states = JSON.parse(result.outputs.states as string) as MachineState[];
  expect(states.filter((state) => state.activeState === 'active')).toHaveLength(2);
});

test('update-services: a start that fails fails the step and what was started is stopped again', async () => {
  const fleet = await start();
  await fleet.failStart('arch-core-registry.service');
  const result = await runBundle('deploy-fleet', fleet.inputs({ image: image('1.0') }));
  expect(result.code).toBe(1);
  expect(errorLines(result.log)).toEqual([
    'Could not start arch-core-registry.service on the master (sudo systemctl start exited 1): Job for arch-core-registry.service failed because the control process exited with error code.',
  ]);
  expect(await fleet.calls()).toEqual([...STARTS, ...STOPS]);
  expect(fleet.standin.requests.filter((request) => request.method !== 'GET')).toEqual([]);
});

test('update-services: a custom list, kept running; an empty value starts nothing', async () => {
  const fleet = await start({ etcdUnit: 'my-etcd.service' });
  const kept = await runBundle(
    'deploy-fleet',
    fleet.inputs({
      image: image('1.0'),
      'update-services': 'my-etcd.service\n',
      'keep-services-running': 'true',
    }),
  );
  expect(errorLines(kept.log)).toEqual([]);
  expect(await fleet.calls()).toEqual([
    'sudo systemctl start my-etcd.service',
    'systemctl start my-etcd.service',
  ]);
  expect(fleet.running('my-etcd.service')).toBe(true);
  // etcd still up from the run before: an empty update-services touches no service.
  const none = await runBundle(
    'deploy-fleet',
    fleet.inputs({ image: image('1.1'), 'update-services': '' }),
  );
  expect(errorLines(none.log)).toEqual([]);
  expect(none.code).toBe(0);
  expect(await fleet.calls()).toHaveLength(2);
});

test('dry-run prints the unit and the plan and changes nothing', async () => {
  const fleet = await start({ etcdUnit: '' });
  const oldHash = fleet.standin.seedUnit(
    'hello.service',
    `[Service]\nExecStart=/usr/bin/docker run ${image('0.9')}\n[X-Fleet]\nGlobal=true\n`,
  );
  const result = await runBundle(
    'deploy-fleet',
    fleet.inputs({ image: image('1.0'), 'dry-run': 'true' }),
  );
  expect(errorLines(result.log)).toEqual([]);
  expect(result.code).toBe(0);
  expect(result.log).toContain(
    `ExecStart=/usr/bin/docker run --rm --name hello.service ${image('1.0')}`,
  );
  expect(result.log).toContain('Dry run: the plan (nothing was changed):');
  expect(result.log).toContain('destroy hello.service if present');
  expect(result.outputs['previous-image']).toBe(image('0.9'));
  expect(result.outputs.machines).toBe('3');
  expect(fleet.standin.requests.filter((request) => request.method !== 'GET')).toEqual([]);
  expect(fleet.standin.unit('hello.service')?.hash).toBe(oldHash);
  expect(await fleet.calls()).toEqual([]);
  expect(result.log).not.toContain('loopback registry');
});

test('an image on a loopback registry is a warning: the machines cannot pull it', async () => {
  const fleet = await start();
  for (const registry of ['127.0.0.1:5000', '127.1.2.3:5000', 'localhost:5000', '[::1]:5000']) {
    const result = await runBundle(
      'deploy-fleet',
      fleet.inputs({ image: `${registry}/team/hello:1.0`, 'dry-run': 'true' }),
    );
    expect(result.code).toBe(0);
    const warnings = result.log.split('\n').filter((line) => line.startsWith('::warning'));
    expect(warnings).toEqual([
      expect.stringContaining(`::image names the loopback registry ${registry}: each machine`),
    ]);
  }
});

test('machine-metadata restricts the unit to matching machines; tunnel-mode auto falls back to fd-forward', async () => {
  const fleet = await start({ sshd: { config: ['AllowStreamLocalForwarding no'] } });
  const result = await runBundle(
    'deploy-fleet',
    fleet.inputs({ image: image('1.0'), 'machine-metadata': 'role=worker\nregion=eu' }),
  );
  expect(errorLines(result.log)).toEqual([]);
  expect(result.outputs.machines).toBe('2');
  expect(result.log).toMatch(/tunnel-mode auto: the host refused a streamlocal channel/);
  expect(result.log).toContain('via fd-forward');
  const states = JSON.parse(result.outputs.states as string) as MachineState[];
  expect(states.map((state) => state.address)).toEqual(['10.0.0.12', '10.0.0.13']);
  expect(fleet.standin.agentState(machines(3)[0]?.id as string, 'hello.service')).toBeUndefined();
});

test('dry-run while etcd is stopped: the API answers 503, the plan is still shown, nothing started', async () => {
  const fleet = await start();
  const result = await runBundle(
    'deploy-fleet',
    fleet.inputs({ image: image('1.0'), 'dry-run': 'true' }),
  );
  expect(errorLines(result.log)).toEqual([]);
  expect(result.code).toBe(0);
  expect(result.log).toContain('fleet API: not answering (503: etcd is stopped between deploys');
  expect(result.log).toContain(
    'start arch-core-etcd.service, arch-core-registry.service on the master',
  );
  expect(result.outputs['unit-name']).toBe('hello.service');
  expect(await fleet.calls()).toEqual([]);
  expect(fleet.standin.requests.map((request) => request.status)).toEqual([503]);
});
