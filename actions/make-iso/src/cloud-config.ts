import { stringify } from 'yaml';
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
import type { Pinned, Role, Inputs } from './inputs.js';

/**
 * Pure: inputs + role → the cloud-config text in coreos-cloudinit format with underscore keys
 * (Flatcar ignores hyphenated ones; docs/dev/tool-facts.md). Same inputs, same bytes.
 */

export const ACTION_VERSION = '1.0.0';
export const INSTALLER_PATH = '/opt/arch-core/bin/arch-core-install';
export const FLEET_SOCKET_PATH = '/var/run/fleet.sock';

function lines(...text: string[]): string {
  return `${text.join('\n')}\n`;
}

export function sshdConfig(): string {
  return lines(
    '# arch-core lock-down (point 2): public keys only, no root, only the core user.',
    'Subsystem sftp internal-sftp',
    'ClientAliveInterval 180',
    'UseDNS no',
    'UsePAM yes',
    'PrintLastLog no',
    'PrintMotd no',
    'PermitRootLogin no',
    'AllowUsers core',
    'AuthenticationMethods publickey',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PermitEmptyPasswords no',
  );
}

/** The installer's exit status for an archive that does not match its pinned sha256. */
export const INSTALLER_REFUSED_STATUS = 65;

/**
 * The installer every machine runs from a oneshot unit: download, check sha256, install. It
 * retries every download or unpacking error itself, with a backoff, until it succeeds (curl's
 * own --retry skips refused connections); an archive that does not match the pinned sha256 is
 * refused for good with INSTALLER_REFUSED_STATUS.
 */
export function installerScript(): string {
  return lines(
    '#!/bin/bash',
    '# arch-core-install NAME URL SHA256 MEMBER...: installs pinned release binaries into /opt/bin',
    '# once their archive matches SHA256 (Flatcar ships neither fleet nor etcd). Idempotent.',
    '# Download and unpacking errors are retried with a backoff (5 s doubling to 5 min) until they',
    `# succeed; an archive that does not match SHA256 is refused (exit ${INSTALLER_REFUSED_STATUS}), never retried.`,
    'set -uo pipefail',
    'name=$1 url=$2 sha256=$3',
    'shift 3',
    'marker="/opt/arch-core/installed/$name-$sha256"',
    '[ -e "$marker" ] && exit 0',
    'work=$(mktemp -d /var/tmp/arch-core-install.XXXXXX) || exit 1',
    'trap \'rm -rf "$work"\' EXIT',
    '',
    '# One attempt: 0 installed, 1 worth retrying, 2 refused.',
    'attempt() {',
    '  rm -rf "${work:?}"/*',
    '  curl --fail --silent --show-error --location --connect-timeout 20 --max-time 900 \\',
    '    --output "$work/archive.tar.gz" "$url" || return 1',
    '  if ! echo "$sha256  $work/archive.tar.gz" | sha256sum --check --strict --quiet >&2; then',
    '    echo "arch-core-install: $url does not match sha256 $sha256; nothing installed, not retrying" >&2',
    '    return 2',
    '  fi',
    '  tar -xzf "$work/archive.tar.gz" -C "$work" --no-same-owner || return 1',
    '  mkdir -p /opt/bin /opt/arch-core/installed || return 1',
    '  for member in "$@"; do',
    '    found=$(find "$work" -type f -name "$member" | head -n 1)',
    '    [ -n "$found" ] || { echo "arch-core-install: no $member in $url; not retrying" >&2; return 2; }',
    '    install -m 0755 "$found" "/opt/bin/.$member.new" || return 1',
    '    mv -f "/opt/bin/.$member.new" "/opt/bin/$member" || return 1',
    '  done',
    '  rm -f "/opt/arch-core/installed/$name-"*',
    '  touch "$marker" || return 1',
    '}',
    '',
    'delay=5',
    'for ((try = 1; ; try++)); do',
    '  attempt "$@"',
    '  case $? in',
    '    0) echo "arch-core-install: $name installed from $url (attempt $try)" >&2; exit 0 ;;',
    `    2) exit ${INSTALLER_REFUSED_STATUS} ;;`,
    '  esac',
    '  echo "arch-core-install: $name: attempt $try failed; retrying in ${delay}s" >&2',
    '  sleep "$delay"',
    '  delay=$((delay * 2 > 300 ? 300 : delay * 2))',
    'done',
  );
}

