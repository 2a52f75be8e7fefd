import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { jest } from '@jest/globals';
import { cancelWhenLogged, errorLines, projectRoot, runBundle } from '../helpers/bundle.js';
import { startFleetCluster, type FleetCluster } from '../helpers/fleet-standin.js';

// deploy-fleet's post step: a run cancelled (SIGINT, as the runner cancels) while it holds the
// update window open leaves etcd and the registry running on the "master" (a real sshd with the
// sudo/systemctl stand-ins, the fleet STAND-IN behind it); the post step stops them again.

jest.setTimeout(120_000);

const ETCD = 'arch-core-etcd.service';
const REGISTRY_UNIT = 'arch-core-registry.service';
/** Every machine's systemd leaves the unit activating: the deploy waits, holding the window. */
const HANGING = Array.from({ length: 2 }, (_, index) => ({
  id: `h${index + 1}${'0'.repeat(31)}`.slice(0, 32),
  primaryIP: `10.0.0.${index + 21}`,
  behaviour: () => 'hang' as const,
}));
const WAITING = /\(10\.0\.0\.21\): activating/;

let cluster: FleetCluster | undefined;
beforeEach(async () => {
  cluster = await startFleetCluster({ machines: HANGING, reconcileMs: 300, startMs: 300 });
});
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

function deployInputs(fleet: FleetCluster): Record<string, string> {
  return fleet.inputs({ image: '10.0.0.1:5000/team/hello:1.0', timeout: '90' });
}

test('cancelled while the window is open: the post step stops etcd and the registry', async () => {
  const fleet = cluster as FleetCluster;
  const result = await runBundle(
    'deploy-fleet',
    deployInputs(fleet),
    {},
    cancelWhenLogged(WAITING),
  );
  expect(result.cancelledWith).toBe('SIGINT');
  expect(result.code).toBe(130);
  expect(result.log).toContain('Cancelled (SIGINT)');
  // The main step stopped at once: it did not close the window itself.
  expect(result.log).not.toContain(`stopped ${ETCD}`);
  expect(result.post?.code).toBe(0);
  expect(errorLines(result.post?.log ?? '')).toEqual([]);
  expect(result.post?.log).toContain(
    `the update window on ${fleet.sshd.user}@${fleet.sshd.host}:${fleet.sshd.port} is still open (${ETCD}, ${REGISTRY_UNIT})`,
  );
  expect(result.post?.log).toContain(`stopped ${REGISTRY_UNIT}`);
  expect(result.post?.log).toContain(`stopped ${ETCD}`);
  expect(fleet.running(ETCD)).toBe(false);
  expect(fleet.running(REGISTRY_UNIT)).toBe(false);
  expect((await fleet.calls()).filter((call) => call.startsWith('sudo'))).toEqual([
    `sudo systemctl start ${ETCD}`,
    `sudo systemctl start ${REGISTRY_UNIT}`,
    `sudo systemctl stop ${REGISTRY_UNIT}`,
    `sudo systemctl stop ${ETCD}`,
  ]);
});

test('after a run that closed the window itself, the post step does nothing', async () => {
  const fleet = cluster as FleetCluster;
  const result = await runBundle('deploy-fleet', { ...deployInputs(fleet), timeout: '3' });
  expect(result.code).toBe(1); // the machines never run it: a timeout, the window closed
  expect(result.log).toContain(`stopped ${ETCD}`);
  const calls = await fleet.calls();
  expect(result.post?.code).toBe(0);
  expect(result.post?.log).toContain('no update window was left open; nothing to clean up');
  expect(await fleet.calls()).toEqual(calls);
  expect(calls.filter((call) => call.startsWith('sudo systemctl stop'))).toHaveLength(2);
});

test('the arch-core command on Ctrl-C: the main step stops, the post step runs, exit 130', async () => {
  const fleet = cluster as FleetCluster;
  const args = Object.entries(deployInputs(fleet)).flatMap(([name, value]) => [`--${name}`, value]);
  const cli = spawn(
    process.execPath,
    [path.join(projectRoot, 'dist', 'cli', 'index.js'), 'deploy-fleet', ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  const collect = (chunk: Buffer) => {
    log += chunk.toString();
    if (WAITING.test(log) && !cli.killed) cli.kill('SIGINT');
  };
  cli.stdout.on('data', collect);
  cli.stderr.on('data', collect);
  const code = await new Promise<number | null>((resolve) => cli.on('close', resolve));
  expect(code).toBe(130);
  expect(log).toContain('arch-core: SIGINT: cancelling; the post step runs next.');
  expect(log).toContain('Cancelled (SIGINT)');
  expect(log).toContain('deploy-fleet post: the update window');
  expect(log).toContain('is closed.');
  expect(log).toContain('deploy-fleet was cancelled (SIGINT)');
  expect(fleet.running(ETCD)).toBe(false);
  expect(fleet.running(REGISTRY_UNIT)).toBe(false);
});
