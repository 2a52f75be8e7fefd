import * as core from '@actions/core';
import { messageOf } from '../../core/src/errors.js';
import { isLoopbackRegistry } from '../../core/src/image-ref.js';
import { rawInputsFromEnv } from '../../core/src/inputs.js';
import { hold, release } from '../../core/src/post.js';
import { setOutputs, writeSummary } from '../../core/src/outputs.js';
import { connectSsh } from '../../core/src/ssh-connect.js';
import type { SshConnection } from '../../core/src/ssh-connection.js';
import { DeployError, deploy, waitForFleetApi, type DeployResult } from './deploy.js';
import { dryRun } from './dry-run.js';
import { FleetClient } from './fleet.js';
import { parseInputs, planUnit, readTemplate, type Inputs, type PlannedUnit } from './inputs.js';
import { startServices, stopServices } from './services.js';
import { fleetStreamOpener } from './tunnel.js';
import { WINDOW_STATE } from './post.js';

/** deploy-fleet: the image as a global fleet unit on every machine, through SSH to the master. */
export async function run(): Promise<void> {
  const inputs = parseInputs(rawInputsFromEnv());
  const unit = planUnit(inputs.unitTemplate, await readTemplate(inputs.unitTemplate), inputs);
  const startedAt = Date.now();
  warnOfLoopbackRegistry(inputs);
  await showUnit(inputs, unit);
  const connection = await connect(inputs);
  try {
    if (inputs.dryRun) {
      await dryRun(inputs, unit, connection, startedAt);
      return;
    }
    const deadline = startedAt + inputs.timeout * 1000;
    const { result, failure } = await deployWithServices(inputs, unit, connection, deadline);
    await report(inputs, unit, startedAt, result, failure);
    if (failure !== undefined) throw failure;
  } finally {
    await connection.close();
  }
}

/** Each machine pulls the image itself: from its own loopback, a loopback registry has none. */
function warnOfLoopbackRegistry(inputs: Inputs): void {
  const { registry } = inputs.image;
  if (!isLoopbackRegistry(registry)) return;
  core.warning(
    `image names the loopback registry ${registry}: each machine would pull from its own loopback, where no registry runs. Fine for a rehearsal on one machine; for a cluster, name the registry as the machines reach it (e.g. the master's private address).`,
    { title: 'deploy-fleet' },
  );
}

async function showUnit(inputs: Inputs, unit: PlannedUnit): Promise<void> {
  await core.group(`Unit ${unit.name} (hash ${unit.hash.slice(0, 7)})`, async () => {
    core.info(unit.text.trimEnd());
    if (inputs.machineMetadata.length > 0) {
      core.info(
        `+ MachineMetadata: ${inputs.machineMetadata.map(([k, v]) => `${k}=${v}`).join(', ')}`,
      );
    }
  });
}

function connect(inputs: Inputs): Promise<SshConnection> {
  const { ssh } = inputs;
  return core.group(`Connect to ${ssh.user}@${ssh.host}:${ssh.port}`, () =>
    connectSsh({
      ...ssh,
      // A short deploy timeout also shortens each connection attempt.
      readyTimeoutMs: Math.min(20_000, Math.max(5_000, inputs.timeout * 1000)),
    }),
  );
}

/**
 * Starts update-services, deploys, and stops the services again whatever happened. A failure
 * is handed back, not thrown, so that the report still gets written.
 */
async function deployWithServices(
  inputs: Inputs,
  unit: PlannedUnit,
  connection: SshConnection,
  deadline: number,
): Promise<{ result?: DeployResult; failure?: unknown }> {
  const started: string[] = [];
  const { host, port, user } = inputs.ssh;
  const record = (services: readonly string[]) => {
    // keep-services-running leaves the window open on purpose: nothing for the post step.
    if (!inputs.keepServicesRunning) hold(WINDOW_STATE, { host, port, user, services });
  };
  try {
    await core.group('Start update-services on the master', () =>
      startServices(connection, inputs.updateServices, started, record),
    );
    const { open, mode } = await fleetStreamOpener(
      connection,
      inputs.fleetEndpoint,
      inputs.tunnelMode,
    );
    core.info(`fleet API: ${inputs.fleetEndpoint} on ${inputs.ssh.host} via ${mode}.`);
    const fleet = new FleetClient(open);
    const machines = await waitForFleetApi(fleet, deadline);
    const { strategy, rollback, image } = inputs;
    return { result: await deploy({ fleet, unit, strategy, deadline, rollback, image }, machines) };
  } catch (thrown) {
    return { result: thrown instanceof DeployError ? thrown.result : undefined, failure: thrown };
  } finally {
    if (inputs.keepServicesRunning) {
      if (started.length > 0)
        core.info(`keep-services-running: left running: ${started.join(', ')}.`);
    } else {
      const left = await core.group('Stop update-services on the master', () =>
        stopServices(connection, started),
      );
      if (left.length > 0) record(left);
      else release(WINDOW_STATE);
    }
  }
}

async function report(
  inputs: Inputs,
  unit: PlannedUnit,
  startedAt: number,
  result: DeployResult | undefined,
  failure: unknown,
): Promise<void> {
  const seconds = (Date.now() - startedAt) / 1000;
  const machines = result?.machines ?? [];
  setOutputs({
    'unit-name': unit.name,
    machines: machines.length,
    states: JSON.stringify(machines),
    'duration-seconds': seconds.toFixed(1),
    'previous-image': result?.previousImage ?? '',
  });
  const facts: Array<[string, string]> = [
    [
      'Result',
      failure === undefined
        ? result?.changed === false
          ? 'already running, unchanged'
          : 'running on every machine'
        : `FAILED: ${messageOf(failure)}`,
    ],
    ['Image', unit.image],
    ['Unit', `${unit.name} (hash ${unit.hash.slice(0, 7)}, strategy ${inputs.strategy})`],
    ['Previous image', result?.previousImage ?? (result?.previousHash ? 'not recognised' : 'none')],
    ['Machines', String(machines.length)],
    ['Total time', `${seconds.toFixed(1)} s`],
  ];
  if (result?.rollback) facts.push(['Rollback', result.rollback.message]);
  await writeSummary(`deploy-fleet: ${unit.name}`, facts, [
    {
      headers: ['Machine', 'Address', 'State', 'Unit hash', 'Time to running'],
      rows: machines.map((machine) => [
        machine.machineID,
        machine.address,
        machine.activeState ? `${machine.activeState}/${machine.subState}` : 'no state',
        machine.hash ? machine.hash.slice(0, 7) : '-',
        machine.secondsToRunning === undefined ? '-' : `${machine.secondsToRunning.toFixed(1)} s`,
      ]),
    },
  ]);
}
