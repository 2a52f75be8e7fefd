import * as fs from 'node:fs/promises';
import { InputError, UserError, messageOf } from '../../core/src/errors.js';
import {
  formatImageReference,
  imageBaseName,
  parseImageReference,
  type ImageReference,
} from '../../core/src/image-ref.js';
import {
  booleanInput,
  enumInput,
  integerInput,
  keyValueInput,
  optionalInput,
  parseList,
  requiredInput,
  secretInput,
  stringInput,
} from '../../core/src/inputs.js';
import { hostPortInput } from '../../core/src/host-port.js';
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

/** The units make-iso installs on the master, started for a deploy (docs/update-window.md). */
export const DEFAULT_UPDATE_SERVICES = ['arch-core-etcd.service', 'arch-core-registry.service'];
export const DEFAULT_FLEET_ENDPOINT = '/var/run/fleet.sock';
export const STRATEGIES = ['replace', 'restart'] as const;
export const TUNNEL_MODES: readonly TunnelMode[] = ['auto', 'fd-forward', 'streamlocal'];

/** The inputs of action.yml, by their names there, parsed and checked. */
export interface Inputs {
  host: { host: string; port: number };
  'ssh-user': string;
  'ssh-key': string;
  'known-hosts': string;
  'strict-host-key-checking': boolean;
  image: ImageReference;
  'unit-name': string;
  /** The template's file, or undefined for the built-in one. */
  'unit-template'?: string;
  'machine-metadata': Array<[string, string]>;
  'fleet-endpoint': string;
  'tunnel-mode': TunnelMode;
  'update-services': string[];
  'keep-services-running': boolean;
  strategy: (typeof STRATEGIES)[number];
  /** Seconds for the whole deploy. */
  timeout: number;
  'dry-run': boolean;
  rollback: boolean;
}

/** The unit to deploy, made from the template and the inputs. */
export interface PlannedUnit {
  name: string;
  text: string;
  options: UnitOption[];
  hash: string;
  image: string;
  version: string;
}

export function parseImageInput(text: string): ImageReference {
  try {
    return parseImageReference(text, 'reference');
  } catch (error) {
    throw new InputError('image', messageOf(error));
  }
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

export function parseUpdateServices(text: string | undefined): string[] {
  if (text === undefined) return [...DEFAULT_UPDATE_SERVICES];
  const units = parseList(text);
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
      `"${text}" is not the absolute path of fleet's unix socket on the host (e.g. ${DEFAULT_FLEET_ENDPOINT}).`,
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

/** Renders the template, parses it as fleet does, adds the metadata, checks it is global. */
export function planUnit(
  template: string | undefined,
  templateText: string,
  inputs: Pick<Inputs, 'image' | 'unit-name' | 'machine-metadata'>,
): PlannedUnit {
  const what = template ? `Input "unit-template" (${template})` : 'The built-in unit template';
  const image = formatImageReference(inputs.image);
  const version = imageVersion(inputs.image);
  const text = renderTemplate(templateText, { image, version, unit: inputs['unit-name'] }, what);
  const options = [...parseUnitFile(text, what), ...metadataOptions(inputs['machine-metadata'])];
  if (!isGlobal(options)) {
    throw new UserError(
      `${what}: the unit is not global ([X-Fleet] Global=true); deploy-fleet runs one copy on every machine.`,
    );
  }
  return { name: inputs['unit-name'], text, options, hash: unitHash(options), image, version };
}

export async function readTemplate(file: string | undefined): Promise<string> {
  if (file === undefined) return DEFAULT_UNIT_TEMPLATE;
  try {
    return await fs.readFile(file, 'utf8');
  } catch (error) {
    throw new InputError('unit-template', `cannot read "${file}": ${messageOf(error)}`);
  }
}

/** Reads and checks every input; the first bad one throws an InputError naming it. */
export function getInputs(): Inputs {
  const host = hostPortInput('host', requiredInput('host'), 22);
  const user = stringInput('ssh-user', 'core');
  if (!/^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/.test(user)) {
    throw new InputError('ssh-user', `"${user}" is not a user name.`);
  }
  const key = secretInput('ssh-key');
  if (key === undefined) {
    throw new InputError('ssh-key', 'is required: the private key text itself (from a secret).');
  }
  const strict = booleanInput('strict-host-key-checking', true);
  const knownHosts = optionalInput('known-hosts');
  if (knownHosts === undefined && strict) {
    throw new InputError(
      'known-hosts',
      `is required: the host's known_hosts lines (e.g. "[${host.host}]:${host.port} ssh-ed25519 AAAA..."), so its key can be verified.`,
    );
  }
  const image = parseImageInput(requiredInput('image'));
  const updateServicesVariable = process.env['INPUT_UPDATE-SERVICES'];
  return {
    host,
    'ssh-user': user,
    'ssh-key': key,
    'known-hosts': knownHosts ?? '',
    'strict-host-key-checking': strict,
    image,
    'unit-name': resolveUnitName(optionalInput('unit-name'), image),
    'unit-template': optionalInput('unit-template'),
    'machine-metadata': checkMetadata(keyValueInput('machine-metadata')),
    'fleet-endpoint': parseFleetEndpoint(stringInput('fleet-endpoint', DEFAULT_FLEET_ENDPOINT)),
    'tunnel-mode': enumInput('tunnel-mode', TUNNEL_MODES, 'auto'),
    'update-services': parseUpdateServices(updateServicesVariable),
    'keep-services-running': booleanInput('keep-services-running', false),
    strategy: enumInput('strategy', STRATEGIES, 'replace'),
    timeout: integerInput('timeout', { min: 1, max: 86_400 }, 300),
    'dry-run': booleanInput('dry-run', false),
    rollback: booleanInput('rollback', true),
  };
}
