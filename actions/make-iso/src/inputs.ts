import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { InputError } from '../../core/src/errors.js';
import { tempRoot } from '../../core/src/files.js';
import {
  inputReader,
  parseBoundedInteger,
  parseList,
  type InputReader,
  type RawInputs,
} from '../../core/src/inputs.js';
import { parsePublicKey } from './ssh-keys.js';

export const ROLES = ['master', 'slave', 'both'] as const;
export const FORMATS = ['config-drive', 'user-data', 'both'] as const;
export const CHANNELS = ['stable', 'beta', 'alpha', 'lts'] as const;
export type Role = 'master' | 'slave';

export interface Pinned {
  version: string;
  sha256: string;
  url: string;
}

export interface ExtraUnit {
  roles: Role[];
  name: string;
  content: string;
}

export interface Port {
  port: number;
  protocol: 'tcp' | 'udp';
}

/** make-iso's inputs, validated up front. */
export interface Inputs {
  roles: Role[];
  sshAuthorizedKeys: string[];
  sshPort: number;
  allowDefaultPorts: boolean;
  etcdClientPort: number;
  /** Loopback only: etcd's peer port (one member, no peers), etcd-client-port + 1. */
  etcdPeerPort: number;
  registryPort: number;
  masterAddress: string;
  privateInterface?: string;
  fleetMetadata: Record<Role, Array<[string, string]>>;
  ntpServers: string[];
  applicationPorts: Port[];
  fleet: Pinned;
  etcd: Pinned;
  registryImage: string;
  extraUnits: ExtraUnit[];
  format: (typeof FORMATS)[number];
  output: string;
  channel: (typeof CHANNELS)[number];
  downloadImage: boolean;
  imageBaseUrl: string;
  imageSigningKey?: string;
}

export const DEFAULT_IMAGE_BASE_URL =
  'https://{channel}.release.flatcar-linux.net/amd64-usr/current';
/** Environment override of image-base-url (tests point it at a local server). */
export const IMAGE_BASE_URL_ENV = 'ARCH_CORE_FLATCAR_BASE_URL';

/** Well-known default ports refused unless allow-default-ports is true. */
const DEFAULT_PORTS: Record<string, number[]> = {
  'ssh-port': [22],
  'etcd-client-port': [2379, 4001],
  'registry-port': [5000],
};

const MANAGED_UNITS = [
  'sshd.socket',
  'sshd.service',
  'ntpd.service',
  'systemd-timesyncd.service',
  'locksmithd.service',
  'fleet.service',
  'fleet.socket',
  'arch-core-etcd.service',
  'arch-core-registry.service',
  'arch-core-install-etcd.service',
  'arch-core-install-fleet.service',
  'iptables-restore.service',
  'ip6tables-restore.service',
];

const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const META = /^[A-Za-z0-9_.-]{1,63}$/;
const HEX64 = /^[0-9a-f]{64}$/;

export function parseIPv4(name: string, value: string): string {
  if (!net.isIPv4(value)) {
    throw new InputError(name, `"${value}" is not an IPv4 address like 10.0.0.1.`);
  }
  if (value === '0.0.0.0' || value.startsWith('127.') || value === '255.255.255.255') {
    throw new InputError(name, `${value} is not a machine's private address (use e.g. 10.0.0.1).`);
  }
  return value;
}

/** Items separated by spaces, commas or lines. */
function separatedList(read: InputReader, name: string): string[] {
  return parseList((read.optional(name) ?? '').replace(/[ ,]+/g, '\n'));
}

function readAuthorizedKeys(read: InputReader): string[] {
  const keyLines = read.list('ssh-authorized-keys');
  if (keyLines.length === 0) {
    throw new InputError(
      'ssh-authorized-keys',
      'is required: give at least one SSH public key, one per line.',
    );
  }
  return keyLines.map((line, index) => {
    try {
      return parsePublicKey(line).line;
    } catch (error) {
      throw new InputError(
        'ssh-authorized-keys',
        `line ${index + 1}: ${(error as Error).message}.`,
      );
    }
  });
}

