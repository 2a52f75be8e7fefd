import * as net from 'node:net';
import { parse as parseYaml } from 'yaml';
import { isPrivateAddress } from '../../core/src/host-port.js';
import { schemaFindings } from './cloud-config-schema.js';
import {
  DOCKER_DAEMON_JSON,
  ETCD_UNIT,
  FLEET_CONF,
  IP6TABLES_RULES,
  IPTABLES_RULES,
  REGISTRY_UNIT,
  SSHD_CONFIG,
  TIMESYNCD_CONF,
  type Unit,
  type WriteFile,
} from './cloud-config-types.js';

/**
 * The lock-down audit of a cluster cloud-config: ten points, each checked on the cloud-config
 * text alone and reported as pass/fail with its reason. make-iso runs it on everything it writes;
 * `arch-core audit-cloud-config FILE` runs it on anyone's file.
 *
 * It reads what Flatcar's coreos-cloudinit acts on: underscore keys only (a hyphenated
 * `drop-ins` is ignored there, so it counts as absent), unit contents, drop-ins and write_files
 * contents. docs/dev/tool-facts.md has the background on the underscore keys.
 */

export interface AuditPoint {
  point: number;
  title: string;
  pass: boolean;
  reason: string;
}

export interface AuditResult {
  role: 'master' | 'slave';
  points: AuditPoint[];
  /** Schema findings (unknown keys, wrong types); any finding fails the audit. */
  schema: string[];
  passed: boolean;
}

export interface AuditOptions {
  /** Accept SSH on port 22 (make-iso's `allow-default-ports: true`). */
  allowDefaultPorts?: boolean;
}

interface Parsed {
  units: Unit[];
  files: WriteFile[];
  config: Record<string, unknown>;
}

const STARTING_COMMANDS = [
  'start',
  'restart',
  'reload-or-restart',
  'try-restart',
  'reload-or-try-restart',
];

/** systemd unit text → section → key → values in order (continuation lines joined). */
export function parseUnitText(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current = new Map<string, string[]>();
  const lines = text.replace(/\\\n/g, ' ').split('\n');
  for (const raw of lines) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      current = sections.get(header[1] as string) ?? new Map<string, string[]>();
      sections.set(header[1] as string, current);
      continue;
    }
    const equals = line.indexOf('=');
    if (equals < 0) continue;
    const key = line.slice(0, equals).trim();
    const values = current.get(key) ?? [];
    values.push(line.slice(equals + 1).trim());
    current.set(key, values);
  }
  return sections;
}

function unitValues(unit: Unit | undefined, section: string, key: string): string[] {
  if (!unit) return [];
  const texts = [
    unit.content ?? '',
    ...(unit.drop_ins ?? []).map((dropIn) => dropIn.content ?? ''),
  ];
  const values: string[] = [];
  for (const text of texts) values.push(...(parseUnitText(text).get(section)?.get(key) ?? []));
  return values;
}

/** Splits a command line the way systemd does for ExecStart (double and single quotes). */
export function splitCommand(line: string): string[] {
  const words: string[] = [];
  const pattern = /"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g;
  for (const match of line.matchAll(pattern)) {
    words.push(match[1] ?? match[2] ?? match[3] ?? '');
  }
  return words;
}

/** `--name=value` / `--name value` / `-name=value` flags of an argv. */
function flagsOf(argv: string[]): Map<string, string> {
  const flags = new Map<string, string>();
  for (let index = 0; index < argv.length; index++) {
    const word = argv[index] as string;
    const match = /^--?([A-Za-z0-9][A-Za-z0-9-]*)(?:=(.*))?$/.exec(word);
    if (!match) continue;
    const name = match[1] as string;
    if (match[2] !== undefined) {
      flags.set(name, match[2]);
    } else {
      const next = argv[index + 1];
      if (next !== undefined && !next.startsWith('-')) {
        flags.set(name, next);
        index++;
      } else {
        flags.set(name, 'true');
      }
    }
  }
  return flags;
}

