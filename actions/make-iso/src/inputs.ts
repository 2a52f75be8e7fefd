import * as core from '@actions/core';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { InputError } from '../../core/src/errors.js';
import { parseBoundedInteger, parseList } from '../../core/src/inputs.js';
import { tempRoot } from '../../core/src/files.js';
import { parseImageReference } from '../../core/src/image-ref.js';
import { parsePublicKey } from './ssh-keys.js';

/** The inputs of action.yml, by their exact names, as the runner hands them over (strings). */
export const INPUT_NAMES = [
  'role',
  'ssh-authorized-keys',
  'ssh-port',
  'allow-default-ports',
  'etcd-client-port',
  'registry-port',
  'master-address',
  'private-interface',
  'fleet-metadata',
  'ntp-servers',
  'application-ports',
  'fleet-version',
  'fleet-sha256',
  'fleet-url',
  'etcd-version',
  'etcd-sha256',
  'etcd-url',
  'registry-image',
  'extra-units',
  'format',
  'output',
  'channel',
  'download-image',
  'image-base-url',
  'image-signing-key',
] as const;
export type InputName = (typeof INPUT_NAMES)[number];
export type Inputs = Record<InputName, string>;

/** Defaults: the SAME values action.yml declares (a unit test keeps them equal). */
export const DEFAULTS: Partial<Inputs> = {
  role: 'both',
  'ssh-port': '2222',
  'allow-default-ports': 'false',
  'etcd-client-port': '12379',
  'registry-port': '15000',
  'fleet-version': 'v1.0.0',
  'etcd-version': 'v3.5.21',
  'etcd-sha256': 'adddda4b06718e68671ffabff2f8cee48488ba61ad82900e639d108f2148501c',
  'registry-image': 'docker.io/library/registry:2.8.3',
  format: 'both',
  channel: 'stable',
  'download-image': 'false',
};

export const ROLES = ['master', 'slave', 'both'] as const;
export const FORMATS = ['config-drive', 'user-data', 'both'] as const;
export const CHANNELS = ['stable', 'beta', 'alpha', 'lts'] as const;
export type Role = 'master' | 'slave';

/** Well-known default ports refused unless allow-default-ports is true. */
const DEFAULT_PORTS: Record<string, number[]> = {
  'ssh-port': [22],
  'etcd-client-port': [2379, 4001],
  'registry-port': [5000],
};

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

