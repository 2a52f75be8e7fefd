import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { parseInputs } from '../../actions/make-iso/src/inputs.js';
import { parsePublicKey } from '../../actions/make-iso/src/ssh-keys.js';
import { projectRoot } from '../helpers/bundle.js';
import { actionInputs } from '../helpers/action-inputs.js';
import { publicKeyLine } from '../helpers/make-iso-fixtures.js';

const key = publicKeyLine('ssh-ed25519');
const FLEET_SHA = 'a'.repeat(64);
const good = {
  'ssh-authorized-keys': key,
  'master-address': '10.0.0.1',
  'fleet-sha256': FLEET_SHA,
};

describe('action.yml', () => {
  const metadata = parseYaml(
    fs.readFileSync(path.join(projectRoot, 'actions', 'make-iso', 'action.yml'), 'utf8'),
  ) as { inputs: Record<string, { default?: string }> };

  test('declares exactly the inputs the code reads', () => {
    const read = new Set<string>();
    const raw = new Proxy(actionInputs('make-iso', good), {
      get: (inputs, name: string) => {
        read.add(name);
        return inputs[name];
      },
    });
    parseInputs(raw);
    expect(Object.keys(metadata.inputs).sort()).toEqual([...read].sort());
  });
});

describe('parsePublicKey', () => {
  test.each([
    ['ed25519', publicKeyLine('ssh-ed25519')],
    ['rsa 2048', publicKeyLine('ssh-rsa')],
    ['ecdsa p256', publicKeyLine('ecdsa-sha2-nistp256')],
  ])('accepts a real %s key', (_label, line) => {
    const parsed = parsePublicKey(line);
    expect(parsed.line).toBe(line);
    expect(parsed.comment).toBe('test@arch-core');
  });

  const ed = publicKeyLine('ssh-ed25519').split(' ');
  const blob = ed[1] as string;
  test.each([
    ['an unknown type', `ssh-dss ${blob}`, /not an SSH public key type/],
    ['authorized_keys options', `command="x" ${ed.join(' ')}`, /not an SSH public key type/],
    ['a blob that is not base64', 'ssh-ed25519 AAAA$$$$', /not base64/],
    ['a truncated blob', `ssh-ed25519 ${blob.slice(0, 40)}`, /not base64|truncated/],
    ['a blob of another type', `ssh-rsa ${blob}`, /says ssh-rsa but its data is a ssh-ed25519 key/],
    ['a short RSA key', publicKeyLine('ssh-rsa', 'x', 1024), /1024 bits; use at least 2048/],
    ['a private key line', '-----BEGIN OPENSSH PRIVATE KEY-----', /not an SSH public key type/],
  ])('rejects %s', (_label, line, message) => {
    expect(() => parsePublicKey(line)).toThrow(message);
  });
});

