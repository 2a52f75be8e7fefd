import * as core from '@actions/core';
import { UserError, messageOf } from '../../core/src/errors.js';
import { setOutputs, writeSummary } from '../../core/src/outputs.js';
import { connectSsh } from '../../core/src/ssh-connect.js';
import type { SshConnection } from '../../core/src/ssh-connection.js';
import {
  DeployError,
  deploy,
  eligibleMachines,
  waitForFleetApi,
  type DeployResult,
} from './deploy.js';
import { FleetApiError, FleetClient } from './fleet.js';
import { getInputs, planUnit, readTemplate, type Inputs, type PlannedUnit } from './inputs.js';
import { startServices, stopServices } from './services.js';
import { fleetStreamOpener } from './tunnel.js';
import { imageInUnit, unitHash } from './unit.js';

/** deploy-fleet: the image as a global fleet unit on every machine, through SSH to the master. */
export async function run(): Promise<void> {
  const inputs = getInputs();
  const unit = planUnit(
    inputs['unit-template'],
    await readTemplate(inputs['unit-template']),
    inputs,
  );
  const startedAt = Date.now();
  const deadline = startedAt + inputs.timeout * 1000;

  await core.group(`Unit ${unit.name} (hash ${unit.hash.slice(0, 7)})`, async () => {
    core.info(unit.text.trimEnd());
    if (inputs['machine-metadata'].length > 0) {
      core.info(
        `+ MachineMetadata: ${inputs['machine-metadata'].map(([k, v]) => `${k}=${v}`).join(', ')}`,
      );
    }
  });

  const target = `${inputs['ssh-user']}@${inputs.host.host}:${inputs.host.port}`;
  const connection = await core.group(`Connect to ${target}`, () =>
    connectSsh({
      host: inputs.host.host,
      port: inputs.host.port,
      user: inputs['ssh-user'],
      privateKey: inputs['ssh-key'],
      knownHosts: inputs['known-hosts'],
      strictHostKeyChecking: inputs['strict-host-key-checking'],
      // A short deploy timeout also shortens each connection attempt.
      readyTimeoutMs: Math.min(20_000, Math.max(5_000, inputs.timeout * 1000)),
    }),
  );
  try {
    if (inputs['dry-run']) {
      await dryRun(inputs, unit, connection, startedAt);
      return;
    }
    let result: DeployResult | undefined;
    let failure: unknown;
    const started: string[] = [];
    try {
      await core.group('Start update-services on the master', () =>
        startServices(connection, inputs['update-services'], started),
      );
      const { open, mode } = await fleetStreamOpener(
        connection,
        inputs['fleet-endpoint'],
        inputs['tunnel-mode'],
      );
      core.info(`fleet API: ${inputs['fleet-endpoint']} on ${inputs.host.host} via ${mode}.`);
      const fleet = new FleetClient(open);
      const machines = await waitForFleetApi(fleet, deadline);
      result = await deploy(
        {
          fleet,
          unit,
          strategy: inputs.strategy,
          deadline,
          rollback: inputs.rollback,
          image: inputs.image,
        },
        machines,
      );
    } catch (thrown) {
      failure = thrown;
      if (thrown instanceof DeployError) result = thrown.result;
    } finally {
      if (inputs['keep-services-running']) {
        if (started.length > 0)
          core.info(`keep-services-running: left running: ${started.join(', ')}.`);
      } else {
        await core.group('Stop update-services on the master', () =>
          stopServices(connection, started),
        );
      }
    }
    await report(inputs, unit, startedAt, result, failure);
    if (failure !== undefined) throw failure;
  } finally {
    await connection.close();
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

/** Shows the unit and the plan, and what fleet holds if its API answers; changes nothing. */
async function dryRun(
  inputs: Inputs,
  unit: PlannedUnit,
  connection: SshConnection,
  startedAt: number,
): Promise<void> {
  const facts: Array<[string, string]> = [];
  let eligible: number | undefined;
  let previousImage: string | undefined;
  await core.group('Read the cluster (dry run: nothing is started or changed)', async () => {
    try {
      const { open, mode } = await fleetStreamOpener(
        connection,
        inputs['fleet-endpoint'],
        inputs['tunnel-mode'],
      );
      const fleet = new FleetClient(open, { requestTimeoutMs: 15_000 });
      const machines = await fleet.machines();
      eligible = eligibleMachines(machines, unit).length;
      const previous = await fleet.getUnit(unit.name);
      previousImage = previous
        ? imageInUnit(previous.options, inputs.image.registry, inputs.image.repository)
        : undefined;
      facts.push(['fleet API', `answers via ${mode}`]);
      facts.push(['Eligible machines', `${eligible} of ${machines.length}`]);
      facts.push([
        'Now in fleet',
        previous
          ? `${unit.name} hash ${unitHash(previous.options).slice(0, 7)}${unitHash(previous.options) === unit.hash ? ' (same as the new one)' : ''}, image ${previousImage ?? 'not recognised'}`
          : `no ${unit.name}`,
      ]);
    } catch (error) {
      if (!(error instanceof FleetApiError) && !(error instanceof UserError)) throw error;
      const note =
        error instanceof FleetApiError && error.status === 503
          ? 'not answering (503: etcd is stopped between deploys; a dry run does not start it)'
          : messageOf(error);
      facts.push(['fleet API', note]);
      core.info(`fleet API: ${note}`);
    }
  });
  const services = inputs['update-services'];
  const plan = [
    services.length > 0
      ? `start ${services.join(', ')} on the master (sudo systemctl start)`
      : 'start no service',
    inputs.strategy === 'replace'
      ? `destroy ${unit.name} if present and wait until it is gone from every machine`
      : `replace the content of ${unit.name} in place`,
    `start ${unit.name} (global, hash ${unit.hash.slice(0, 7)}) and wait until every eligible machine runs it active/running`,
    `time limit ${inputs.timeout} s; on failure ${inputs.rollback ? 'start the previous unit again' : 'leave it (rollback: false)'}`,
    services.length > 0 && !inputs['keep-services-running']
      ? `stop ${[...services].reverse().join(', ')} (also on failure)`
      : 'leave the services as they are',
  ];
  core.info('Dry run: the plan (nothing was changed):');
  plan.forEach((step, index) => core.info(`  ${index + 1}. ${step}`));
  setOutputs({
    'unit-name': unit.name,
    machines: eligible ?? '',
    states: '[]',
    'duration-seconds': ((Date.now() - startedAt) / 1000).toFixed(1),
    'previous-image': previousImage ?? '',
  });
  await writeSummary(`deploy-fleet (dry run): ${unit.name}`, [
    ['Image', unit.image],
    ['Unit', `${unit.name} (hash ${unit.hash.slice(0, 7)})`],
    ...facts,
    ['Plan', plan.join('; ')],
  ]);
}
