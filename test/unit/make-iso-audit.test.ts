import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { auditCloudConfig, formatAudit } from '../../actions/make-iso/src/audit.js';
import { schemaFindings } from '../../actions/make-iso/src/cloud-config-schema.js';
import { renderCloudConfig } from '../../actions/make-iso/src/cloud-config.js';
import { parseInputs, type Role } from '../../actions/make-iso/src/inputs.js';
import { actionInputs } from '../helpers/action-inputs.js';
import { exampleInputs, publicKeyLine } from '../helpers/make-iso-fixtures.js';

const base = {
  'ssh-authorized-keys': publicKeyLine('ssh-ed25519'),
  'master-address': '10.0.0.1',
  'fleet-sha256': 'b'.repeat(64),
};

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'make-iso-audit-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const extraUnit = path.join(tmp, 'app-logs.timer');
fs.writeFileSync(extraUnit, '[Timer]\nOnCalendar=daily\n\n[Install]\nWantedBy=timers.target\n');

const combinations: Array<[string, Record<string, string>]> = [
  ['the defaults', base],
  ['the documented example', exampleInputs()],
  [
    'interface, ports, NTP, metadata, extra units, RSA and ECDSA keys',
    {
      ...base,
      'ssh-authorized-keys': `${publicKeyLine('ssh-rsa')}\n${publicKeyLine('ecdsa-sha2-nistp256')}`,
      'master-address': '192.168.50.2',
      'private-interface': 'ens224',
      'ssh-port': '40022',
      'etcd-client-port': '23000',
      'registry-port': '23500',
      'application-ports': '80 443/tcp 5353/udp',
      'ntp-servers': 'time1.example.net,10.0.0.123',
      'fleet-metadata': 'dc=ams\nslave:gpu=none',
      'extra-units': `slave:${extraUnit}`,
      'registry-image': 'registry.example.net/mirror/registry@sha256:' + 'c'.repeat(64),
    },
  ],
  ['SSH on 22 when allowed', { ...base, 'ssh-port': '22', 'allow-default-ports': 'true' }],
];

