import { jest } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { cancelWhenLogged, errorLines, runBundle } from '../helpers/bundle.js';
import { startFleetFaultProxy } from '../helpers/fault-proxies.js';
import { startFleetCluster, type FleetCluster } from '../helpers/fleet-standin.js';

// deploy-fleet's deploy lock and deploy record, in a real etcd (v2 API, on loopback, reached
// through the real sshd's port forward as on the master), with the fleet STAND-IN behind the sshd.

jest.setTimeout(120_000);

const image = (tag: string): string => `10.0.0.1:5000/team/hello:${tag}`;
const LOCK = '/v2/keys/arch-core/deploy-fleet/locks/hello.service';
const RECORD = '/v2/keys/arch-core/deploy-fleet/records/hello.service';
const machines = (behaviour?: () => 'hang') =>
  Array.from({ length: 2 }, (_, index) => ({
    id: `k${index + 1}${'0'.repeat(31)}`.slice(0, 32),
    primaryIP: `10.0.0.${index + 31}`,
    behaviour,
  }));
/** A workflow run as the runner describes it. */
const runEnv = (id: string): NodeJS.ProcessEnv => ({
  GITHUB_ACTOR: 'alice',
  GITHUB_REPOSITORY: 'org/app',
  GITHUB_SERVER_URL: 'https://github.example',
  GITHUB_RUN_ID: id,
});
const runUrl = (id: string) => `https://github.example/org/app/actions/runs/${id}`;

let cluster: FleetCluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

async function etcdGet(fleet: FleetCluster, key: string): Promise<{ value?: string } | undefined> {
  const response = await fetch(`${fleet.etcd.url}${key}`);
  if (response.status === 404) return undefined;
  return ((await response.json()) as { node: { value?: string } }).node;
}

test('two deploys race: the second waits for the first, a third with a short timeout fails naming it', async () => {
  // Each machine runs the unit 6 s after the start: the first deploy holds the lock that long,
  // well beyond the third's 2 s even on a loaded machine.
  const fleet = (cluster = await startFleetCluster({
    machines: machines(),
    reconcileMs: 300,
    startMs: 6000,
  }));
  let startOthers: () => void = () => undefined;
  const othersMayStart = new Promise<void>((resolve) => (startOthers = resolve));
  const first = runBundle('deploy-fleet', fleet.inputs({ image: image('1.0') }), runEnv('101'), {
    onOutput: (text) => {
      if (text.includes('deploy lock: /arch-core/deploy-fleet/locks/hello.service taken'))
        startOthers();
    },
  });
  await othersMayStart;
  const [second, third] = await Promise.all([
    runBundle('deploy-fleet', fleet.inputs({ image: image('2.0'), timeout: '60' }), runEnv('102')),
    runBundle('deploy-fleet', fleet.inputs({ image: image('3.0'), timeout: '2' }), runEnv('103')),
  ]);
  const firstResult = await first;
  expect(errorLines(firstResult.log)).toEqual([]);
  expect(firstResult.code).toBe(0);
  // The second waited, naming the first, and deployed after it.
  expect(errorLines(second.log)).toEqual([]);
  expect(second.code).toBe(0);
  expect(second.log).toContain(
    `deploy lock: hello.service is held by alice (org/app), run 101 ${runUrl('101')}`,
  );
  // The third gave up with one line naming the holder and its run; it changed nothing.
  expect(third.code).toBe(1);
  const [line, ...more] = errorLines(third.log);
  expect(more).toEqual([]);
  expect(line).toMatch(/deploy lock: hello\.service is held by alice \(org\/app\), run 10[12] /);
  expect(line).toContain('gave up after waiting');
  expect(line).toContain('force-unlock: true');
  expect(third.log).toContain('update-services left running for the run holding the lock');
  // No interleaving: two PUTs (3.0 never reached fleet); the second read the record the first
  // wrote (below), so it deployed after the first had finished; 2.0 is what fleet holds.
  const puts = fleet.standin.requests.filter((request) => request.method === 'PUT');
  expect(puts).toHaveLength(2);
  const execStart = fleet.standin
    .unit('hello.service')
    ?.options.find((option) => option.name === 'ExecStart');
  expect(execStart?.value).toContain(image('2.0'));
  // The record is the second's; the lock is free; the last one out closed the window.
  const record = JSON.parse((await etcdGet(fleet, RECORD))?.value ?? '{}') as Record<
    string,
    string
  >;
  expect(record).toMatchObject({ unit: 'hello.service', image: image('2.0'), version: '2.0' });
  expect(record.runUrl).toBe(runUrl('102'));
  expect(await etcdGet(fleet, LOCK)).toBeUndefined();
  expect(fleet.running('arch-core-etcd.service')).toBe(false);
  expect(second.summary).toContain('Was running (deploy record)');
  expect(second.summary).toContain(`${image('1.0')} (version 1.0`);
});