/**
 * A oneshot that runs until its binaries are installed (no start timeout): units ordered after it
 * start once they are in place. Restart= only covers the script dying (killed, out of memory);
 * StartLimitIntervalSec=0 lets that repeat. A refused archive is not restarted.
 */
function installerUnit(what: string, pinned: Pinned, members: string[]): string {
  return lines(
    '[Unit]',
    `Description=Install ${what} ${pinned.version} (pinned by sha256; arch-core)`,
    'Wants=network-online.target',
    'After=network-online.target',
    'StartLimitIntervalSec=0',
    '',
    '[Service]',
    'Type=oneshot',
    'RemainAfterExit=yes',
    'TimeoutStartSec=infinity',
    `ExecStart=${INSTALLER_PATH} ${what} ${pinned.url} ${pinned.sha256} ${members.join(' ')}`,
    'Restart=on-failure',
    'RestartSec=30s',
    `RestartPreventExitStatus=${INSTALLER_REFUSED_STATUS}`,
  );
}

/**
 * A timer that starts `unit` a second after it is started: coreos-cloudinit waits for the result
 * of each `command: start` job, and a start of the unit itself would wait for its installer
 * through a whole download outage.
 */
export function backgroundStartTimer(unit: string): string {
  return lines(
    '[Unit]',
    `Description=Start ${unit} in the background (it waits for its installer; arch-core)`,
    '',
    '[Timer]',
    'OnActiveSec=1s',
    'AccuracySec=1s',
    `Unit=${unit}`,
  );
}

export function etcdUnit(inputs: Inputs): string {
  const client = `http://${inputs.masterAddress}:${inputs.etcdClientPort}`;
  const peer = `http://127.0.0.1:${inputs.etcdPeerPort}`;
  return lines(
    '[Unit]',
    '# arch-core lock-down (points 4, 7): one member, no peers, clients on the private address and',
    '# loopback only; no Install section: deploy-fleet starts it for an update and stops it after.',
    `Description=etcd ${inputs.etcd.version} with the v2 API for fleet (arch-core; runs only during updates)`,
    'Requires=arch-core-install-etcd.service',
    'After=arch-core-install-etcd.service network-online.target',
    '',
    '[Service]',
    'Type=notify',
    'DynamicUser=yes',
    'StateDirectory=arch-core-etcd',
    'ExecStart=/opt/bin/etcd \\',
    '  --name=master \\',
    '  --data-dir=/var/lib/arch-core-etcd \\',
    '  --enable-v2=true \\',
    `  --listen-client-urls=${client},http://127.0.0.1:${inputs.etcdClientPort} \\`,
    `  --advertise-client-urls=${client} \\`,
    `  --listen-peer-urls=${peer} \\`,
    `  --initial-advertise-peer-urls=${peer} \\`,
    `  --initial-cluster=master=${peer} \\`,
    '  --initial-cluster-state=new',
    'Restart=on-failure',
    'RestartSec=5s',
    'LimitNOFILE=40000',
  );
}

/** How long the registry lets requests finish after SIGTERM (below docker stop's 10 s). */
export const REGISTRY_DRAIN_TIMEOUT = '3s';

export function registryUnit(inputs: Inputs): string {
  const address = `${inputs.masterAddress}:${inputs.registryPort}`;
  return lines(
    '[Unit]',
    '# arch-core lock-down (points 7, 8): listens on the private address only; no Install',
    '# section: deploy-fleet starts it for an update and stops it after.',
    'Description=Image registry for the cluster (arch-core; runs only during updates)',
    'Requires=docker.service',
    'After=docker.service',
    '',
    '[Service]',
    'ExecStartPre=-/usr/bin/docker rm --force arch-core-registry',
    'ExecStart=/usr/bin/docker run --rm --name arch-core-registry --network host \\',
    `  --env REGISTRY_HTTP_ADDR=${address} \\`,
    '  --env REGISTRY_STORAGE_DELETE_ENABLED=true \\',
    // Without a drain timeout the registry exits 2 on SIGTERM, and docker run passes that on:
    // every stop would leave the unit failed (docs/dev/tool-facts.md).
    `  --env REGISTRY_HTTP_DRAINTIMEOUT=${REGISTRY_DRAIN_TIMEOUT} \\`,
    '  --volume /var/lib/arch-core-registry:/var/lib/registry \\',
    `  ${inputs.registryImage}`,
    'ExecStop=/usr/bin/docker stop arch-core-registry',
    'Restart=on-failure',
    'RestartSec=5s',
  );
}

