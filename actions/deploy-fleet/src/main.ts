import * as core from '@actions/core';
import type { KeyObject } from 'node:crypto';
import { messageOf } from '../../core/src/errors.js';
import { isLoopbackRegistry } from '../../core/src/image-ref.js';
import { rawInputsFromEnv } from '../../core/src/inputs.js';
import { hold, release } from '../../core/src/post.js';
import { setOutputs, writeSummary } from '../../core/src/outputs.js';
import { keyFingerprint } from '../../core/src/simple-signing.js';
import { connectSsh } from '../../core/src/ssh-connect.js';
import { DeployError, deploy, waitForFleetApi, type DeployResult } from './deploy.js';
import { dryRun } from './dry-run.js';
import { FleetClient } from './fleet.js';
import { parseInputs, planUnit, readTemplate, type Inputs, type PlannedUnit } from './inputs.js';
import { MasterLink } from './link.js';
import type { Outcome } from './outcome.js';
import { SignatureRefusedError, checkSignature, type VerifiedDigest } from './signature.js';
import { startServices, stopServices } from './services.js';
import { fleetStreamOpener } from './tunnel.js';
import { WINDOW_STATE } from './post.js';
import { openEtcd } from './etcd.js';
import { LockHeldError, acquireLock, nextHolder } from './lock.js';
import { newRecord, readRecord, recordText, writeRecord, type DeployRecord } from './record.js';

/** The deploy record before this deploy (once read), and the one it wrote (after a success). */
interface Records {
  before?: DeployRecord | undefined;
  after?: DeployRecord;
  /** Another run that holds the deploy lock now and needs the update window open. */
  windowNeededBy?: string;
}

/** With verify-key: the digest the signature check admitted, and the unit that pins it. */
interface Pinned {
  verified: VerifiedDigest;
  unit: PlannedUnit;
}

/** The unit for a digest the signature check admitted (the template is already known good). */
type PinUnit = (digest: string) => PlannedUnit;