function portOfUrl(url: string): number | undefined {
  try {
    const port = Number(new URL(url).port);
    return port > 0 ? port : undefined;
  } catch {
    return undefined;
  }
}

function hostOfUrl(url: string): string | undefined {
  try {
    return new URL(url).hostname.replace(/^\[|\]$/g, '');
  } catch {
    return undefined;
  }
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || (net.isIPv4(host) && host.startsWith('127.'));
}

function parse(text: string): Parsed | string {
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (error) {
    return `not valid YAML: ${(error as Error).message.split('\n')[0]}`;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return 'not a cloud-config mapping';
  }
  const config = value as Record<string, unknown>;
  const coreos = (config.coreos ?? {}) as Record<string, unknown>;
  const units = (Array.isArray(coreos.units) ? coreos.units : []).filter(
    (unit): unit is Unit =>
      typeof unit === 'object' && unit !== null && typeof unit.name === 'string',
  );
  const files = (Array.isArray(config.write_files) ? config.write_files : []).filter(
    (file): file is WriteFile =>
      typeof file === 'object' && file !== null && typeof file.path === 'string',
  );
  return { units, files, config };
}

function fileContent(parsed: Parsed, path: string): string | undefined {
  const file = parsed.files.filter((entry) => entry.path === path).pop();
  if (!file) return undefined;
  const content = typeof file.content === 'string' ? file.content : '';
  if (file.encoding === 'b64' || file.encoding === 'base64') {
    return Buffer.from(content, 'base64').toString('utf8');
  }
  return file.encoding ? undefined : content;
}

function unit(parsed: Parsed, name: string): Unit | undefined {
  return parsed.units.filter((entry) => entry.name === name).pop();
}

function startsAtBoot(parsed: Parsed, name: string): string | undefined {
  const target = unit(parsed, name);
  if (target?.mask === true) return undefined;
  if (target?.enable === true) return 'enable: true';
  if (target?.command && STARTING_COMMANDS.includes(target.command)) {
    return `command: ${target.command}`;
  }
  for (const other of parsed.units) {
    if (other.name === name) continue;
    for (const key of ['Requires', 'Wants', 'BindsTo', 'Requisite', 'Upholds']) {
      const listed = unitValues(other, 'Unit', key).flatMap((value) => value.split(/\s+/));
      if (listed.includes(name) && startsAtBoot(parsed, other.name)) {
        return `${other.name} (started at boot) has ${key}=${name}`;
      }
    }
  }
  return undefined;
}

function parseFleetConf(text: string | undefined): Map<string, string> {
  const settings = new Map<string, string>();
  for (const raw of (text ?? '').split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const equals = line.indexOf('=');
    if (equals > 0) settings.set(line.slice(0, equals).trim(), line.slice(equals + 1).trim());
  }
  return settings;
}