/** Everything make-iso needs, validated. */
export interface Settings {
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

function oneOf<T extends string>(name: string, value: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new InputError(name, `"${value}" is not one of ${allowed.join(', ')}.`);
}

function boolean(name: string, value: string): boolean {
  if (['true', 'True', 'TRUE', 'yes', 'on', '1'].includes(value)) return true;
  if (['false', 'False', 'FALSE', 'no', 'off', '0'].includes(value)) return false;
  throw new InputError(name, `"${value}" is not a boolean; use true or false.`);
}

export function parseIPv4(name: string, value: string): string {
  if (!net.isIPv4(value)) {
    throw new InputError(name, `"${value}" is not an IPv4 address like 10.0.0.1.`);
  }
  if (value === '0.0.0.0' || value.startsWith('127.') || value === '255.255.255.255') {
    throw new InputError(name, `${value} is not a machine's private address (use e.g. 10.0.0.1).`);
  }
  return value;
}

const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const META = /^[A-Za-z0-9_.-]{1,63}$/;
const HEX64 = /^[0-9a-f]{64}$/;

function pinned(
  raw: Inputs,
  what: 'fleet' | 'etcd',
  urlOf: (version: string) => string,
  versionPattern: RegExp,
  versionHint: string,
): Pinned {
  const versionName = `${what}-version` as InputName;
  const shaName = `${what}-sha256` as InputName;
  const given = raw[versionName];
  if (!versionPattern.test(given)) throw new InputError(versionName, `"${given}" ${versionHint}`);
  const version = given.startsWith('v') ? given : `v${given}`;
  const sha256 = raw[shaName].toLowerCase();
  if (sha256 === '') {
    throw new InputError(
      shaName,
      `is required: the sha256 of ${urlOf(version).split('/').pop()} (the machines refuse a download that does not match it).`,
    );
  }
  if (!HEX64.test(sha256)) throw new InputError(shaName, 'is not a sha256 digest (64 hex digits).');
  const defaultVersion = DEFAULTS[versionName];
  if (DEFAULTS[shaName] === sha256 && defaultVersion !== version) {
    throw new InputError(
      shaName,
      `is the digest of ${defaultVersion}; give the digest of ${version}.`,
    );
  }
  const urlName = `${what}-url` as InputName;
  const url = raw[urlName] === '' ? urlOf(version) : raw[urlName];
  if (!/^https?:\/\/[A-Za-z0-9.[\]:_-]+\/[A-Za-z0-9._~/%+-]*$/.test(url)) {
    throw new InputError(urlName, `"${url}" is not an http(s) URL of a .tar.gz.`);
  }
  return { version, sha256, url };
}

function parsePort(name: string, value: string, allowDefault: boolean): number {
  const port = parseBoundedInteger(name, value, { min: 1, max: 65535 });
  if (!allowDefault && DEFAULT_PORTS[name]?.includes(port)) {
    throw new InputError(
      name,
      `${port} is the well-known default port, which the lock-down avoids; choose another or set allow-default-ports: true.`,
    );
  }
  return port;
}

/** Validates every input up front; the first bad one throws an InputError naming it. */
export function parseInputs(raw: Inputs): Settings {
  const role = oneOf('role', raw.role, ROLES);
  const roles: Role[] = role === 'both' ? ['master', 'slave'] : [role];

  const keyLines = parseList(raw['ssh-authorized-keys']);
  if (keyLines.length === 0) {
    throw new InputError(
      'ssh-authorized-keys',
      'is required: give at least one SSH public key, one per line.',
    );
  }
  const sshAuthorizedKeys = keyLines.map((line, index) => {
    try {
      return parsePublicKey(line).line;
    } catch (error) {
      throw new InputError(
        'ssh-authorized-keys',
        `line ${index + 1}: ${(error as Error).message}.`,
      );
    }
  });

  const allowDefaultPorts = boolean('allow-default-ports', raw['allow-default-ports']);
  const sshPort = parsePort('ssh-port', raw['ssh-port'], allowDefaultPorts);
  const etcdClientPort = parsePort('etcd-client-port', raw['etcd-client-port'], allowDefaultPorts);
  if (etcdClientPort === 65535)
    throw new InputError(
      'etcd-client-port',
      'must be below 65535 (the peer port is the next one).',
    );
  const etcdPeerPort = etcdClientPort + 1;
  const registryPort = parsePort('registry-port', raw['registry-port'], allowDefaultPorts);

  const applicationPorts = parseList(raw['application-ports'].replace(/[ ,]+/g, '\n')).map(
    (entry) => {
      const match = /^(\d+)(?:\/(tcp|udp))?$/.exec(entry);
      if (!match)
        throw new InputError(
          'application-ports',
          `"${entry}" is not PORT or PORT/tcp or PORT/udp.`,
        );
      return {
        port: parseBoundedInteger('application-ports', match[1] as string, { min: 1, max: 65535 }),
        protocol: (match[2] ?? 'tcp') as 'tcp' | 'udp',
      };
    },
  );

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

  if (raw['master-address'] === '') {
    throw new InputError(
      'master-address',
      `is required for role ${role}: the master's private address, where ${role === 'master' ? 'etcd and the registry listen' : 'slaves reach etcd and the registry'}.`,
    );
  }
  const masterAddress = parseIPv4('master-address', raw['master-address']);

  let privateInterface: string | undefined;
  if (raw['private-interface'] !== '') {
    if (!/^[A-Za-z0-9_.-]{1,15}$/.test(raw['private-interface'])) {
      throw new InputError(
        'private-interface',
        `"${raw['private-interface']}" is not a network interface name like eth1.`,
      );
    }
    privateInterface = raw['private-interface'];
  }

  const fleetMetadata: Record<Role, Array<[string, string]>> = { master: [], slave: [] };
  for (const line of parseList(raw['fleet-metadata'])) {
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

  const ntpServers = parseList(raw['ntp-servers'].replace(/[ ,]+/g, '\n'));
  for (const server of ntpServers) {
    if (!HOSTNAME.test(server) && !net.isIP(server)) {
      throw new InputError('ntp-servers', `"${server}" is not a host name or address.`);
    }
  }

  const fleet = pinned(
    raw,
    'fleet',
    (v) => `https://github.com/coreos/fleet/releases/download/${v}/fleet-${v}-linux-amd64.tar.gz`,
    /^v?\d+\.\d+\.\d+$/,
    'is not a fleet release like v1.0.0.',
  );
  const etcd = pinned(
    raw,
    'etcd',
    (v) => `https://github.com/etcd-io/etcd/releases/download/${v}/etcd-${v}-linux-amd64.tar.gz`,
    /^v?3\.[0-5]\.\d+$/,
    'is not an etcd release from v3.0.0 to v3.5.x (etcd 3.6 removed the v2 API that fleet needs).',
  );

  try {
    parseImageReference(raw['registry-image'], 'registry-image');
  } catch (error) {
    throw new InputError('registry-image', (error as Error).message);
  }
  if (/\s/.test(raw['registry-image']))
    throw new InputError('registry-image', 'must not contain spaces.');

  const extraUnits = parseList(raw['extra-units']).map((line): ExtraUnit => {
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
  });
  const seen = new Set<string>();
  for (const unit of extraUnits) {
    for (const target of unit.roles) {
      if (seen.has(`${target}:${unit.name}`))
        throw new InputError('extra-units', `${unit.name} is given twice for the ${target}.`);
      seen.add(`${target}:${unit.name}`);
    }
  }

  const format = oneOf('format', raw.format, FORMATS);
  const channel = oneOf('channel', raw.channel, CHANNELS);
  const downloadImage = boolean('download-image', raw['download-image']);
  const output = path.resolve(raw.output === '' ? path.join(tempRoot(), 'make-iso') : raw.output);

  const imageBaseUrl = (
    raw['image-base-url'] ||
    process.env[IMAGE_BASE_URL_ENV] ||
    DEFAULT_IMAGE_BASE_URL
  )
    .replace(/\{channel\}/g, channel)
    .replace(/\/+$/, '');
  if (!/^https?:\/\/\S+$/.test(imageBaseUrl)) {
    throw new InputError('image-base-url', `"${imageBaseUrl}" is not an http(s) URL.`);
  }
  let imageSigningKey: string | undefined;
  if (raw['image-signing-key'] !== '') {
    imageSigningKey = path.resolve(raw['image-signing-key']);
    if (!fs.existsSync(imageSigningKey)) {
      throw new InputError('image-signing-key', `the key file ${imageSigningKey} does not exist.`);
    }
  }

  return {
    roles,
    sshAuthorizedKeys,
    sshPort,
    allowDefaultPorts,
    etcdClientPort,
    etcdPeerPort,
    registryPort,
    masterAddress,
    privateInterface,
    fleetMetadata,
    ntpServers,
    applicationPorts,
    fleet,
    etcd,
    registryImage: raw['registry-image'],
    extraUnits,
    format,
    output,
    channel,
    downloadImage,
    imageBaseUrl,
    imageSigningKey,
  };
}

/** Reads the inputs from the runner (INPUT_*), with the action.yml defaults when absent. */
export function getInputs(): Settings {
  const raw = {} as Inputs;
  for (const name of INPUT_NAMES) {
    raw[name] = core.getInput(name, { trimWhitespace: true }) || (DEFAULTS[name] ?? '');
  }
  return parseInputs(raw);
}