/** deploy-fleet: the image as a global fleet unit on every machine, through SSH to the master. */
export async function run(): Promise<void> {
  const inputs = parseInputs(rawInputsFromEnv());
  const templateText = await readTemplate(inputs.unitTemplate);
  const unit = planUnit(inputs.unitTemplate, templateText, inputs);
  const pinUnit: PinUnit = (digest) => planUnit(inputs.unitTemplate, templateText, inputs, digest);
  const startedAt = Date.now();
  warnOfLoopbackRegistry(inputs);
  // With verify-key the unit shown is the one that pins the checked digest, once it is known.
  if (!inputs.verifyKey || inputs.dryRun) await showUnit(inputs, unit);
  let connection: MasterLink;
  try {
    connection = await connect(inputs);
  } catch (error) {
    if (!inputs.dryRun) await report(inputs, unit, startedAt, undefined, error, {});
    throw error;
  }
  try {
    if (inputs.dryRun) {
      await dryRun(inputs, unit, connection, startedAt);
      return;
    }
    const deadline = startedAt + inputs.timeout * 1000;
    const records: Records = {};
    const { result, failure, pinned } = await deployWithServices(
      inputs,
      { unit, pinUnit },
      connection,
      deadline,
      records,
    );
    await report(inputs, pinned?.unit ?? unit, startedAt, result, failure, records, pinned);
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

function connect(inputs: Inputs): Promise<MasterLink> {
  const { ssh } = inputs;
  return core.group(`Connect to ${ssh.user}@${ssh.host}:${ssh.port}`, async () => {
    const options = {
      ...ssh,
      // A short deploy timeout also shortens each connection attempt.
      readyTimeoutMs: Math.min(20_000, Math.max(5_000, inputs.timeout * 1000)),
    };
    return new MasterLink(options, await connectSsh(options));
  });
}

/**
 * Starts update-services, checks the signature (verify-key), deploys, and stops the services
 * again whatever happened. A failure is handed back, not thrown, so that the report still gets
 * written.
 */
async function deployWithServices(
  inputs: Inputs,
  planned: { unit: PlannedUnit; pinUnit: PinUnit },
  connection: MasterLink,
  deadline: number,
  records: Records,
): Promise<{ result?: DeployResult; failure?: unknown; pinned?: Pinned }> {
  let pinned: Pinned | undefined;
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
    // The registry answers now; nothing in etcd or fleet has been touched yet.
    pinned = inputs.verifyKey
      ? await pinVerifiedDigest(inputs, planned, connection, deadline)
      : undefined;
    const unit = pinned?.unit ?? planned.unit;
    const reopenWindow = () => startServices(connection, inputs.updateServices, []);
    return {
      result: await deployLocked(inputs, unit, connection, deadline, records, reopenWindow),
      pinned,
    };
  } catch (thrown) {
    // The holder of the lock deploys with the same update window, and closes it when done.
    if (thrown instanceof LockHeldError) records.windowNeededBy = 'the run holding the lock';
    const result = thrown instanceof DeployError ? thrown.result : undefined;
    return { result, failure: thrown, pinned };
  } finally {
    if (inputs.keepServicesRunning) {
      if (started.length > 0)
        core.info(`keep-services-running: left running: ${started.join(', ')}.`);
    } else if (records.windowNeededBy) {
      core.info(`update-services left running for ${records.windowNeededBy}, which stops them.`);
      release(WINDOW_STATE);
    } else {
      const left = await core.group('Stop update-services on the master', () =>
        stopServices(connection, started),
      );
      if (left.length > 0) record(left);
      else release(WINDOW_STATE);
    }
  }
}

/** verify-key: the image's digest checked against its signature, and the unit that pins it. */
async function pinVerifiedDigest(
  inputs: Inputs,
  planned: { unit: PlannedUnit; pinUnit: PinUnit },
  connection: MasterLink,
  deadline: number,
): Promise<Pinned> {
  const key = inputs.verifyKey as NonNullable<Inputs['verifyKey']>;
  const verified = await core.group(`Check the signature of ${planned.unit.image}`, () =>
    checkSignature(connection, inputs.image, key, deadline),
  );
  const unit = planned.pinUnit(verified.digest);
  await showUnit(inputs, unit);
  return { verified, unit };
}

/**
 * Under the unit's deploy lock (in the master's etcd, reached through the SSH connection):
 * reads the deploy record, deploys, writes the new record after a success.
 */
async function deployLocked(
  inputs: Inputs,
  unit: PlannedUnit,
  connection: MasterLink,
  deadline: number,
  records: Records,
  reopenWindow: () => Promise<void>,
): Promise<DeployResult> {
  const { etcd, close } = await openEtcd(connection, inputs.etcdEndpoint);
  try {
    const { host, port, user } = inputs.ssh;
    const where = { host, port, user, etcd: inputs.etcdEndpoint };
    const lock = await core.group(`Take the deploy lock of ${unit.name}`, () =>
      acquireLock(etcd, {
        unit: unit.name,
        image: unit.image,
        forceUnlock: inputs.forceUnlock,
        deadline,
        where,
        reopenWindow,
      }),
    );
    try {
      records.before = await readRecord(etcd, unit.name);
      core.info(`Was running (deploy record): ${recordText(records.before)}.`);
      const result = await deployToFleet(inputs, unit, connection, deadline);
      // An unchanged unit keeps its record: it tells when that version was deployed.
      if (!result.changed && records.before?.hash === unit.hash) records.after = records.before;
      else {
        const record = newRecord(unit, result.machines.length);
        await writeRecord(etcd, record).then(
          () => (records.after = record),
          (error: unknown) =>
            core.warning(
              `The deploy succeeded, but writing its record failed: ${messageOf(error)}`,
            ),
        );
      }
      return result;
    } finally {
      await lock.release().then(
        async () => (records.windowNeededBy = await nextHolder(etcd, unit.name)),
        (error: unknown) =>
          core.warning(
            `Releasing the deploy lock failed (${messageOf(error)}); the post step tries again.`,
          ),
      );
    }
  } finally {
    await close();
  }
}

/** Waits until the fleet API answers through the SSH connection, then deploys. */
async function deployToFleet(
  inputs: Inputs,
  unit: PlannedUnit,
  connection: MasterLink,
  deadline: number,
): Promise<DeployResult> {
  const { open, mode } = await fleetStreamOpener(
    connection,
    inputs.fleetEndpoint,
    inputs.tunnelMode,
  );
  core.info(`fleet API: ${inputs.fleetEndpoint} on ${inputs.ssh.host} via ${mode}.`);
  const fleet = new FleetClient(open, { deadline });
  const machines = await waitForFleetApi(fleet);
  const { strategy, rollback, image } = inputs;
  const rollbackTimeoutMs = inputs.rollbackTimeout * 1000;
  return deploy({ fleet, unit, strategy, deadline, rollback, rollbackTimeoutMs, image }, machines);
}

/** The summary's line of the verify-key check: what verified what, or that it did not. */
function signatureText(key: KeyObject, pinned: Pinned | undefined, failure: unknown): string {
  if (pinned) {
    return `${pinned.verified.digest} verified with key ${pinned.verified.fingerprint}`;
  }
  return failure instanceof SignatureRefusedError
    ? `refused with key ${keyFingerprint(key)}: nothing deployed (why: see Result)`
    : `not checked with key ${keyFingerprint(key)}: the run ended before the check`;
}

/** What the log and the summary say of each end. */
function outcomeText(outcome: Outcome, result: DeployResult | undefined, failure: unknown): string {
  if (outcome === 'deployed') {
    return result?.changed === false
      ? 'deployed: already running on every machine, unchanged'
      : 'deployed: the new unit runs on every machine';
  }
  const why = `FAILED: ${messageOf(failure)}`;
  if (outcome === 'unknown') {
    return `unknown: neither the new nor the previous unit is known to run on every machine (listed below). ${why}`;
  }
  return result?.changed
    ? `rolled-back: ${result.rollback?.message ?? ''} ${why}`
    : `rolled-back: nothing was changed in fleet, the cluster is as it was. ${why}`;
}

/**
 * Sets the outputs (result first: a failed step still has it), says the end in the log and
 * writes the summary.
 */
async function report(
  inputs: Inputs,
  unit: PlannedUnit,
  startedAt: number,
  result: DeployResult | undefined,
  failure: unknown,
  records: Records,
  pinned?: Pinned,
): Promise<void> {
  const seconds = (Date.now() - startedAt) / 1000;
  const machines = result?.machines ?? [];
  // Without a result, the step failed before it changed anything in fleet.
  const outcome: Outcome = result?.outcome ?? (failure === undefined ? 'deployed' : 'rolled-back');
  setOutputs({
    result: outcome,
    'unit-name': unit.name,
    machines: machines.length,
    states: JSON.stringify(machines),
    'duration-seconds': seconds.toFixed(1),
    'previous-image': result?.previousImage ?? '',
    'deploy-record': records.after ? JSON.stringify(records.after) : '',
    'verified-digest': pinned?.verified.digest ?? '',
  });
  const text = outcomeText(outcome, result, failure);
  core.info(`Result: ${text}`);
  const now = result?.machinesNow ?? [];
  for (const machine of now)
    core.warning(`${machine.machineID} (${machine.address}): ${machine.runs}`);
  const facts: Array<[string, string]> = [
    ['Result', text],
    ['Image', unit.image],
    ['Unit', `${unit.name} (hash ${unit.hash.slice(0, 7)}, strategy ${inputs.strategy})`],
    ['Previous image', result?.previousImage ?? (result?.previousHash ? 'not recognised' : 'none')],
    ['Machines', String(machines.length)],
    [
      'Was running (deploy record)',
      // No key at all: the run stopped before it read the record (e.g. it never got the lock).
      'before' in records ? recordText(records.before) : 'not read',
    ],
    [
      'Now running (deploy record)',
      records.after ? recordText(records.after) : 'record unchanged: this deploy did not succeed',
    ],
    ['Total time', `${seconds.toFixed(1)} s`],
  ];
  if (inputs.verifyKey) {
    facts.splice(2, 0, ['Signature', signatureText(inputs.verifyKey, pinned, failure)]);
  }
  if (result?.rollback) facts.push(['Rollback', result.rollback.message]);
  const tables = [
    {
      title: 'The deploy, as last seen',
      headers: ['Machine', 'Address', 'State', 'Unit hash', 'Time to running'],
      rows: machines.map((machine) => [
        machine.machineID,
        machine.address,
        machine.activeState ? `${machine.activeState}/${machine.subState}` : 'no state',
        machine.hash ? machine.hash.slice(0, 7) : '-',
        machine.secondsToRunning === undefined ? '-' : `${machine.secondsToRunning.toFixed(1)} s`,
      ]),
    },
  ];
  if (now.length > 0) {
    tables.push({
      title: 'What each machine runs now (result unknown)',
      headers: ['Machine', 'Address', 'Runs'],
      rows: now.map((machine) => [machine.machineID, machine.address, machine.runs]),
    });
  }
  await writeSummary(`deploy-fleet: ${unit.name}`, facts, tables);
}