function readPort(read: InputReader, name: string, allowDefault: boolean): number {
  const port = read.integer(name, { min: 1, max: 65535 });
  if (!allowDefault && DEFAULT_PORTS[name]?.includes(port)) {
    throw new InputError(
      name,
      `${port} is the well-known default port, which the lock-down avoids; choose another or set allow-default-ports: true.`,
    );
  }
  return port;
}

function readApplicationPorts(read: InputReader): Port[] {
  return separatedList(read, 'application-ports').map((entry) => {
    const match = /^(\d+)(?:\/(tcp|udp))?$/.exec(entry);
    if (!match)
      throw new InputError('application-ports', `"${entry}" is not PORT or PORT/tcp or PORT/udp.`);
    return {
      port: parseBoundedInteger('application-ports', match[1] as string, { min: 1, max: 65535 }),
      protocol: (match[2] ?? 'tcp') as 'tcp' | 'udp',
    };
  });
}

type Ports = Pick<
  Inputs,
  | 'allowDefaultPorts'
  | 'sshPort'
  | 'etcdClientPort'
  | 'etcdPeerPort'
  | 'registryPort'
  | 'applicationPorts'
>;

/** The service ports and the application's; each TCP port belongs to one service. */
function readPorts(read: InputReader): Ports {
  const allowDefaultPorts = read.boolean('allow-default-ports');
  const sshPort = readPort(read, 'ssh-port', allowDefaultPorts);
  const etcdClientPort = readPort(read, 'etcd-client-port', allowDefaultPorts);
  if (etcdClientPort === 65535)
    throw new InputError(
      'etcd-client-port',
      'must be below 65535 (the peer port is the next one).',
    );
  const etcdPeerPort = etcdClientPort + 1;
  const registryPort = readPort(read, 'registry-port', allowDefaultPorts);
  const applicationPorts = readApplicationPorts(read);

  const taken = new Map<number, string>();
  const claim = (input: string, port: number, what: string) => {
    const owner = taken.get(port);
    if (owner !== undefined) {
      throw new InputError(
        input,
        `${port} is already the ${owner}; each service needs its own port.`,
      );
    }
    taken.set(port, what);
  };
  claim('ssh-port', sshPort, 'SSH port (ssh-port)');
  claim('etcd-client-port', etcdClientPort, 'etcd client port (etcd-client-port)');
  claim(
    'etcd-client-port',
    etcdPeerPort,
    `etcd peer port (etcd-client-port + 1 = ${etcdPeerPort})`,
  );
  claim('registry-port', registryPort, 'registry port (registry-port)');
  for (const entry of applicationPorts) {
    if (entry.protocol === 'tcp')
      claim('application-ports', entry.port, `application port ${entry.port}`);
  }
  return {
    allowDefaultPorts,
    sshPort,
    etcdClientPort,
    etcdPeerPort,
    registryPort,
    applicationPorts,
  };
}

/** The master's private address, and the interface of the private network when given. */
function readPrivateNetwork(
  read: InputReader,
  role: (typeof ROLES)[number],
): Pick<Inputs, 'masterAddress' | 'privateInterface'> {
  const address = read.optional('master-address');
  if (address === undefined) {
    throw new InputError(
      'master-address',
      `is required for role ${role}: the master's private address, where ${role === 'master' ? 'etcd and the registry listen' : 'slaves reach etcd and the registry'}.`,
    );
  }
  const masterAddress = parseIPv4('master-address', address);
  const privateInterface = read.optional('private-interface');
  if (privateInterface !== undefined && !/^[A-Za-z0-9_.-]{1,15}$/.test(privateInterface)) {
    throw new InputError(
      'private-interface',
      `"${privateInterface}" is not a network interface name like eth1.`,
    );
  }
  return { masterAddress, privateInterface };
}