describe.each(combinations)('the configs made from %s', (_label, given) => {
  const settings = parseInputs(actionInputs('make-iso', given));
  test.each(['master', 'slave'] as Role[])(
    '%s: #cloud-config, valid YAML, schema clean, every point passes',
    (role) => {
      const text = renderCloudConfig(settings, role);
      expect(text.startsWith('#cloud-config\n')).toBe(true);
      expect(() => parseYaml(text)).not.toThrow();
      expect(text).not.toMatch(/drop-ins|reboot-strategy|ssh-authorized-keys|write-files/);
      const result = auditCloudConfig(text, { allowDefaultPorts: settings.allowDefaultPorts });
      expect(result.schema).toEqual([]);
      expect(result.points.filter((point) => !point.pass)).toEqual([]);
      expect(result.points.map((point) => point.point)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      expect(result.role).toBe(role);
      expect(result.passed).toBe(true);
      expect(renderCloudConfig(settings, role)).toBe(text); // same settings, same bytes
    },
  );
});

describe('what the configs hold', () => {
  const settings = parseInputs(
    actionInputs('make-iso', {
      ...base,
      'private-interface': 'eth1',
      'fleet-metadata': 'region=eu',
    }),
  );
  const master = parseYaml(renderCloudConfig(settings, 'master')) as {
    coreos: {
      units: Array<{ name: string; enable?: boolean; command?: string; content?: string }>;
    };
    write_files: Array<{ path: string; content: string }>;
  };
  const slave = parseYaml(renderCloudConfig(settings, 'slave')) as typeof master;
  const unitNames = (config: typeof master) => config.coreos.units.map((unit) => unit.name);
  const file = (config: typeof master, name: string) =>
    config.write_files.find((entry) => entry.path === name)?.content;

  test('the master installs etcd and the registry under the shared names, not started at boot', () => {
    for (const name of ['arch-core-etcd.service', 'arch-core-registry.service']) {
      const unit = master.coreos.units.find((entry) => entry.name === name);
      expect(unit?.content).toBeDefined();
      expect(unit?.enable).toBeUndefined();
      expect(unit?.command).toBeUndefined();
      expect(unit?.content).not.toContain('[Install]');
    }
    expect(
      master.coreos.units.find((unit) => unit.name === 'arch-core-etcd.service')?.content,
    ).toContain('--enable-v2=true');
  });

  test('slaves run fleet only, pointed at the master etcd, and pull from its registry', () => {
    expect(unitNames(slave)).not.toContain('arch-core-etcd.service');
    expect(unitNames(slave)).not.toContain('arch-core-registry.service');
    expect(unitNames(slave)).toEqual(expect.arrayContaining(['fleet.service', 'fleet.socket']));
    expect(file(slave, '/etc/fleet/fleet.conf')).toContain(
      'etcd_servers=["http://10.0.0.1:12379"]',
    );
    expect(file(slave, '/etc/fleet/fleet.conf')).toContain('metadata="role=slave,region=eu"');
    expect(JSON.parse(file(slave, '/etc/docker/daemon.json') as string)).toEqual({
      'insecure-registries': ['10.0.0.1:15000'],
    });
  });

  test('the firewall admits cluster ports only on the private interface', () => {
    expect(file(master, '/var/lib/iptables/rules-save')).toContain(
      '-A INPUT -i eth1 -d 10.0.0.1/32 -p tcp -m tcp --dport 12379 -j ACCEPT',
    );
    expect(file(slave, '/var/lib/iptables/rules-save')).not.toContain('12379');
  });
});

describe('the audit fails, naming the point, on configs weakened one point at a time', () => {
  const settings = parseInputs(actionInputs('make-iso', base));
  const master = renderCloudConfig(settings, 'master');
  const slave = renderCloudConfig(settings, 'slave');
  const replaced = (text: string, from: string | RegExp, to: string) => {
    const result = text.replace(from, to);
    expect(result).not.toBe(text); // the weakening really changed the config
    return result;
  };

  test.each<[string, Role, number[], (text: string) => string]>([
    ['SSH on port 22', 'slave', [1], (t) => replaced(t, /\b2222\b/g, '22')],
    ['the ListenStream reset missing', 'slave', [1], (t) => replaced(t, 'ListenStream=\n', '')],
    // Flatcar ignores the drop-in: SSH stays on 22, which the firewall does not let in.
    [
      'the drop-in written as drop-ins',
      'master',
      [1, 9],
      (t) => replaced(t, 'drop_ins:', 'drop-ins:'),
    ],
    [
      'password login on',
      'slave',
      [2],
      (t) => replaced(t, 'PasswordAuthentication no', 'PasswordAuthentication yes'),
    ],
    [
      'keyboard-interactive on',
      'slave',
      [2],
      (t) => replaced(t, 'KbdInteractiveAuthentication no', 'KbdInteractiveAuthentication yes'),
    ],
    [
      'root login on',
      'master',
      [2],
      (t) => replaced(t, 'PermitRootLogin no', 'PermitRootLogin prohibit-password'),
    ],
    ['any user allowed', 'master', [2], (t) => replaced(t, /\n\s*AllowUsers core/, '')],
    ['no keys', 'slave', [2], (t) => replaced(t, /ssh_authorized_keys:\n {2}- .*\n/, '')],
    [
      'ntpd enabled',
      'slave',
      [3],
      (t) =>
        replaced(
          t,
          'name: ntpd.service\n      mask: true\n      command: stop',
          'name: ntpd.service\n      enable: true\n      command: start',
        ),
    ],
    [
      'timesyncd not enabled',
      'master',
      [3],
      (t) =>
        replaced(
          t,
          /\n {4}- name: systemd-timesyncd.service\n {6}enable: true\n {6}command: restart/,
          '',
        ),
    ],
    [
      'etcd peer port public',
      'master',
      [4],
      (t) =>
        replaced(
          t,
          '--listen-peer-urls=http://127.0.0.1:12380',
          '--listen-peer-urls=http://0.0.0.0:12380',
        ),
    ],
    [
      'etcd with a second member',
      'master',
      [4],
      (t) =>
        replaced(
          t,
          '--initial-cluster=master=http://127.0.0.1:12380',
          '--initial-cluster=master=http://127.0.0.1:12380,other=http://10.0.0.2:2380',
        ),
    ],
    [
      'etcd clients on every address',
      'master',
      [4, 5],
      (t) =>
        replaced(
          t,
          '--listen-client-urls=http://10.0.0.1:12379',
          '--listen-client-urls=http://0.0.0.0:12379',
        ),
    ],
    ['etcd without the v2 API', 'master', [4], (t) => replaced(t, '  --enable-v2=true \\\n', '')],
    [
      'a fleet TCP API',
      'slave',
      [5],
      (t) =>
        replaced(
          t,
          'ListenStream=/var/run/fleet.sock',
          'ListenStream=/var/run/fleet.sock\n        ListenStream=0.0.0.0:49153',
        ),
    ],
    // the slave then trusts a registry that is not on its master
    [
      'fleet pointed at a public etcd',
      'slave',
      [5, 8],
      (t) =>
        replaced(
          t,
          'etcd_servers=["http://10.0.0.1:12379"]',
          'etcd_servers=["http://203.0.113.5:12379"]',
        ),
    ],
    [
      'update reboots on',
      'slave',
      [6],
      (t) => replaced(t, "reboot_strategy: 'off'", 'reboot_strategy: reboot'),
    ],
    [
      'locksmithd not masked',
      'master',
      [6],
      (t) => replaced(t, 'name: locksmithd.service\n      mask: true', 'name: locksmithd.service'),
    ],
    [
      'etcd enabled at boot',
      'master',
      [7],
      (t) =>
        replaced(
          t,
          '- name: arch-core-etcd.service\n',
          '- name: arch-core-etcd.service\n      command: start\n',
        ),
    ],
    [
      'the registry wanted by fleet',
      'master',
      [7],
      (t) =>
        replaced(
          t,
          'Requires=arch-core-install-fleet.service fleet.socket',
          'Requires=arch-core-install-fleet.service fleet.socket arch-core-registry.service',
        ),
    ],
    [
      'the registry on every address',
      'master',
      [8],
      (t) => replaced(t, 'REGISTRY_HTTP_ADDR=10.0.0.1:15000', 'REGISTRY_HTTP_ADDR=0.0.0.0:15000'),
    ],
    [
      'Docker trusting a public registry',
      'slave',
      [8],
      (t) => replaced(t, '"10.0.0.1:15000"', '"198.51.100.7:5000"'),
    ],
    [
      'the firewall accepting everything',
      'slave',
      [9],
      (t) => replaced(t, ':INPUT DROP', ':INPUT ACCEPT'),
    ],
    [
      'the etcd port open publicly',
      'master',
      [9],
      (t) =>
        replaced(
          t,
          '-A INPUT -d 10.0.0.1/32 -p tcp -m tcp --dport 12379',
          '-A INPUT -p tcp -m tcp --dport 12379',
        ),
    ],
    [
      'the rules never loaded',
      'slave',
      [9],
      (t) =>
        replaced(
          t,
          'name: iptables-restore.service\n      enable: true\n      command: start',
          'name: iptables-restore.service',
        ),
    ],
    [
      'fleet not started at boot',
      'slave',
      [10],
      (t) =>
        replaced(
          replaced(t, /(name: fleet.socket)\n {6}enable: true\n {6}command: start/, '$1'),
          /(name: fleet.service)\n {6}enable: true/,
          '$1',
        ),
    ],
  ])('%s (%s) fails point %j', (_label, role, expected, weaken) => {
    const result = auditCloudConfig(weaken(role === 'master' ? master : slave));
    const failing = result.points.filter((point) => !point.pass);
    expect(failing.map((point) => point.point)).toEqual(expected);
    expect(result.passed).toBe(false);
    for (const point of failing) expect(point.reason.length).toBeGreaterThan(10);
    expect(formatAudit(result, 'x.yml')).toMatch(new RegExp(`FAIL +${expected[0]}\\. `));
  });

  test('the drop-ins finding says why', () => {
    const result = auditCloudConfig(replaced(master, 'drop_ins:', 'drop-ins:'));
    expect(result.points[0]?.reason).toContain('ignores since 2024');
    expect(result.schema.join('\n')).toContain('coreos.units[0].drop-ins: hyphenated key');
  });
});

describe('the schema', () => {
  const settings = parseInputs(actionInputs('make-iso', base));
  const slave = renderCloudConfig(settings, 'slave');

  test.each([
    ['an unknown top-level key', `${slave}bootcmd:\n  - echo hi\n`, 'bootcmd: unknown key'],
    [
      'a retired coreos key',
      slave.replace('coreos:\n', 'coreos:\n  fleet:\n    metadata: a=b\n'),
      'coreos.fleet: configures the fleet.service Flatcar no longer ships',
    ],
    [
      'an unknown unit key',
      slave.replace('name: ntpd.service\n', 'name: ntpd.service\n      disable: true\n'),
      'coreos.units[3].disable: unknown key',
    ],
    [
      'a hyphenated key',
      slave.replace('reboot_strategy', 'reboot-strategy'),
      'coreos.update.reboot-strategy: hyphenated key; Flatcar\'s coreos-cloudinit (yaml.v3, since 2024) silently ignores it, write "reboot_strategy"',
    ],
    [
      'a boolean given as a string',
      slave.replace('mask: true', 'mask: "yes"'),
      'coreos.units[3].mask: must be boolean.',
    ],
    [
      'permissions given as a number',
      slave.replace("permissions: '0600'", 'permissions: 384'),
      'write_files[0].permissions: must be string.',
    ],
    [
      'keys given as a string',
      slave.replace(/ssh_authorized_keys:\n {2}- /, 'ssh_authorized_keys: '),
      'ssh_authorized_keys: must be array.',
    ],
    [
      'an unknown unit command',
      slave.replace('command: stop', 'command: halt'),
      'coreos.units[3].command: must be one of start, stop',
    ],
    [
      'a missing #cloud-config line',
      slave.replace('#cloud-config\n', ''),
      'line 1: a cloud-config must start with "#cloud-config".',
    ],
    ['not YAML', '#cloud-config\ncoreos: [\n', 'not valid YAML'],
  ])('rejects %s', (_label, text, finding) => {
    const findings = schemaFindings(text);
    expect(findings.join('\n')).toContain(finding);
    expect(auditCloudConfig(text).passed).toBe(false);
  });

  test('accepts what make-iso writes', () => {
    expect(schemaFindings(slave)).toEqual([]);
  });
});
