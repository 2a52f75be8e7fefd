import * as net from 'node:net';
import { parse as parseYaml } from 'yaml';
import { schemaFindings } from './cloud-config-schema.js';

/**
 * The lock-down audit of a cluster cloud-config (make-iso's contract, issue 5): the ten points
 * the original project promised, each checked on the cloud-config text alone and reported as
 * pass/fail with its reason. make-iso runs it on everything it writes; `arch-core
 * audit-cloud-config FILE` runs it on anyone's file.
 *
 * The audit reads what coreos-cloudinit on Flatcar would act on: underscore keys only (a
 * hyphenated `drop-ins` is ignored there since 2024, so it counts as absent), unit contents,
 * drop-ins and write_files contents.
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

export const AUDIT_TITLES: Record<number, string> = {
  1: 'SSH listens only on its own port',
  2: 'keys only: no password, keyboard-interactive or root login; only core',
  3: 'ntpd masked, systemd-timesyncd enabled',
  4: 'etcd: single member, clients on the private address and loopback only',
  5: 'fleet: unix socket API only, talks to the master etcd',
  6: 'no reboot coordination (update reboots off, locksmithd masked)',
  7: 'etcd and the registry are installed but not started at boot',
  8: 'registry on the private address; Docker pulls from it',
  9: 'SSH is the only non-application port on the public interface',
  10: 'SSH can be closed and brought back through fleet',
};

export const ETCD_UNIT = 'arch-core-etcd.service';
export const REGISTRY_UNIT = 'arch-core-registry.service';
export const FLEET_UNITS = ['fleet.service', 'fleet.socket'] as const;
export const FLEET_CONF = '/etc/fleet/fleet.conf';
export const SSHD_CONFIG = '/etc/ssh/sshd_config';
export const DOCKER_DAEMON_JSON = '/etc/docker/daemon.json';
export const IPTABLES_RULES = '/var/lib/iptables/rules-save';
export const IP6TABLES_RULES = '/var/lib/ip6tables/rules-save';

interface Unit {
  name: string;
  mask?: boolean;
  enable?: boolean;
  content?: string;
  command?: string;
  drop_ins?: Array<{ name?: string; content?: string }>;
  [key: string]: unknown;
}

interface WriteFile {
  path: string;
  content?: string;
  encoding?: string;
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
export function flagsOf(argv: string[]): Map<string, string> {
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

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || (net.isIPv4(host) && host.startsWith('127.'));
}

/** RFC 1918, shared (100.64/10) and link-local IPv4, ULA and link-local IPv6. */
export function isPrivateAddress(host: string): boolean {
  if (net.isIPv4(host)) {
    const [a, b] = host.split('.').map(Number) as [number, number];
    return (
      a === 10 ||
      (a === 172 && b >= 16 && b <= 31) ||
      (a === 192 && b === 168) ||
      (a === 100 && b >= 64 && b <= 127) ||
      (a === 169 && b === 254)
    );
  }
  if (net.isIPv6(host)) return /^f[cd]/i.test(host) || /^fe[89ab]/i.test(host);
  return false;
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

/** Audits one cloud-config text against the ten points; schema findings fail it as well. */
export function auditCloudConfig(text: string, options: AuditOptions = {}): AuditResult {
  const schema = schemaFindings(text);
  const parsed = parse(text);
  if (typeof parsed === 'string') {
    const points = Object.entries(AUDIT_TITLES).map(([point, title]) => ({
      point: Number(point),
      title,
      pass: false,
      reason: parsed,
    }));
    return { role: 'slave', points, schema, passed: false };
  }
  const role: 'master' | 'slave' =
    unit(parsed, ETCD_UNIT) || unit(parsed, REGISTRY_UNIT) ? 'master' : 'slave';
  const points: AuditPoint[] = [];
  const add = (point: number, pass: boolean, reason: string) =>
    points.push({ point, title: AUDIT_TITLES[point] as string, pass, reason });

  // Shared facts.
  const etcdServers = fleetEtcdServers(parsed);
  const masterHost = etcdServers.map(hostOfUrl).find((host) => host !== undefined);
  const flags = etcdFlags(parsed);
  const etcdClientUrls = (flags?.get('listen-client-urls') ?? '').split(',').filter(Boolean);
  const etcdClientPort = etcdClientUrls.map(portOfUrl).find(Boolean);
  const etcdPeerUrls = (flags?.get('listen-peer-urls') ?? '').split(',').filter(Boolean);
  const registryAddress = /REGISTRY_HTTP_ADDR=([^\s"']+)/.exec(
    [
      unit(parsed, REGISTRY_UNIT)?.content ?? '',
      ...(unit(parsed, REGISTRY_UNIT)?.drop_ins ?? []).map((d) => d.content ?? ''),
    ].join('\n'),
  )?.[1];
  const privateHosts = masterHost && role === 'master' ? [masterHost] : [];
  const isPrivate = (host: string) =>
    privateHosts.length > 0 ? privateHosts.includes(host) : isPrivateAddress(host);

  // 1. SSH port.
  let sshPort: number | undefined;
  {
    const sshd = unit(parsed, 'sshd.socket');
    if (sshd && 'drop-ins' in sshd && !sshd.drop_ins) {
      add(
        1,
        false,
        'the sshd.socket drop-in is written as "drop-ins", which Flatcar\'s coreos-cloudinit ignores since 2024 (SSH stays on port 22); write "drop_ins"',
      );
    } else {
      const listen = unitValues(sshd, 'Socket', 'ListenStream');
      const resetAt = listen.lastIndexOf('');
      const after = listen.slice(resetAt + 1);
      const ports = after.map((value) => Number(/(\d+)$/.exec(value)?.[1] ?? NaN));
      sshPort = ports.length === 1 ? ports[0] : undefined;
      const sshdService = startsAtBoot(parsed, 'sshd.service');
      if (!sshd || listen.length === 0) {
        add(
          1,
          false,
          'no sshd.socket drop-in sets ListenStream: SSH listens on the default port 22',
        );
      } else if (resetAt < 0) {
        add(
          1,
          false,
          `sshd.socket adds ListenStream=${listen.join(', ')} without an empty ListenStream= first, so port 22 stays open too`,
        );
      } else if (after.length !== 1 || sshPort === undefined || !Number.isInteger(sshPort)) {
        add(
          1,
          false,
          `sshd.socket must listen on exactly one port after the reset; it has ${after.join(', ') || 'none'}`,
        );
      } else if (sshPort === 22 && !options.allowDefaultPorts) {
        add(1, false, 'SSH listens on the default port 22');
      } else if (sshdService) {
        add(1, false, `sshd.service also starts at boot (${sshdService}) and listens on port 22`);
      } else {
        add(1, true, `sshd.socket resets ListenStream= and listens only on port ${sshPort}`);
      }
    }
  }

  // 2. Login methods.
  {
    const text2 = fileContent(parsed, SSHD_CONFIG);
    const problems: string[] = [];
    if (text2 === undefined) {
      problems.push(`${SSHD_CONFIG} is not written (the image's default allows more)`);
    } else {
      const global = new Map<string, string>();
      let inMatch = false;
      for (const raw of text2.split('\n')) {
        const line = raw.replace(/#.*$/, '').trim();
        if (line === '') continue;
        const [keyword = '', ...rest] = line.split(/\s+/);
        const key = keyword.toLowerCase();
        const value = rest.join(' ');
        if (key === 'match') inMatch = true;
        if (inMatch) {
          if (
            [
              'passwordauthentication',
              'kbdinteractiveauthentication',
              'challengeresponseauthentication',
              'permitrootlogin',
            ].includes(key) &&
            value.toLowerCase() !== 'no'
          ) {
            problems.push(`a Match block sets ${keyword} ${value}`);
          }
          continue;
        }
        if (!global.has(key)) global.set(key, value); // sshd: the first value wins
      }
      const want = (key: string, label: string) => {
        const value = global.get(key);
        if (value?.toLowerCase() !== 'no')
          problems.push(`${label} is ${value ?? 'not set (default yes)'}`);
      };
      want('passwordauthentication', 'PasswordAuthentication');
      if (
        global.get('kbdinteractiveauthentication') === undefined &&
        global.get('challengeresponseauthentication')?.toLowerCase() === 'no'
      ) {
        // the older name of the same setting
      } else {
        want('kbdinteractiveauthentication', 'KbdInteractiveAuthentication');
      }
      want('permitrootlogin', 'PermitRootLogin');
      if (global.get('allowusers') !== 'core')
        problems.push(`AllowUsers is ${global.get('allowusers') ?? 'not set'}, not core`);
    }
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
      problems.push(
        '"ssh-authorized-keys" is hyphenated and ignored by Flatcar\'s coreos-cloudinit',
      );
    add(
      2,
      problems.length === 0,
      problems.length
        ? problems.join('; ')
        : `public keys only (${keys + coreKeys} key(s)); passwords, keyboard-interactive and root login off; AllowUsers core`,
    );
  }

  // 3. Time.
  {
    const ntpd = unit(parsed, 'ntpd.service');
    const timesyncd = startsAtBoot(parsed, 'systemd-timesyncd.service');
    const problems: string[] = [];
    if (ntpd?.mask !== true) problems.push('ntpd.service is not masked');
    const ntpdStarts =
      startsAtBoot(parsed, 'ntpd.service') ?? (ntpd?.enable ? 'enable: true' : undefined);
    if (ntpdStarts) problems.push(`ntpd.service is started (${ntpdStarts})`);
    if (!timesyncd) problems.push('systemd-timesyncd.service is not enabled');
    const servers = parseUnitText(fileContent(parsed, '/etc/systemd/timesyncd.conf') ?? '')
      .get('Time')
      ?.get('NTP')
      ?.join(' ');
    add(
      3,
      problems.length === 0,
      problems.length
        ? problems.join('; ')
        : `ntpd masked; systemd-timesyncd enabled (${servers ? `NTP=${servers}` : "the distribution's servers"})`,
    );
  }

  // 4. etcd.
  if (!flags) {
    add(4, true, "no etcd on this machine (a slave uses the master's)");
  } else {
    const problems: string[] = [];
    if (etcdClientUrls.length === 0) problems.push('listen-client-urls is not set');
    for (const url of etcdClientUrls) {
      const host = hostOfUrl(url) ?? url;
      if (!isLoopback(host) && !isPrivate(host))
        problems.push(`clients are served on ${url}, not only the private address and loopback`);
    }
    for (const url of etcdPeerUrls) {
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
    add(
      4,
      problems.length === 0,
      problems.length
        ? problems.join('; ')
        : `single member, v2 API, clients on ${etcdClientUrls.join(' ')}, peer port on loopback only`,
    );
  }

  // 5. fleet.
  {
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
      if (
        role === 'master' &&
        flags &&
        !etcdClientUrls.some(
          (url) => hostOfUrl(url) === host && portOfUrl(url) === portOfUrl(server),
        )
      ) {
        problems.push(
          `fleet's etcd ${server} is not where this master's etcd listens (${etcdClientUrls.join(' ')})`,
        );
      }
    }
    add(
      5,
      problems.length === 0,
      problems.length
        ? problems.join('; ')
        : `API on ${listen.join(' ')} only; etcd at ${etcdServers.join(' ')}`,
    );
  }

  // 6. Reboots.
  {
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
    add(
      6,
      problems.length === 0,
      problems.length ? problems.join('; ') : 'reboot_strategy off; locksmithd masked',
    );
  }

  // 7. Not started at boot.
  {
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
    add(
      7,
      problems.length === 0,
      problems.length
        ? problems.join('; ')
        : present.length
          ? `${present.join(' and ')} installed, not started at boot (deploy-fleet starts them)`
          : 'no etcd or registry on this machine',
    );
  }

  // 8. Registry.
  {
    const problems: string[] = [];
    let registryHostPort: string | undefined;
    if (role === 'master') {
      if (!registryAddress) {
        problems.push(`${REGISTRY_UNIT} does not pin REGISTRY_HTTP_ADDR to the private address`);
      } else {
        const host = registryAddress.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
        if (!isPrivate(host))
          problems.push(`the registry listens on ${registryAddress}, not the private address`);
        registryHostPort = registryAddress;
      }
      if (/\s-p\s|--publish/.test(unit(parsed, REGISTRY_UNIT)?.content ?? ''))
        problems.push(
          'the registry container publishes ports (use --network host with REGISTRY_HTTP_ADDR)',
        );
    }
    let insecure: string[] = [];
    try {
      insecure =
        ((JSON.parse(fileContent(parsed, DOCKER_DAEMON_JSON) ?? '{}') as Record<string, unknown>)[
          'insecure-registries'
        ] as string[] | undefined) ?? [];
    } catch {
      problems.push(`${DOCKER_DAEMON_JSON} is not valid JSON`);
    }
    if (insecure.length === 0)
      problems.push('Docker is not told to pull from the master registry (no insecure-registries)');
    for (const entry of insecure) {
      const host = entry.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
      if (entry.includes('/') || !isPrivateAddress(host))
        problems.push(`insecure-registries has ${entry}, not a private address`);
      else if (masterHost && host !== masterHost)
        problems.push(`insecure-registries has ${entry}, not the master ${masterHost}`);
      else if (registryHostPort && entry !== registryHostPort)
        problems.push(
          `insecure-registries has ${entry}, but the registry listens on ${registryHostPort}`,
        );
    }
    add(
      8,
      problems.length === 0,
      problems.length
        ? problems.join('; ')
        : `${role === 'master' ? `registry on ${registryHostPort}; ` : ''}Docker pulls from ${insecure.join(' ')}`,
    );
  }

  // 9. Firewall.
  {
    const cluster = new Map<number, string>();
    if (etcdClientPort) cluster.set(etcdClientPort, 'etcd client');
    for (const url of etcdPeerUrls) {
      const port = portOfUrl(url);
      if (port) cluster.set(port, 'etcd peer');
    }
    const registryPort = Number(registryAddress?.split(':').pop());
    if (registryPort) cluster.set(registryPort, 'registry');
    const ports: ServicePorts = { ssh: sshPort, cluster };
    const v4 = firewallFindings(
      'iptables',
      parseRules(fileContent(parsed, IPTABLES_RULES)),
      ports,
      privateHosts,
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
    add(
      9,
      problems.length === 0,
      problems.length
        ? problems.join('; ')
        : `INPUT policy DROP; public: ${open.join(', ')}; cluster ports only on the private side`,
    );
  }

  // 10. Closing SSH / bringing it back through fleet.
  {
    const fleetStarts =
      startsAtBoot(parsed, 'fleet.service') ?? startsAtBoot(parsed, 'fleet.socket');
    const problems: string[] = [];
    if (!fleetStarts)
      problems.push('fleet does not start at boot, so a closed SSH could not be brought back');
    if (etcdServers.length === 0) problems.push('fleet has no etcd to poll');
    add(
      10,
      problems.length === 0,
      problems.length
        ? problems.join('; ')
        : 'fleet starts at boot and polls etcd: an sshd unit submitted in an update window reopens SSH (make-iso README, "Closing SSH")',
    );
  }

  const passed = schema.length === 0 && points.every((point) => point.pass);
  return { role, points, schema, passed };
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