test('a stale lock is refused, then removed by force-unlock with a warning naming its holder', async () => {
  const fleet = (cluster = await startFleetCluster({
    machines: machines(),
    reconcileMs: 300,
    startMs: 300,
  }));
  const stale = JSON.stringify({ owner: 'bob (org/app)', run: 'run 77', token: 'gone' });
  const put = await fetch(`${fleet.etcd.url}${LOCK}?prevExist=false`, {
    method: 'PUT',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ value: stale, ttl: '600' }).toString(),
  });
  expect(put.status).toBe(201);
  const refused = await runBundle(
    'deploy-fleet',
    fleet.inputs({ image: image('1.0'), timeout: '2' }),
  );
  expect(refused.code).toBe(1);
  expect(errorLines(refused.log)).toHaveLength(1);
  expect(errorLines(refused.log)[0]).toContain(
    'deploy lock: hello.service is held by bob (org/app), run 77',
  );
  expect(fleet.standin.unit('hello.service')).toBeUndefined();
  expect((await etcdGet(fleet, LOCK))?.value).toBe(stale);

  const forced = await runBundle(
    'deploy-fleet',
    fleet.inputs({ image: image('1.0'), 'force-unlock': 'true' }),
  );
  expect(errorLines(forced.log)).toEqual([]);
  expect(forced.code).toBe(0);
  expect(forced.log).toContain(
    '::warning::force-unlock: removing the deploy lock of hello.service held by bob (org/app), run 77',
  );
  expect(fleet.standin.unit('hello.service')?.desiredState).toBe('launched');
  expect(await etcdGet(fleet, LOCK)).toBeUndefined();
});

test('a deploy cancelled while it holds the lock: the post step releases it', async () => {
  const fleet = (cluster = await startFleetCluster({
    machines: machines(() => 'hang'),
    reconcileMs: 300,
    startMs: 300,
  }));
  const result = await runBundle(
    'deploy-fleet',
    fleet.inputs({ image: image('1.0'), timeout: '90' }),
    runEnv('201'),
    cancelWhenLogged(/\(10\.0\.0\.31\): activating/),
  );
  expect(result.cancelledWith).toBe('SIGINT');
  expect(result.log).not.toContain(
    'deploy lock: /arch-core/deploy-fleet/locks/hello.service released',
  );
  expect(result.post?.code).toBe(0);
  expect(errorLines(result.post?.log ?? '')).toEqual([]);
  expect(result.post?.log).toContain('the deploy lock /arch-core/deploy-fleet/locks/hello.service');
  expect(result.post?.log).toContain(
    'deploy lock: /arch-core/deploy-fleet/locks/hello.service released',
  );
  // Released by the post step well before its 30 s TTL could have expired it.
  expect(await etcdGet(fleet, LOCK)).toBeUndefined();
  expect(fleet.running('arch-core-etcd.service')).toBe(false);
});