export function fleetConf(inputs: Inputs, role: Role): string {
  const metadata = [['role', role] as [string, string], ...inputs.fleetMetadata[role]]
    .map(([key, value]) => `${key}=${value}`)
    .join(',');
  return lines(
    '# fleetd (arch-core lock-down, point 5): the API is served only on the unix socket',
    `# ${FLEET_SOCKET_PATH} (fleet.socket); etcd is the master's, reachable during updates.`,
    `etcd_servers=["http://${inputs.masterAddress}:${inputs.etcdClientPort}"]`,
    'etcd_request_timeout=3.0',
    `metadata="${metadata}"`,
  );
}

export function fleetSocket(): string {
  return lines(
    '[Unit]',
    'Description=fleet API on a unix socket only (no TCP API; arch-core)',
    '',
    '[Socket]',
    `ListenStream=${FLEET_SOCKET_PATH}`,
    'SocketMode=0660',
    'SocketUser=root',
    'SocketGroup=core',
    '',
    '[Install]',
    'WantedBy=sockets.target',
  );
}

export function fleetService(inputs: Inputs): string {
  return lines(
    '[Unit]',
    `Description=fleet ${inputs.fleet.version} (polls the master's etcd; arch-core)`,
    'Wants=network-online.target',
    'Requires=arch-core-install-fleet.service fleet.socket',
    'After=arch-core-install-fleet.service fleet.socket network-online.target',
    '',
    '[Service]',
    `ExecStart=/opt/bin/fleetd -config=${FLEET_CONF}`,
    'Restart=always',
    'RestartSec=10s',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
  );
}

/** Both tables' start: drop what comes in unless it is loopback or a reply. */
const FILTER_TABLE_START = [
  '*filter',
  ':INPUT DROP [0:0]',
  ':FORWARD ACCEPT [0:0]',
  ':OUTPUT ACCEPT [0:0]',
  '-A INPUT -i lo -j ACCEPT',
  '-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
];

export function iptablesRules(inputs: Inputs, role: Role): string {
  const rules = [
    '# arch-core lock-down (point 9): SSH and application ports are the only public ports.',
    ...FILTER_TABLE_START,
    '-A INPUT -p icmp -j ACCEPT',
    `-A INPUT -p tcp -m tcp --dport ${inputs.sshPort} -j ACCEPT`,
  ];
  if (role === 'master') {
    const side = inputs.privateInterface
      ? `-i ${inputs.privateInterface} -d ${inputs.masterAddress}/32`
      : `-d ${inputs.masterAddress}/32`;
    rules.push(
      `-A INPUT ${side} -p tcp -m tcp --dport ${inputs.etcdClientPort} -j ACCEPT`,
      `-A INPUT ${side} -p tcp -m tcp --dport ${inputs.registryPort} -j ACCEPT`,
    );
  }
  for (const entry of inputs.applicationPorts) {
    rules.push(
      `-A INPUT -p ${entry.protocol} -m ${entry.protocol} --dport ${entry.port} -j ACCEPT`,
    );
  }
  rules.push('COMMIT');
  return lines(...rules);
}

export function ip6tablesRules(inputs: Inputs): string {
  const rules = [
    '# arch-core lock-down (point 9): the cluster speaks IPv4; IPv6 lets in SSH and applications.',
    ...FILTER_TABLE_START,
    '-A INPUT -p ipv6-icmp -j ACCEPT',
    '-A INPUT -d fe80::/64 -p udp -m udp --dport 546 -j ACCEPT',
    `-A INPUT -p tcp -m tcp --dport ${inputs.sshPort} -j ACCEPT`,
  ];
  for (const entry of inputs.applicationPorts) {
    rules.push(
      `-A INPUT -p ${entry.protocol} -m ${entry.protocol} --dport ${entry.port} -j ACCEPT`,
    );
  }
  rules.push('COMMIT');
  return lines(...rules);
}