function fleetEtcdServers(parsed: Parsed): string[] {
  const value = parseFleetConf(fileContent(parsed, FLEET_CONF)).get('etcd_servers');
  if (!value) return [];
  try {
    const list = JSON.parse(value) as unknown;
    return Array.isArray(list) ? list.map(String) : [];
  } catch {
    return value.split(',').map((entry) => entry.replace(/["[\]\s]/g, ''));
  }
}

/** The etcd unit's effective flags: ExecStart flags over ETCD_* Environment= settings. */
function etcdFlags(parsed: Parsed): Map<string, string> | undefined {
  const etcd = unit(parsed, ETCD_UNIT);
  if (!etcd) return undefined;
  const flags = new Map<string, string>();
  for (const environment of unitValues(etcd, 'Service', 'Environment')) {
    for (const assignment of splitCommand(environment)) {
      const match = /^ETCD_([A-Z0-9_]+)=(.*)$/.exec(assignment);
      if (match)
        flags.set((match[1] as string).toLowerCase().replace(/_/g, '-'), match[2] as string);
    }
  }
  const exec = unitValues(etcd, 'Service', 'ExecStart')
    .filter((line) => line !== '')
    .pop();
  if (exec) for (const [name, value] of flagsOf(splitCommand(exec))) flags.set(name, value);
  return flags;
}

interface Rule {
  text: string;
  chain: string;
  target: string;
  options: Map<string, string>;
}

function parseRules(text: string | undefined): { policy?: string; rules: Rule[] } | undefined {
  if (text === undefined) return undefined;
  let inFilter = false;
  let policy: string | undefined;
  const rules: Rule[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('*')) inFilter = line === '*filter';
    if (!inFilter) continue;
    const chain = /^:INPUT\s+(\S+)/.exec(line);
    if (chain) policy = chain[1];
    if (!line.startsWith('-A ')) continue;
    const words = splitCommand(line);
    const options = new Map<string, string>();
    for (let index = 2; index < words.length; index++) {
      const word = words[index] as string;
      if (word.startsWith('-')) {
        const next = words[index + 1];
        if (next !== undefined && !next.startsWith('-')) {
          options.set(word, next);
          index++;
        } else {
          options.set(word, '');
        }
      }
    }
    rules.push({ text: line, chain: words[1] ?? '', target: options.get('-j') ?? '', options });
  }
  return { policy, rules };
}

/** Ports the config's own services use: a rule may open them only on the private side. */
interface ServicePorts {
  ssh?: number;
  cluster: Map<number, string>;
}

function firewallFindings(
  label: string,
  rules: ReturnType<typeof parseRules>,
  ports: ServicePorts,
  privateHosts: string[],
): { problems: string[]; open: string[] } {
  const problems: string[] = [];
  const open: string[] = [];
  if (!rules) return { problems: [`${label} has no rule set`], open };
  if (rules.policy !== 'DROP')
    problems.push(`${label}: the INPUT policy is ${rules.policy ?? 'unset'}, not DROP`);
  for (const rule of rules.rules) {
    if (rule.chain !== 'INPUT' || rule.target !== 'ACCEPT') continue;
    const o = rule.options;
    if (o.get('-i') === 'lo') continue;
    const state = o.get('--ctstate') ?? o.get('--state') ?? '';
    if (state && state.split(',').every((s) => s === 'RELATED' || s === 'ESTABLISHED')) continue;
    const protocol = o.get('-p') ?? '';
    if (['icmp', 'ipv6-icmp', 'icmpv6'].includes(protocol) && !o.has('--dport')) continue;
    const source = o.get('-s') ?? '';
    const destination = o.get('-d') ?? '';
    const linkLocal = (cidr: string) => /^fe80:/i.test(cidr) || cidr.startsWith('169.254.');
    if (linkLocal(source) || linkLocal(destination)) continue;
    const privateSide =
      (o.has('-i') && o.get('-i') !== '') ||
      privateHosts.some((host) => destination === host || destination === `${host}/32`);
    const dport = Number(o.get('--dport') ?? o.get('--destination-port') ?? NaN);
    if (!Number.isInteger(dport)) {
      if (!privateSide) problems.push(`${label} accepts everything: ${rule.text}`);
      continue;
    }
    if (dport === ports.ssh && protocol === 'tcp') {
      open.push(`${dport}/tcp (ssh)`);
      continue;
    }
    const service = ports.cluster.get(dport);
    if (service !== undefined) {
      if (!privateSide)
        problems.push(`${label} opens the ${service} port ${dport} publicly: ${rule.text}`);
      continue;
    }
    if (!privateSide) open.push(`${dport}/${protocol || 'any'} (application)`);
  }
  return { problems, open };
}

/** What the checks read: the parsed config and the facts several points share. */
interface Facts {
  parsed: Parsed;
  role: 'master' | 'slave';
  options: AuditOptions;
  etcdServers: string[];
  masterHost: string | undefined;
  /** The etcd unit's effective flags; undefined when there is no etcd unit. */
  etcdFlags: Map<string, string> | undefined;
  etcdClientUrls: string[];
  etcdPeerUrls: string[];
  registryAddress: string | undefined;
  /** The master's own address, where its cluster ports may be open; empty on a slave. */
  privateHosts: string[];
  ssh: SshListen;
  /** The one port SSH listens on; undefined when the sshd.socket drop-in is ignored. */
  sshPort: number | undefined;
}

/** How sshd.socket listens: its ListenStream= values and the ones after the last reset. */
interface SshListen {
  socket: Unit | undefined;
  /** The drop-in is written as "drop-ins", which coreos-cloudinit ignores. */
  hyphenated: boolean;
  listen: string[];
  resetAt: number;
  afterReset: string[];
  port: number | undefined;
}

function sshListen(parsed: Parsed): SshListen {
  const socket = unit(parsed, 'sshd.socket');
  const listen = unitValues(socket, 'Socket', 'ListenStream');
  const resetAt = listen.lastIndexOf('');
  const afterReset = listen.slice(resetAt + 1);
  const ports = afterReset.map((value) => Number(/(\d+)$/.exec(value)?.[1] ?? NaN));
  return {
    socket,
    hyphenated: socket !== undefined && 'drop-ins' in socket && !socket.drop_ins,
    listen,
    resetAt,
    afterReset,
    port: ports.length === 1 ? ports[0] : undefined,
  };
}

function gatherFacts(parsed: Parsed, options: AuditOptions): Facts {
  const role = unit(parsed, ETCD_UNIT) || unit(parsed, REGISTRY_UNIT) ? 'master' : 'slave';
  const etcdServers = fleetEtcdServers(parsed);
  const masterHost = etcdServers.map(hostOfUrl).find((host) => host !== undefined);
  const flags = etcdFlags(parsed);
  const registry = unit(parsed, REGISTRY_UNIT);
  const registryAddress = /REGISTRY_HTTP_ADDR=([^\s"']+)/.exec(
    [registry?.content ?? '', ...(registry?.drop_ins ?? []).map((d) => d.content ?? '')].join('\n'),
  )?.[1];
  const ssh = sshListen(parsed);
  return {
    parsed,
    role,
    options,
    etcdServers,
    masterHost,
    etcdFlags: flags,
    etcdClientUrls: (flags?.get('listen-client-urls') ?? '').split(',').filter(Boolean),
    etcdPeerUrls: (flags?.get('listen-peer-urls') ?? '').split(',').filter(Boolean),
    registryAddress,
    privateHosts: masterHost && role === 'master' ? [masterHost] : [],
    ssh,
    sshPort: ssh.hyphenated ? undefined : ssh.port,
  };
}

/** The private address on a master (its own), any private address on a slave. */
function isPrivateFor(facts: Facts, host: string): boolean {
  return facts.privateHosts.length > 0 ? facts.privateHosts.includes(host) : isPrivateAddress(host);
}

interface Verdict {
  pass: boolean;
  reason: string;
}

/** Passes with `success` when there are no problems, else fails naming them all. */
function verdict(problems: string[], success: string): Verdict {
  return problems.length === 0
    ? { pass: true, reason: success }
    : { pass: false, reason: problems.join('; ') };
}

const fail = (reason: string): Verdict => ({ pass: false, reason });

function checkSshPort({ parsed, ssh, options }: Facts): Verdict {
  if (ssh.hyphenated) {
    return fail(
      'the sshd.socket drop-in is written as "drop-ins", which Flatcar\'s coreos-cloudinit ignores since 2024 (SSH stays on port 22); write "drop_ins"',
    );
  }
  const sshdService = startsAtBoot(parsed, 'sshd.service');
  if (!ssh.socket || ssh.listen.length === 0) {
    return fail('no sshd.socket drop-in sets ListenStream: SSH listens on the default port 22');
  }
  if (ssh.resetAt < 0) {
    return fail(
      `sshd.socket adds ListenStream=${ssh.listen.join(', ')} without an empty ListenStream= first, so port 22 stays open too`,
    );
  }
  if (ssh.afterReset.length !== 1 || ssh.port === undefined || !Number.isInteger(ssh.port)) {
    return fail(
      `sshd.socket must listen on exactly one port after the reset; it has ${ssh.afterReset.join(', ') || 'none'}`,
    );
  }
  if (ssh.port === 22 && !options.allowDefaultPorts)
    return fail('SSH listens on the default port 22');
  if (sshdService) {
    return fail(`sshd.service also starts at boot (${sshdService}) and listens on port 22`);
  }
  return {
    pass: true,
    reason: `sshd.socket resets ListenStream= and listens only on port ${ssh.port}`,
  };
}

const LOGIN_KEYWORDS = [
  'passwordauthentication',
  'kbdinteractiveauthentication',
  'challengeresponseauthentication',
  'permitrootlogin',
];

/** What sshd_config allows: its global settings (the first value wins) must close every door. */
function sshdConfigProblems(text: string | undefined): string[] {
  if (text === undefined)
    return [`${SSHD_CONFIG} is not written (the image's default allows more)`];
  const problems: string[] = [];
  const global = new Map<string, string>();
  let inMatch = false;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '') continue;
    const [keyword = '', ...rest] = line.split(/\s+/);
    const key = keyword.toLowerCase();
    const value = rest.join(' ');
    if (key === 'match') inMatch = true;
    if (inMatch) {
      if (LOGIN_KEYWORDS.includes(key) && value.toLowerCase() !== 'no') {
        problems.push(`a Match block sets ${keyword} ${value}`);
      }
      continue;
    }
    if (!global.has(key)) global.set(key, value);
  }
  const want = (key: string, label: string) => {
    const value = global.get(key);
    if (value?.toLowerCase() !== 'no')
      problems.push(`${label} is ${value ?? 'not set (default yes)'}`);
  };
  want('passwordauthentication', 'PasswordAuthentication');
  // ChallengeResponseAuthentication is the older name of KbdInteractiveAuthentication.
  const olderNameSaysNo =
    global.get('kbdinteractiveauthentication') === undefined &&
    global.get('challengeresponseauthentication')?.toLowerCase() === 'no';
  if (!olderNameSaysNo) want('kbdinteractiveauthentication', 'KbdInteractiveAuthentication');
  want('permitrootlogin', 'PermitRootLogin');
  if (global.get('allowusers') !== 'core')
    problems.push(`AllowUsers is ${global.get('allowusers') ?? 'not set'}, not core`);
  return problems;
}

function checkLogin({ parsed }: Facts): Verdict {
  const problems = sshdConfigProblems(fileContent(parsed, SSHD_CONFIG));
  const keys = Array.isArray(parsed.config.ssh_authorized_keys)
    ? parsed.config.ssh_authorized_keys.length
    : 0;
  const users = Array.isArray(parsed.config.users)
    ? (parsed.config.users as Array<Record<string, unknown>>)
    : [];
  const coreKeys = users
    .filter((user) => user.name === 'core')
    .flatMap((user) =>
      Array.isArray(user.ssh_authorized_keys) ? user.ssh_authorized_keys : [],
    ).length;
  if (keys + coreKeys === 0) problems.push('no ssh_authorized_keys for core');
  for (const user of users)
    if (typeof user.passwd === 'string')
      problems.push(`user ${String(user.name)} has a password hash`);
  if ('ssh-authorized-keys' in parsed.config)
    problems.push('"ssh-authorized-keys" is hyphenated and ignored by Flatcar\'s coreos-cloudinit');
  return verdict(
    problems,
    `public keys only (${keys + coreKeys} key(s)); passwords, keyboard-interactive and root login off; AllowUsers core`,
  );
}

function checkTime({ parsed }: Facts): Verdict {
  const ntpd = unit(parsed, 'ntpd.service');
  const timesyncd = startsAtBoot(parsed, 'systemd-timesyncd.service');
  const problems: string[] = [];
  if (ntpd?.mask !== true) problems.push('ntpd.service is not masked');
  const ntpdStarts =
    startsAtBoot(parsed, 'ntpd.service') ?? (ntpd?.enable ? 'enable: true' : undefined);
  if (ntpdStarts) problems.push(`ntpd.service is started (${ntpdStarts})`);
  if (!timesyncd) problems.push('systemd-timesyncd.service is not enabled');
  const servers = parseUnitText(fileContent(parsed, TIMESYNCD_CONF) ?? '')
    .get('Time')
    ?.get('NTP')
    ?.join(' ');
  return verdict(
    problems,
    `ntpd masked; systemd-timesyncd enabled (${servers ? `NTP=${servers}` : "the distribution's servers"})`,
  );
}

function checkEtcd(facts: Facts): Verdict {
  const flags = facts.etcdFlags;
  if (!flags) return { pass: true, reason: "no etcd on this machine (a slave uses the master's)" };
  const problems: string[] = [];
  if (facts.etcdClientUrls.length === 0) problems.push('listen-client-urls is not set');
  for (const url of facts.etcdClientUrls) {
    const host = hostOfUrl(url) ?? url;
    if (!isLoopback(host) && !isPrivateFor(facts, host))
      problems.push(`clients are served on ${url}, not only the private address and loopback`);
  }
  for (const url of facts.etcdPeerUrls) {
    const host = hostOfUrl(url) ?? url;
    if (!isLoopback(host)) problems.push(`the peer port listens on ${url}, not loopback`);
  }
  const cluster = (flags.get('initial-cluster') ?? '').split(',').filter(Boolean);
  if (cluster.length > 1) problems.push(`initial-cluster has ${cluster.length} members, not one`);
  for (const member of cluster) {
    const host = hostOfUrl(member.slice(member.indexOf('=') + 1)) ?? '';
    if (!isLoopback(host)) problems.push(`the member's peer URL ${member} is not loopback`);
  }
  if (flags.has('discovery') || flags.has('discovery-srv'))
    problems.push('discovery is configured (peers)');
  if (!['true', '1'].includes(flags.get('enable-v2') ?? ''))
    problems.push('--enable-v2 is not on (fleet needs the v2 API)');
  return verdict(
    problems,
    `single member, v2 API, clients on ${facts.etcdClientUrls.join(' ')}, peer port on loopback only`,
  );
}

function checkFleet({
  parsed,
  role,
  etcdServers,
  etcdFlags: flags,
  etcdClientUrls,
}: Facts): Verdict {
  const problems: string[] = [];
  const socket = unit(parsed, 'fleet.socket');
  const listen = unitValues(socket, 'Socket', 'ListenStream').filter((value) => value !== '');
  if (!socket || listen.length === 0) problems.push('no fleet.socket with a unix ListenStream');
  for (const value of listen)
    if (!value.startsWith('/')) problems.push(`fleet.socket listens on ${value} (a TCP API)`);
  for (const key of ['ListenDatagram', 'ListenSequentialPacket']) {
    if (unitValues(socket, 'Socket', key).some(Boolean)) problems.push(`fleet.socket has ${key}`);
  }
  if (!unit(parsed, 'fleet.service')) problems.push('no fleet.service');
  if (etcdServers.length === 0) problems.push(`${FLEET_CONF} sets no etcd_servers`);
  for (const server of etcdServers) {
    const host = hostOfUrl(server) ?? server;
    if (!isPrivateAddress(host) && !isLoopback(host))
      problems.push(`fleet talks to etcd at ${server}, not a private address`);
    const listensThere = etcdClientUrls.some(
      (url) => hostOfUrl(url) === host && portOfUrl(url) === portOfUrl(server),
    );
    if (role === 'master' && flags && !listensThere) {
      problems.push(
        `fleet's etcd ${server} is not where this master's etcd listens (${etcdClientUrls.join(' ')})`,
      );
    }
  }
  return verdict(problems, `API on ${listen.join(' ')} only; etcd at ${etcdServers.join(' ')}`);
}

function checkReboots({ parsed }: Facts): Verdict {
  const coreos = (parsed.config.coreos ?? {}) as Record<string, unknown>;
  const update = (coreos.update ?? {}) as Record<string, unknown>;
  const problems: string[] = [];
  if ('reboot-strategy' in update)
    problems.push('"reboot-strategy" is hyphenated and ignored by Flatcar\'s coreos-cloudinit');
  if (update.reboot_strategy !== 'off')
    problems.push(
      `coreos.update.reboot_strategy is ${String(update.reboot_strategy ?? 'unset')}, not "off"`,
    );
  if (unit(parsed, 'locksmithd.service')?.mask !== true)
    problems.push('locksmithd.service is not masked');
  return verdict(problems, 'reboot_strategy off; locksmithd masked');
}

function checkNotStartedAtBoot({ parsed, role }: Facts): Verdict {
  const problems: string[] = [];
  const present: string[] = [];
  for (const name of [ETCD_UNIT, REGISTRY_UNIT]) {
    if (!unit(parsed, name)) continue;
    present.push(name);
    const how = startsAtBoot(parsed, name);
    if (how) problems.push(`${name} starts at boot (${how})`);
  }
  if (role === 'master' && present.length < 2)
    problems.push(
      `the master lacks ${[ETCD_UNIT, REGISTRY_UNIT].filter((name) => !present.includes(name)).join(' and ')}`,
    );
  return verdict(
    problems,
    present.length
      ? `${present.join(' and ')} installed, not started at boot (deploy-fleet starts them)`
      : 'no etcd or registry on this machine',
  );
}

/** Where the master's registry listens; undefined when it is not pinned. */
function masterRegistryProblems(facts: Facts, problems: string[]): string | undefined {
  let registryHostPort: string | undefined;
  if (!facts.registryAddress) {
    problems.push(`${REGISTRY_UNIT} does not pin REGISTRY_HTTP_ADDR to the private address`);
  } else {
    const host = facts.registryAddress.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
    if (!isPrivateFor(facts, host))
      problems.push(`the registry listens on ${facts.registryAddress}, not the private address`);
    registryHostPort = facts.registryAddress;
  }
  if (/\s-p\s|--publish/.test(unit(facts.parsed, REGISTRY_UNIT)?.content ?? ''))
    problems.push(
      'the registry container publishes ports (use --network host with REGISTRY_HTTP_ADDR)',
    );
  return registryHostPort;
}

function checkRegistry(facts: Facts): Verdict {
  const problems: string[] = [];
  const registryHostPort =
    facts.role === 'master' ? masterRegistryProblems(facts, problems) : undefined;
  let insecure: string[] = [];
  try {
    insecure =
      ((
        JSON.parse(fileContent(facts.parsed, DOCKER_DAEMON_JSON) ?? '{}') as Record<string, unknown>
      )['insecure-registries'] as string[] | undefined) ?? [];
  } catch {
    problems.push(`${DOCKER_DAEMON_JSON} is not valid JSON`);
  }
  if (insecure.length === 0)
    problems.push('Docker is not told to pull from the master registry (no insecure-registries)');
  for (const entry of insecure) {
    const host = entry.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
    if (entry.includes('/') || !isPrivateAddress(host))
      problems.push(`insecure-registries has ${entry}, not a private address`);
    else if (facts.masterHost && host !== facts.masterHost)
      problems.push(`insecure-registries has ${entry}, not the master ${facts.masterHost}`);
    else if (registryHostPort && entry !== registryHostPort)
      problems.push(
        `insecure-registries has ${entry}, but the registry listens on ${registryHostPort}`,
      );
  }
  return verdict(
    problems,
    `${facts.role === 'master' ? `registry on ${registryHostPort}; ` : ''}Docker pulls from ${insecure.join(' ')}`,
  );
}

function checkFirewall(facts: Facts): Verdict {
  const { parsed } = facts;
  const cluster = new Map<number, string>();
  const etcdClientPort = facts.etcdClientUrls.map(portOfUrl).find(Boolean);
  if (etcdClientPort) cluster.set(etcdClientPort, 'etcd client');
  for (const url of facts.etcdPeerUrls) {
    const port = portOfUrl(url);
    if (port) cluster.set(port, 'etcd peer');
  }
  const registryPort = Number(facts.registryAddress?.split(':').pop());
  if (registryPort) cluster.set(registryPort, 'registry');
  const ports: ServicePorts = { ssh: facts.sshPort, cluster };
  const v4 = firewallFindings(
    'iptables',
    parseRules(fileContent(parsed, IPTABLES_RULES)),
    ports,
    facts.privateHosts,
  );
  const v6 = firewallFindings(
    'ip6tables',
    parseRules(fileContent(parsed, IP6TABLES_RULES)),
    ports,
    [],
  );
  const problems = [...v4.problems, ...v6.problems];
  for (const service of ['iptables-restore.service', 'ip6tables-restore.service']) {
    if (!startsAtBoot(parsed, service))
      problems.push(`${service} is not enabled, so the rules are never loaded`);
  }
  if (!v4.open.some((entry) => entry.endsWith('(ssh)')))
    problems.push('the rules do not let SSH in');
  const open = [...new Set([...v4.open, ...v6.open])];
  return verdict(
    problems,
    `INPUT policy DROP; public: ${open.join(', ')}; cluster ports only on the private side`,
  );
}

function checkSshRecovery({ parsed, etcdServers }: Facts): Verdict {
  const fleetStarts = startsAtBoot(parsed, 'fleet.service') ?? startsAtBoot(parsed, 'fleet.socket');
  const problems: string[] = [];
  if (!fleetStarts)
    problems.push('fleet does not start at boot, so a closed SSH could not be brought back');
  if (etcdServers.length === 0) problems.push('fleet has no etcd to poll');
  return verdict(
    problems,
    'fleet starts at boot and polls etcd: an sshd unit submitted in an update window reopens SSH (make-iso README, "Closing SSH")',
  );
}

/** The ten points, in the order they are reported. */
const POINTS: Array<{ point: number; title: string; check: (facts: Facts) => Verdict }> = [
  { point: 1, title: 'SSH listens only on its own port', check: checkSshPort },
  {
    point: 2,
    title: 'keys only: no password, keyboard-interactive or root login; only core',
    check: checkLogin,
  },
  { point: 3, title: 'ntpd masked, systemd-timesyncd enabled', check: checkTime },
  {
    point: 4,
    title: 'etcd: single member, clients on the private address and loopback only',
    check: checkEtcd,
  },
  { point: 5, title: 'fleet: unix socket API only, talks to the master etcd', check: checkFleet },
  {
    point: 6,
    title: 'no reboot coordination (update reboots off, locksmithd masked)',
    check: checkReboots,
  },
  {
    point: 7,
    title: 'etcd and the registry are installed but not started at boot',
    check: checkNotStartedAtBoot,
  },
  {
    point: 8,
    title: 'registry on the private address; Docker pulls from it',
    check: checkRegistry,
  },
  {
    point: 9,
    title: 'SSH is the only non-application port on the public interface',
    check: checkFirewall,
  },
  { point: 10, title: 'SSH can be closed and brought back through fleet', check: checkSshRecovery },
];

/** Audits one cloud-config text against the ten points; schema findings fail it as well. */
export function auditCloudConfig(text: string, options: AuditOptions = {}): AuditResult {
  const schema = schemaFindings(text);
  const parsed = parse(text);
  if (typeof parsed === 'string') {
    const points = POINTS.map(({ point, title }) => ({
      point,
      title,
      pass: false,
      reason: parsed,
    }));
    return { role: 'slave', points, schema, passed: false };
  }
  const facts = gatherFacts(parsed, options);
  const points = POINTS.map(({ point, title, check }) => ({ point, title, ...check(facts) }));
  const passed = schema.length === 0 && points.every((point) => point.pass);
  return { role: facts.role, points, schema, passed };
}

/** The audit as a plain-text table: one line per point, then the schema findings. */
export function formatAudit(result: AuditResult, label: string): string {
  const lines = [`${label} (${result.role}): ${result.passed ? 'PASS' : 'FAIL'}`];
  for (const point of result.points) {
    lines.push(
      `  ${point.pass ? 'pass' : 'FAIL'} ${String(point.point).padStart(2)}. ${point.title}: ${point.reason}`,
    );
  }
  if (result.schema.length === 0)
    lines.push('  pass schema: only known coreos-cloudinit keys, of the right types');
  for (const finding of result.schema) lines.push(`  FAIL schema: ${finding}`);
  return lines.join('\n');
}
