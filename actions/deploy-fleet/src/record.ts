import * as core from '@actions/core';
import { UserError, messageOf } from '../../core/src/errors.js';
import type { SshConnection } from '../../core/src/ssh-connection.js';
import { openEtcd, type EtcdClient } from './etcd.js';
import type { Inputs, PlannedUnit } from './inputs.js';
import { holderText, lockKey, thisRun, type RunIdentity } from './lock.js';

/**
 * The deploy record (docs/dev/deploy-lock.md): after a successful deploy, what now runs — the
 * unit, its image and digest, the version, when, and which run — in one etcd key per unit, no
 * TTL. The next deploy shows it as what was running; a dry run shows it as what runs now.
 */

export interface DeployRecord extends RunIdentity {
  unit: string;
  image: string;
  /** The digest the unit ran by: the one verify-key checked, else the reference's (image-ref has one). */
  digest?: string;
  version: string;
  /** fleet's hash of the unit. */
  hash: string;
  machines: number;
  deployedAt: string;
}

export function recordKey(unit: string): string {
  return `/arch-core/deploy-fleet/records/${unit}`;
}

/** The record for a deploy of `unit` that just succeeded on `machines` machines. */
export function newRecord(unit: PlannedUnit, machines: number): DeployRecord {
  return {
    unit: unit.name,
    image: unit.image,
    digest: unit.digest,
    version: unit.version,
    hash: unit.hash,
    machines,
    deployedAt: new Date().toISOString(),
    ...thisRun(),
  };
}

/** One line: "team/hello:1.2 (version 1.2, digest sha256:…), 3 machines, deployed … by …". */
export function recordText(record: DeployRecord | undefined): string {
  if (!record) return 'no deploy record (nothing deployed by deploy-fleet yet)';
  const digest = record.digest ? `digest ${record.digest}` : 'no digest in the reference';
  const run = record.runUrl ? `${record.run} ${record.runUrl}` : record.run;
  return `${record.image} (version ${record.version}, ${digest}, unit hash ${record.hash.slice(0, 7)}), ${record.machines} machine(s), deployed ${record.deployedAt} by ${record.owner}, ${run}`;
}

/** The unit's record, or undefined when there is none or it cannot be read as one. */
export async function readRecord(
  etcd: EtcdClient,
  unit: string,
): Promise<DeployRecord | undefined> {
  const node = await etcd.get(recordKey(unit));
  if (!node?.value) return undefined;
  try {
    return JSON.parse(node.value) as DeployRecord;
  } catch {
    core.warning(`The deploy record ${recordKey(unit)} is not JSON; ignoring it.`);
    return undefined;
  }
}

export async function writeRecord(etcd: EtcdClient, record: DeployRecord): Promise<void> {
  await etcd.set(recordKey(record.unit), JSON.stringify(record));
  core.info(`deploy record: ${recordKey(record.unit)} now says ${recordText(record)}.`);
}

/** For a dry run: the record and the lock, or why they cannot be read (etcd is off). */
export async function recordFacts(
  connection: SshConnection,
  inputs: Pick<Inputs, 'etcdEndpoint'>,
  unit: string,
): Promise<Array<[string, string]>> {
  try {
    const { etcd, close } = await openEtcd(connection, inputs.etcdEndpoint);
    try {
      const record = await readRecord(etcd, unit);
      const lock = await etcd.get(lockKey(unit));
      return [
        ['Now running (deploy record)', recordText(record)],
        ['Deploy lock', lock ? `held by ${holderText(lock)}` : 'free'],
      ];
    } finally {
      await close();
    }
  } catch (error) {
    if (!(error instanceof UserError)) throw error;
    const note = `not readable: ${messageOf(error)} (etcd runs only during a deploy; a dry run does not start it)`;
    core.info(`deploy record: ${note}`);
    return [['Now running (deploy record)', note]];
  }
}