function file(path: string, content: string, permissions = '0644'): WriteFile {
  return { path, permissions, owner: 'root:root', content };
}

/** The cloud-config object for one role (key order is the output order). */
export function cloudConfigObject(inputs: Inputs, role: Role): Record<string, unknown> {
  const files: WriteFile[] = [
    file(SSHD_CONFIG, sshdConfig(), '0600'),
    file(INSTALLER_PATH, installerScript(), '0755'),
    file(FLEET_CONF, fleetConf(inputs, role)),
    file(
      DOCKER_DAEMON_JSON,
      `${JSON.stringify({ 'insecure-registries': [`${inputs.masterAddress}:${inputs.registryPort}`] }, null, 2)}\n`,
    ),
    file(IPTABLES_RULES, iptablesRules(inputs, role)),
    file(IP6TABLES_RULES, ip6tablesRules(inputs)),
  ];
  if (inputs.ntpServers.length > 0) {
    files.push(file(TIMESYNCD_CONF, lines('[Time]', `NTP=${inputs.ntpServers.join(' ')}`)));
  }

  const units: Unit[] = [
    {
      name: 'sshd.socket',
      command: 'restart',
      drop_ins: [
        {
          name: '10-arch-core-port.conf',
          content: lines(
            '[Socket]',
            'ListenStream=',
            `ListenStream=${inputs.sshPort}`,
            'FreeBind=true',
          ),
        },
      ],
    },
    { name: 'iptables-restore.service', enable: true, command: 'start' },
    { name: 'ip6tables-restore.service', enable: true, command: 'start' },
    { name: 'ntpd.service', mask: true, command: 'stop' },
    { name: 'systemd-timesyncd.service', enable: true, command: 'restart' },
    { name: 'locksmithd.service', mask: true, command: 'stop' },
    {
      name: 'arch-core-install-fleet.service',
      content: installerUnit('fleet', inputs.fleet, ['fleetd', 'fleetctl']),
    },
  ];
  if (role === 'master') {
    units.push(
      {
        name: 'arch-core-install-etcd.service',
        content: installerUnit('etcd', inputs.etcd, ['etcd', 'etcdctl']),
      },
      // Installs etcd at boot, so that the first update window need not wait for the download.
      {
        name: 'arch-core-install-etcd.timer',
        command: 'start',
        content: backgroundStartTimer('arch-core-install-etcd.service'),
      },
      { name: ETCD_UNIT, content: etcdUnit(inputs) },
      { name: REGISTRY_UNIT, content: registryUnit(inputs) },
    );
  }
  units.push(
    { name: 'fleet.socket', enable: true, command: 'start', content: fleetSocket() },
    // Enabled for later boots; at this boot the timer starts it without holding up cloudinit.
    { name: 'fleet.service', enable: true, content: fleetService(inputs) },
    {
      name: 'arch-core-start-fleet.timer',
      command: 'start',
      content: backgroundStartTimer('fleet.service'),
    },
  );
  for (const extra of inputs.extraUnits) {
    if (!extra.roles.includes(role)) continue;
    const hasInstall = /^\s*\[Install\]/m.test(extra.content);
    units.push({
      name: extra.name,
      ...(hasInstall ? { enable: true } : {}),
      command: 'start',
      content: extra.content.endsWith('\n') ? extra.content : `${extra.content}\n`,
    });
  }

  return {
    ssh_authorized_keys: inputs.sshAuthorizedKeys,
    write_files: files,
    coreos: {
      update: { reboot_strategy: 'off' },
      units,
    },
  };
}

/** The cloud-config text for one role. */
export function renderCloudConfig(inputs: Inputs, role: Role): string {
  const header = [
    '#cloud-config',
    `# arch-core make-iso ${ACTION_VERSION}: the ${role} of a fleet cluster on Flatcar Container Linux.`,
    '# coreos-cloudinit format with underscore keys (Flatcar ignores hyphenated keys since 2024).',
    `# Check it with: arch-core audit-cloud-config ${role}.cloud-config.yml`,
  ].join('\n');
  const body = stringify(cloudConfigObject(inputs, role), {
    version: '1.1',
    lineWidth: 0,
    blockQuote: 'literal',
    indentSeq: true,
    singleQuote: true,
  });
  return `${header}\n${body}`;
}
