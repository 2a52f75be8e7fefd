import * as core from '@actions/core';
import { UserError, messageOf } from '../../core/src/errors.js';
import { setOutputs, writeSummary } from '../../core/src/outputs.js';
import { keyFingerprint } from '../../core/src/simple-signing.js';
import type { SshConnection } from '../../core/src/ssh-connection.js';
import { eligibleMachines } from './deploy.js';
import { FleetApiError, FleetClient } from './fleet.js';
import type { Inputs, PlannedUnit } from './inputs.js';
import { recordFacts } from './record.js';
import { fleetStreamOpener } from './tunnel.js';
import { imageInUnit, unitHash } from './unit.js';

/** What a dry run learnt from fleet, if its API answered. */
interface ClusterView {
  facts: Array<[string, string]>;
  eligible?: number;
  previousImage?: string;
}

/** Shows the unit and the plan, and what fleet holds if its API answers; changes nothing. */
export async function dryRun(
  inputs: Inputs,
  unit: PlannedUnit,
  connection: SshConnection,
  startedAt: number,
): Promise<void> {
  const { facts, eligible, previousImage } = await core.group(
    'Read the cluster (dry run: nothing is started or changed)',
    () => readCluster(inputs, unit, connection),
  );
  facts.push(...(await recordFacts(connection, inputs, unit.name)));
  const plan = planSteps(inputs, unit);
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

/** The machines and the unit fleet holds now; an API that does not answer is a fact too. */
async function readCluster(
  inputs: Inputs,
  unit: PlannedUnit,
  connection: SshConnection,
): Promise<ClusterView> {
  // Filled as answers come: a later request that fails keeps what the earlier ones told.
  const view: ClusterView = { facts: [] };
  try {
    const { open, mode } = await fleetStreamOpener(
      connection,
      inputs.fleetEndpoint,
      inputs.tunnelMode,
    );
    const fleet = new FleetClient(open, { requestTimeoutMs: 15_000 });
    const machines = await fleet.machines();
    view.eligible = eligibleMachines(machines, unit).length;
    const previous = await fleet.getUnit(unit.name);
    view.previousImage = previous
      ? imageInUnit(previous.options, inputs.image.registry, inputs.image.repository)
      : undefined;
    view.facts.push(['fleet API', `answers via ${mode}`]);
    view.facts.push(['Eligible machines', `${view.eligible} of ${machines.length}`]);
    view.facts.push([
      'Now in fleet',
      previous
        ? `${unit.name} hash ${unitHash(previous.options).slice(0, 7)}${unitHash(previous.options) === unit.hash ? ' (same as the new one)' : ''}, image ${view.previousImage ?? 'not recognised'}`
        : `no ${unit.name}`,
    ]);
  } catch (error) {
    if (!(error instanceof FleetApiError) && !(error instanceof UserError)) throw error;
    const note =
      error instanceof FleetApiError && error.status === 503
        ? 'not answering (503: etcd is stopped between deploys; a dry run does not start it)'
        : messageOf(error);
    view.facts.push(['fleet API', note]);
    core.info(`fleet API: ${note}`);
  }
  return view;
}

/** The steps a real deploy with these inputs would take. */
function planSteps(inputs: Inputs, unit: PlannedUnit): string[] {
  const services = inputs.updateServices;
  return [
    services.length > 0
      ? `start ${services.join(', ')} on the master (sudo systemctl start)`
      : 'start no service',
    ...(inputs.verifyKey
      ? [
          `check the signature of ${unit.image} with verify-key ${keyFingerprint(inputs.verifyKey)} (through the SSH connection; a refusal stops here) and run the unit by the digest it checked`,
        ]
      : []),
    `take the deploy lock of ${unit.name} in etcd (${inputs.forceUnlock ? 'removing a lock another run holds' : 'waiting while another run holds it'})`,
    inputs.strategy === 'replace'
      ? `destroy ${unit.name} if present and wait until it is gone from every machine`
      : `replace the content of ${unit.name} in place`,
    `start ${unit.name} (global, hash ${unit.hash.slice(0, 7)}) and wait until every eligible machine runs it active/running`,
    `time limit ${inputs.timeout} s; on failure ${inputs.rollback ? 'start the previous unit again' : 'leave it (rollback: false)'}`,
    'write the deploy record and release the lock',
    services.length > 0 && !inputs.keepServicesRunning
      ? `stop ${[...services].reverse().join(', ')} (also on failure)`
      : 'leave the services as they are',
  ];
}