function readFleetMetadata(read: InputReader): Inputs['fleetMetadata'] {
  const fleetMetadata: Inputs['fleetMetadata'] = { master: [], slave: [] };
  for (const line of read.list('fleet-metadata')) {
    const match = /^(?:(master|slave):)?([^=\s]+)=(\S+)$/.exec(line);
    if (!match || !META.test(match[2] as string) || !META.test(match[3] as string)) {
      throw new InputError(
        'fleet-metadata',
        `line "${line}" is not [master:|slave:]key=value (letters, digits, _ . -).`,
      );
    }
    if (match[2] === 'role')
      throw new InputError(
        'fleet-metadata',
        'the key "role" is set by make-iso (master or slave).',
      );
    const targets: Role[] = match[1] ? [match[1] as Role] : ['master', 'slave'];
    for (const target of targets)
      fleetMetadata[target].push([match[2] as string, match[3] as string]);
  }
  return fleetMetadata;
}

function readNtpServers(read: InputReader): string[] {
  const ntpServers = separatedList(read, 'ntp-servers');
  for (const server of ntpServers) {
    if (!HOSTNAME.test(server) && !net.isIP(server)) {
      throw new InputError('ntp-servers', `"${server}" is not a host name or address.`);
    }
  }
  return ntpServers;
}

/** A release the machines download, pinned by version and sha256. */
interface Release {
  what: 'fleet' | 'etcd';
  urlOf: (version: string) => string;
  versionPattern: RegExp;
  versionHint: string;
  /** Digests known to belong to one version: given with another version, they are a mistake. */
  knownDigests: Record<string, string>;
}

const FLEET: Release = {
  what: 'fleet',
  urlOf: (v) =>
    `https://github.com/coreos/fleet/releases/download/${v}/fleet-${v}-linux-amd64.tar.gz`,
  versionPattern: /^v?\d+\.\d+\.\d+$/,
  versionHint: 'is not a fleet release like v1.0.0.',
  knownDigests: {},
};

const ETCD: Release = {
  what: 'etcd',
  urlOf: (v) =>
    `https://github.com/etcd-io/etcd/releases/download/${v}/etcd-${v}-linux-amd64.tar.gz`,
  versionPattern: /^v?3\.[0-5]\.\d+$/,
  versionHint:
    'is not an etcd release from v3.0.0 to v3.5.x (etcd 3.6 removed the v2 API that fleet needs).',
  // The digest action.yml gives by default.
  knownDigests: { adddda4b06718e68671ffabff2f8cee48488ba61ad82900e639d108f2148501c: 'v3.5.21' },
};

function readPinned(read: InputReader, release: Release): Pinned {
  const versionName = `${release.what}-version`;
  const shaName = `${release.what}-sha256`;
  const urlName = `${release.what}-url`;
  const given = read.required(versionName);
  if (!release.versionPattern.test(given))
    throw new InputError(versionName, `"${given}" ${release.versionHint}`);
  const version = given.startsWith('v') ? given : `v${given}`;
  const sha256 = (read.optional(shaName) ?? '').toLowerCase();
  if (sha256 === '') {
    throw new InputError(
      shaName,
      `is required: the sha256 of ${release.urlOf(version).split('/').pop()} (the machines refuse a download that does not match it).`,
    );
  }
  if (!HEX64.test(sha256)) throw new InputError(shaName, 'is not a sha256 digest (64 hex digits).');
  const digestOf = release.knownDigests[sha256];
  if (digestOf !== undefined && digestOf !== version) {
    throw new InputError(shaName, `is the digest of ${digestOf}; give the digest of ${version}.`);
  }
  const url = read.optional(urlName) ?? release.urlOf(version);
  if (!/^https?:\/\/[A-Za-z0-9.[\]:_-]+\/[A-Za-z0-9._~/%+-]*$/.test(url)) {
    throw new InputError(urlName, `"${url}" is not an http(s) URL of a .tar.gz.`);
  }
  return { version, sha256, url };
}

/** The registry image as written (it goes into the unit verbatim), checked as a reference. */
function readRegistryImage(read: InputReader): string {
  read.image('registry-image');
  const registryImage = read.required('registry-image');
  if (/\s/.test(registryImage)) throw new InputError('registry-image', 'must not contain spaces.');
  return registryImage;
}