test('the record written after a success is shown by a later dry run and the next summary', async () => {
  const fleet = (cluster = await startFleetCluster({
    machines: machines(),
    reconcileMs: 300,
    startMs: 300,
  }));
  const digest = `sha256:${'ab'.repeat(32)}`;
  const deployed = await runBundle(
    'deploy-fleet',
    fleet.inputs({ image: `${image('1.0')}@${digest}` }),
    runEnv('301'),
  );
  expect(errorLines(deployed.log)).toEqual([]);
  expect(deployed.code).toBe(0);
  const output = JSON.parse(deployed.outputs['deploy-record'] ?? '{}') as Record<string, unknown>;
  expect(output).toMatchObject({
    unit: 'hello.service',
    image: `${image('1.0')}@${digest}`,
    digest,
    version: '1.0',
    machines: 2,
    owner: 'alice (org/app)',
    run: 'run 301',
    runUrl: runUrl('301'),
  });
  expect(JSON.parse((await etcdGet(fleet, RECORD))?.value ?? '{}')).toEqual(output);
  expect(deployed.summary).toContain('Was running (deploy record)');
  expect(deployed.summary).toContain('no deploy record');
  expect(deployed.summary).toContain(`Now running (deploy record)`);
  expect(deployed.summary).toContain(`digest ${digest}`);

  // etcd runs all along here (the systemctl stand-in only marks it started), so a dry run reads it.
  const dry = await runBundle(
    'deploy-fleet',
    fleet.inputs({ image: image('2.0'), 'dry-run': 'true', 'update-services': '' }),
  );
  expect(dry.code).toBe(0);
  expect(dry.summary).toContain('Now running (deploy record)');
  expect(dry.summary).toContain(`${image('1.0')}@${digest} (version 1.0, digest ${digest}`);
  expect(dry.summary).toContain(runUrl('301'));
  expect(dry.summary).toContain('<th>Deploy lock</th><td>free</td>');

  const next = await runBundle(
    'deploy-fleet',
    fleet.inputs({ image: image('2.0') }),
    runEnv('302'),
  );
  expect(next.code).toBe(0);
  expect(next.summary).toMatch(/Was running \(deploy record\)[^\n]*version 1\.0[^\n]*runs\/301/);
  expect(next.summary).toMatch(/Now running \(deploy record\)[^\n]*version 2\.0[^\n]*runs\/302/);
});

/** etcd's own counter of v2 store requests of one kind, from its /metrics. */
async function etcdCounter(fleet: FleetCluster, line: string): Promise<number> {
  const text = await (await fetch(`${fleet.etcd.url}/metrics`)).text();
  const found = text.split('\n').find((row) => row.startsWith(line));
  return found ? Number(found.slice(line.length).trim()) : 0;
}
const WATCHES = 'etcd_debugging_store_watch_requests_total';
const GETS = 'etcd_debugging_store_reads_total{action="get"}';