describe('parseInputs', () => {
  test('good inputs give the documented defaults', () => {
    const settings = parseInputs(actionInputs('make-iso', good));
    expect(settings).toMatchObject({
      roles: ['master', 'slave'],
      sshPort: 2222,
      etcdClientPort: 12379,
      etcdPeerPort: 12380,
      registryPort: 15000,
      masterAddress: '10.0.0.1',
      format: 'both',
      channel: 'stable',
      downloadImage: false,
    });
    expect(settings.etcd.url).toBe(
      'https://github.com/etcd-io/etcd/releases/download/v3.5.21/etcd-v3.5.21-linux-amd64.tar.gz',
    );
    expect(settings.fleet).toEqual({
      version: 'v1.0.0',
      sha256: FLEET_SHA,
      url: 'https://github.com/coreos/fleet/releases/download/v1.0.0/fleet-v1.0.0-linux-amd64.tar.gz',
    });
    expect(settings.imageBaseUrl).toBe(
      'https://stable.release.flatcar-linux.net/amd64-usr/current',
    );
  });

  test('role-specific metadata and several keys', () => {
    const second = publicKeyLine('ssh-rsa');
    const settings = parseInputs(
      actionInputs('make-iso', {
        ...good,
        'ssh-authorized-keys': `${key}\n# a comment\n\n${second}\n`,
        'fleet-metadata': 'region=eu\nslave:disk=ssd\nmaster:size=big',
        channel: 'lts',
      }),
    );
    expect(settings.sshAuthorizedKeys).toEqual([key, second]);
    expect(settings.fleetMetadata).toEqual({
      master: [
        ['region', 'eu'],
        ['size', 'big'],
      ],
      slave: [
        ['region', 'eu'],
        ['disk', 'ssd'],
      ],
    });
    expect(settings.imageBaseUrl).toContain('https://lts.release.');
  });

  test('allow-default-ports lets SSH use 22', () => {
    expect(
      parseInputs(
        actionInputs('make-iso', { ...good, 'ssh-port': '22', 'allow-default-ports': 'true' }),
      ).sshPort,
    ).toBe(22);
  });

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'make-iso-inputs-'));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const notAUnit = path.join(tmp, 'notes.service');
  fs.writeFileSync(notAUnit, 'hello\n');

  test.each([
    ['no keys', { 'ssh-authorized-keys': '' }, 'Input "ssh-authorized-keys": is required'],
    [
      'only comments as keys',
      { 'ssh-authorized-keys': '# none\n' },
      'Input "ssh-authorized-keys": is required',
    ],
    [
      'a malformed key',
      { 'ssh-authorized-keys': 'ssh-ed25519 bm90IGEga2V5' },
      'Input "ssh-authorized-keys": line 1:',
    ],
    ['ssh-port 22', { 'ssh-port': '22' }, 'Input "ssh-port": 22 is the well-known default port'],
    ['ssh-port not a number', { 'ssh-port': 'ssh' }, 'Input "ssh-port": "ssh" is not an integer'],
    [
      'registry on the etcd port',
      { 'registry-port': '12379' },
      'Input "registry-port": 12379 is already the etcd client port',
    ],
    [
      'ssh on the etcd peer port',
      { 'ssh-port': '12380', 'etcd-client-port': '12379' },
      'Input "etcd-client-port": 12380 is already the SSH port',
    ],
    [
      'an application on the SSH port',
      { 'application-ports': '2222' },
      'Input "application-ports": 2222 is already the SSH port',
    ],
    [
      'slave without master-address',
      { role: 'slave', 'master-address': '' },
      'Input "master-address": is required for role slave',
    ],
    [
      'an invalid address',
      { 'master-address': '10.0.0.256' },
      'Input "master-address": "10.0.0.256" is not an IPv4 address',
    ],
    [
      'a host name as address',
      { 'master-address': 'master.local' },
      'Input "master-address": "master.local" is not an IPv4 address',
    ],
    [
      'a loopback address',
      { 'master-address': '127.0.0.1' },
      'Input "master-address": 127.0.0.1 is not a machine\'s private address',
    ],
    [
      'an unknown channel',
      { channel: 'edge' },
      'Input "channel": "edge" is not one of stable, beta, alpha, lts.',
    ],
    [
      'an unknown role',
      { role: 'worker' },
      'Input "role": "worker" is not one of master, slave, both.',
    ],
    [
      'an unknown format',
      { format: 'iso' },
      'Input "format": "iso" is not one of config-drive, user-data, both.',
    ],
    [
      'no fleet digest',
      { 'fleet-sha256': '' },
      'Input "fleet-sha256": is required: the sha256 of fleet-v1.0.0-linux-amd64.tar.gz',
    ],
    [
      'a bad fleet digest',
      { 'fleet-sha256': 'abc' },
      'Input "fleet-sha256": is not a sha256 digest',
    ],
    [
      'etcd 3.6 (no v2 API)',
      { 'etcd-version': 'v3.6.0' },
      'Input "etcd-version": "v3.6.0" is not an etcd release from v3.0.0 to v3.5.x',
    ],
    [
      'another etcd with the default digest',
      { 'etcd-version': 'v3.5.20' },
      'Input "etcd-sha256": is the digest of v3.5.21; give the digest of v3.5.20.',
    ],
    [
      'bad metadata',
      { 'fleet-metadata': 'region' },
      'Input "fleet-metadata": line "region" is not [master:|slave:]key=value',
    ],
    [
      'metadata role',
      { 'fleet-metadata': 'role=x' },
      'Input "fleet-metadata": the key "role" is set by make-iso',
    ],
    [
      'a bad NTP server',
      { 'ntp-servers': 'pool..ntp' },
      'Input "ntp-servers": "pool..ntp" is not a host name or address.',
    ],
    [
      'a bad interface',
      { 'private-interface': 'eth 1' },
      'Input "private-interface": "eth 1" is not a network interface name',
    ],
    [
      'an extra unit replacing the lock-down',
      { 'extra-units': '/tmp/sshd.socket' },
      'Input "extra-units": sshd.socket is a unit make-iso writes',
    ],
    [
      'a missing extra unit',
      { 'extra-units': path.join(tmp, 'gone.service') },
      `Input "extra-units": the file ${path.join(tmp, 'gone.service')} cannot be read.`,
    ],
    [
      'an extra unit that is no unit',
      { 'extra-units': notAUnit },
      `Input "extra-units": ${notAUnit} is not a systemd unit`,
    ],
    ['a bad registry image', { 'registry-image': 'Registry:2' }, 'Input "registry-image":'],
    [
      'download-image not a boolean',
      { 'download-image': 'maybe' },
      'Input "download-image": "maybe" is not a boolean',
    ],
  ])('%s is one clear line naming the input', (_label, override, message) => {
    let thrown: Error | undefined;
    try {
      parseInputs(actionInputs('make-iso', { ...good, ...override }));
    } catch (error) {
      thrown = error as Error;
    }
    expect(thrown?.name).toBe('InputError');
    expect(thrown?.message).toContain(message);
    expect(thrown?.message).not.toContain('\n');
  });
});