function readExtraUnit(line: string): ExtraUnit {
  const match = /^(?:(master|slave):)?(.+)$/.exec(line) as RegExpExecArray;
  const file = (match[2] as string).trim();
  const name = path.basename(file);
  if (!/^[A-Za-z0-9:_.@-]+\.(service|socket|timer|path|mount|target)$/.test(name)) {
    throw new InputError(
      'extra-units',
      `"${name}" is not a systemd unit file name (NAME.service, .socket, .timer, ...).`,
    );
  }
  if (MANAGED_UNITS.includes(name)) {
    throw new InputError(
      'extra-units',
      `${name} is a unit make-iso writes for the lock-down; it cannot be replaced.`,
    );
  }
  let content: string;
  try {
    content = fs.readFileSync(file, 'utf8');
  } catch {
    throw new InputError('extra-units', `the file ${file} cannot be read.`);
  }
  if (!/^\s*\[(Unit|Service|Socket|Timer|Path|Mount|Install)\]/m.test(content)) {
    throw new InputError(
      'extra-units',
      `${file} is not a systemd unit (no [Unit] or [Service] section).`,
    );
  }
  return { roles: match[1] ? [match[1] as Role] : ['master', 'slave'], name, content };
}

function readExtraUnits(read: InputReader): ExtraUnit[] {
  const extraUnits = read.list('extra-units').map(readExtraUnit);
  const seen = new Set<string>();
  for (const unit of extraUnits) {
    for (const target of unit.roles) {
      if (seen.has(`${target}:${unit.name}`))
        throw new InputError('extra-units', `${unit.name} is given twice for the ${target}.`);
      seen.add(`${target}:${unit.name}`);
    }
  }
  return extraUnits;
}

/** What is written where, and the channel's VMware image. */
function readOutput(
  read: InputReader,
  env: NodeJS.ProcessEnv,
): Pick<
  Inputs,
  'format' | 'output' | 'channel' | 'downloadImage' | 'imageBaseUrl' | 'imageSigningKey'
> {
  const format = read.oneOf('format', FORMATS);
  const channel = read.oneOf('channel', CHANNELS);
  const downloadImage = read.boolean('download-image');
  const output = path.resolve(read.optional('output') ?? path.join(tempRoot(), 'make-iso'));
  const imageBaseUrl = (
    read.optional('image-base-url') ||
    env[IMAGE_BASE_URL_ENV] ||
    DEFAULT_IMAGE_BASE_URL
  )
    .replace(/\{channel\}/g, channel)
    .replace(/\/+$/, '');
  if (!/^https?:\/\/\S+$/.test(imageBaseUrl)) {
    throw new InputError('image-base-url', `"${imageBaseUrl}" is not an http(s) URL.`);
  }
  const signingKey = read.optional('image-signing-key');
  const imageSigningKey = signingKey === undefined ? undefined : path.resolve(signingKey);
  if (imageSigningKey !== undefined && !fs.existsSync(imageSigningKey)) {
    throw new InputError('image-signing-key', `the key file ${imageSigningKey} does not exist.`);
  }
  return { format, output, channel, downloadImage, imageBaseUrl, imageSigningKey };
}

/**
 * Validates every input up front, in action.yml's order; the first bad one throws an
 * InputError naming it. `env` may override the default image-base-url.
 */
export function parseInputs(raw: RawInputs, env: NodeJS.ProcessEnv = process.env): Inputs {
  const read = inputReader(raw);
  const role = read.oneOf('role', ROLES);
  const sshAuthorizedKeys = readAuthorizedKeys(read);
  const ports = readPorts(read);
  const network = readPrivateNetwork(read, role);
  const fleetMetadata = readFleetMetadata(read);
  const ntpServers = readNtpServers(read);
  const fleet = readPinned(read, FLEET);
  const etcd = readPinned(read, ETCD);
  const registryImage = readRegistryImage(read);
  const extraUnits = readExtraUnits(read);
  return {
    roles: role === 'both' ? ['master', 'slave'] : [role],
    sshAuthorizedKeys,
    ...ports,
    ...network,
    fleetMetadata,
    ntpServers,
    fleet,
    etcd,
    registryImage,
    extraUnits,
    ...readOutput(read, env),
  };
}