test('a waiter watches the key: it takes the lock as it is released, without polling', async () => {
  const fleet = (cluster = await startFleetCluster({
    machines: machines(),
    reconcileMs: 300,
    startMs: 300,
  }));
  const other = JSON.stringify({ owner: 'bob (org/app)', run: 'run 78', token: 'held' });
  const put = await fetch(`${fleet.etcd.url}${LOCK}?prevExist=false`, {
    method: 'PUT',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ value: other, ttl: '600' }).toString(),
  });
  expect(put.status).toBe(201);
  let waiting: () => void = () => undefined;
  let takenAt = Infinity;
  const isWaiting = new Promise<void>((resolve) => (waiting = resolve));
  const run = runBundle(
    'deploy-fleet',
    fleet.inputs({ image: image('1.0'), timeout: '60' }),
    runEnv('401'),
    {
      onOutput: (text) => {
        if (text.includes('is held by bob (org/app), run 78')) waiting();
        if (text.includes('locks/hello.service taken')) takenAt = Date.now();
      },
    },
  );
  await Promise.race([isWaiting, run]);
  const [watchesBefore, getsBefore] = [
    await etcdCounter(fleet, WATCHES),
    await etcdCounter(fleet, GETS),
  ];
  expect(getsBefore).toBeGreaterThan(0); // the counter is there: the waiter read the key
  // Held 4 s more: a poll every 500 ms would read the key 8 times meanwhile.
  await new Promise((resolve) => setTimeout(resolve, 4000));
  const [watchesHeld, getsHeld] = [
    await etcdCounter(fleet, WATCHES),
    await etcdCounter(fleet, GETS),
  ];
  expect(getsHeld - getsBefore).toBeLessThanOrEqual(1);
  expect(watchesHeld - watchesBefore).toBeLessThanOrEqual(1);
  const releasedAt = Date.now();
  const released = await fetch(`${fleet.etcd.url}${LOCK}?prevValue=${encodeURIComponent(other)}`, {
    method: 'DELETE',
  });
  expect(released.status).toBe(200);
  const result = await run;
  expect(errorLines(result.log)).toEqual([]);
  expect(result.code).toBe(0);
  expect(await etcdCounter(fleet, WATCHES)).toBeGreaterThan(watchesBefore);
  // Taken as it was released (a poll would have waited up to 500 ms); loose for a loaded machine.
  expect(takenAt - releasedAt).toBeLessThan(2000);
  expect(await etcdGet(fleet, LOCK)).toBeUndefined();
});

test('a lock lost while deploying stops the deploy before its next change, with no rollback', async () => {
  const fleet = (cluster = await startFleetCluster({
    machines: machines(),
    reconcileMs: 300,
    startMs: 300,
  }));
  const first = await runBundle(
    'deploy-fleet',
    fleet.inputs({ image: image('1.0') }),
    runEnv('501'),
  );
  expect(first.code).toBe(0);
  // Another run took the lock (this run's lease expired) while this one destroys the old unit:
  // written before fleet sees the DELETE, so before the PUT that follows it.
  const carol = JSON.stringify({ owner: 'carol (org/app)', run: 'run 88', token: 'taken' });
  const proxy = await startFleetFaultProxy({
    socketPath: path.join(path.dirname(fleet.socketPath), 'stealing-fleet.sock'),
    target: fleet.socketPath,
    gid: fleet.sshd.gid,
    onRequest: (request) => {
      if (request.method !== 'DELETE') return;
      execFileSync('curl', [
        '-sf',
        '-X',
        'PUT',
        `${fleet.etcd.url}${LOCK}`,
        '--data-urlencode',
        `value=${carol}`,
        '-d',
        'ttl=600',
      ]);
    },
  });
  try {
    const result = await runBundle(
      'deploy-fleet',
      fleet.inputs({
        image: image('2.0'),
        strategy: 'replace',
        'fleet-endpoint': proxy.socketPath,
      }),
      runEnv('502'),
    );
    expect(result.code).toBe(1);
    expect(result.outputs.result).toBe('unknown');
    const errors = errorLines(result.log);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(
      "deploy lock: /arch-core/deploy-fleet/locks/hello.service is no longer this run's (now held by carol (org/app), run 88, expires in 600 s unless renewed): stopped before PUT /units/hello.service, without a rollback",
    );
    expect(result.log).not.toContain('Roll back');
    // What the run left: the old unit destroyed, the new one never sent; carol's lock untouched.
    const changes = fleet.standin.requests.filter((request) => request.method !== 'GET');
    expect(changes.map((request) => request.method)).toEqual(['PUT', 'DELETE']);
    expect(fleet.standin.unit('hello.service')).toBeUndefined();
    expect((await etcdGet(fleet, LOCK))?.value).toBe(carol);
    expect(result.summary).toMatch(/k1000/);
  } finally {
    await proxy.close();
  }
});
