import type { KeyObject } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { InputError, UserError, messageOf } from '../../core/src/errors.js';
import {
  formatImageReference,
  imageBaseName,
  type ImageReference,
} from '../../core/src/image-ref.js';
import { hostPortInput, type HostPort } from '../../core/src/host-port.js';
import { inputReader, type RawInputs } from '../../core/src/inputs.js';
import { readSshInputs } from '../../core/src/ssh-inputs.js';
import { parseVerifyKey } from './signature.js';
import type { TunnelMode } from './tunnel.js';
import {
  DEFAULT_UNIT_TEMPLATE,
  isGlobal,
  metadataOptions,
  parseUnitFile,
  renderTemplate,
  unitHash,
  unitNameProblem,
  type UnitOption,
} from './unit.js';

export const STRATEGIES = ['replace', 'restart'] as const;
export const TUNNEL_MODES: readonly TunnelMode[] = ['auto', 'fd-forward', 'streamlocal'];

/** The SSH connection to the master, as core's SSH input reader gives it. */
export type SshTarget = ReturnType<typeof readSshInputs>;

/** deploy-fleet's inputs, parsed and checked (defaults come from action.yml). */
export interface Inputs {
  /** host, ssh-user, ssh-key, known-hosts, strict-host-key-checking. */
  ssh: SshTarget;
  image: ImageReference;
  unitName: string;
  /** The template's file, or undefined for the built-in one. */
  unitTemplate?: string;
  machineMetadata: Array<[string, string]>;
  /** The path of fleet's API socket on the master. */
  fleetEndpoint: string;
  tunnelMode: TunnelMode;
  updateServices: string[];
  keepServicesRunning: boolean;
  strategy: (typeof STRATEGIES)[number];
  /** Seconds for the whole deploy. */
  timeout: number;
  /** Seconds the rollback may take, from when it starts (it may outlast `timeout`). */
  rollbackTimeout: number;
  dryRun: boolean;
  rollback: boolean;
  /** The master's etcd as seen from the master: the deploy lock and record live there. */
  etcdEndpoint: HostPort;
  /** Remove a lock another run holds (a stale one) before taking it. */
  forceUnlock: boolean;
  /** Deploy only a digest signed by this key; the unit then pins that digest. */
  verifyKey?: KeyObject;
}

/** The unit to deploy, made from the template and the inputs. */
export interface PlannedUnit {
  name: string;
  text: string;
  options: UnitOption[];
  hash: string;
  image: string;
  /** The digest the unit runs by: verify-key's checked one, else the reference's if it has one. */
  digest?: string;
  version: string;
}

/** The unit name: as given, or `<image base name>.service`. */
export function resolveUnitName(given: string | undefined, image: ImageReference): string {
  const name = given ?? `${imageBaseName(image)}.service`;
  const problem = unitNameProblem(name);
  if (problem) throw new InputError('unit-name', problem);
  return name;
}

/** What {{version}} stands for: the tag, else the digest. */
export function imageVersion(image: ImageReference): string {
  return image.tag ?? image.digest ?? 'latest';
}

/** The units started on the master for the deploy; each must be a unit name, not an option. */
export function checkUpdateServices(units: string[]): string[] {
  for (const unit of units) {
    const problem = unit.startsWith('-') ? `"${unit}" starts with "-".` : unitNameProblem(unit);
    if (problem) throw new InputError('update-services', problem);
  }
  return units;
}

export function parseFleetEndpoint(text: string): string {
  const socketPath = text.startsWith('unix://') ? text.slice('unix://'.length) : text;
  if (!socketPath.startsWith('/') || /[\s\0]/.test(socketPath)) {
    throw new InputError(
      'fleet-endpoint',
      `"${text}" is not the absolute path of fleet's unix socket on the host (e.g. /var/run/fleet.sock).`,
    );
  }
  return socketPath;
}

export function checkMetadata(pairs: Array<[string, string]>): Array<[string, string]> {
  for (const [key, value] of pairs) {
    if (!/^[^\s"=]+$/.test(value) || /["]/.test(key)) {
      throw new InputError(
        'machine-metadata',
        `"${key}=${value}": keys and values may not hold spaces, quotes or a second "=".`,
      );
    }
  }
  return pairs;
}

/**
 * Renders the template, parses it as fleet does, adds the metadata, checks it is global. With
 * `pinnedDigest` (the one verify-key checked) the unit runs `repository@digest`, never the tag.
 */
export function planUnit(
  template: string | undefined,
  templateText: string,
  inputs: Pick<Inputs, 'image' | 'unitName' | 'machineMetadata'>,
  pinnedDigest?: string,
): PlannedUnit {
  const what = template ? `Input "unit-template" (${template})` : 'The built-in unit template';
  const { registry, repository } = inputs.image;
  const image = formatImageReference(
    pinnedDigest ? { registry, repository, digest: pinnedDigest } : inputs.image,
  );
  const version = imageVersion(inputs.image);
  const text = renderTemplate(templateText, { image, version, unit: inputs.unitName }, what);
  const options = [...parseUnitFile(text, what), ...metadataOptions(inputs.machineMetadata)];
  if (!isGlobal(options)) {
    throw new UserError(
      `${what}: the unit is not global ([X-Fleet] Global=true); deploy-fleet runs one copy on every machine.`,
    );
  }
  const digest = pinnedDigest ?? inputs.image.digest;
  return { name: inputs.unitName, text, options, hash: unitHash(options), image, digest, version };
}

export async function readTemplate(file: string | undefined): Promise<string> {
  if (file === undefined) return DEFAULT_UNIT_TEMPLATE;
  try {
    return await fs.readFile(file, 'utf8');
  } catch (error) {
    throw new InputError('unit-template', `cannot read "${file}": ${messageOf(error)}`);
  }
}

function verifyKeyInput(pem: string | undefined): KeyObject | undefined {
  return pem === undefined ? undefined : parseVerifyKey(pem);
}

/** Reads and checks every input; the first bad one throws an InputError naming it. */
export function parseInputs(raw: RawInputs): Inputs {
  const read = inputReader(raw);
  // A missing host reads "is required and was not given", as every other required input.
  read.required('host');
  const ssh = readSshInputs(read, {
    host: 'host',
    strictHostKeyChecking: 'strict-host-key-checking',
  });
  const image = read.image('image');
  return {
    ssh,
    image,
    unitName: resolveUnitName(read.optional('unit-name'), image),
    unitTemplate: read.optional('unit-template'),
    machineMetadata: checkMetadata(read.keyValues('machine-metadata')),
    fleetEndpoint: parseFleetEndpoint(read.required('fleet-endpoint')),
    tunnelMode: read.oneOf('tunnel-mode', TUNNEL_MODES),
    updateServices: checkUpdateServices(read.list('update-services')),
    keepServicesRunning: read.boolean('keep-services-running'),
    strategy: read.oneOf('strategy', STRATEGIES),
    timeout: read.integer('timeout', { min: 1, max: 86_400 }),
    rollbackTimeout: read.integer('rollback-timeout', { min: 1, max: 86_400 }),
    dryRun: read.boolean('dry-run'),
    rollback: read.boolean('rollback'),
    etcdEndpoint: hostPortInput('etcd-endpoint', read.required('etcd-endpoint'), 2379),
    forceUnlock: read.boolean('force-unlock'),
    verifyKey: verifyKeyInput(read.optional('verify-key')),
  };
}
