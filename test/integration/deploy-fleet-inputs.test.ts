import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { jest } from '@jest/globals';
import { errorLines, runBundle } from '../helpers/bundle.js';
import { startFleetCluster, type FleetCluster } from '../helpers/fleet-standin.js';

// deploy-fleet's bundle with bad inputs (each refused with one line naming the input, exit 1,
// nothing started), and with SSH credentials the real sshd refuses. The fleet behind it is the
// STAND-IN of test/helpers/fleet-standin/ (see docs/dev/fleet-api.md).

jest.setTimeout(60_000);

let cluster: FleetCluster;
let work: string;
beforeAll(async () => {
  cluster = await startFleetCluster({
    machines: [{ id: 'a1', primaryIP: '10.0.0.11' }],
    reconcileMs: 300,
    startMs: 300,
  });
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'deploy-fleet-inputs-'));
});
afterAll(async () => {
  await cluster?.stop();
  await fs.rm(work, { recursive: true, force: true });
});

const IMAGE = '10.0.0.1:5000/team/hello:1.0';

async function templateFile(name: string, text: string): Promise<string> {
  const file = path.join(work, name);
  await fs.writeFile(file, text);
  return file;
}

test.each([
  [
    'no known-hosts',
    { 'known-hosts': '' },
    /^Input "known-hosts": is required: the host's known_hosts lines/,
  ],
  [
    'a malformed host',
    { host: 'master:22:22' },
    /^Input "host": "master:22:22" is not host\[:port\]/,
  ],
  ['a port out of range', { host: 'master:70000' }, /^Input "host": port "70000" is out of range/],
  [
    'an invalid image reference',
    { image: '10.0.0.1:5000/Team/hello:1.0' },
    /^Input "image": reference ".*": repository "Team\/hello" is not valid/,
  ],
  [
    'an invalid tag',
    { image: 'hello:-1' },
    /^Input "image": reference "hello:-1": tag "-1" is not valid/,
  ],
  [
    'timeout 0',
    { timeout: '0' },
    /^Input "timeout": 0 is out of range; use an integer from 1 to 86400\.$/,
  ],
  [
    'a bad strategy',
    { strategy: 'rolling' },
    /^Input "strategy": "rolling" is not one of replace, restart\.$/,
  ],
  [
    'a bad tunnel-mode',
    { 'tunnel-mode': 'tcp' },
    /^Input "tunnel-mode": "tcp" is not one of auto, fd-forward, streamlocal\.$/,
  ],
  [
    'a relative fleet-endpoint',
    { 'fleet-endpoint': 'fleet.sock' },
    /^Input "fleet-endpoint": "fleet.sock" is not the absolute path/,
  ],
  [
    'a bad unit-name',
    { 'unit-name': 'hello' },
    /^Input "unit-name": "hello" does not end in a unit type/,
  ],
  [
    'bad machine-metadata',
    { 'machine-metadata': 'role' },
    /^Input "machine-metadata": line "role" is not of the form key=value\.$/,
  ],
  [
    'an update-service like an option',
    { 'update-services': '--now' },
    /^Input "update-services": "--now" starts with "-"\.$/,
  ],
])('%s is refused with one line naming the input', async (_name, bad, message) => {
  const result = await runBundle('deploy-fleet', cluster.inputs({ image: IMAGE, ...bad }));
  expect(result.code).toBe(1);
  const errors = errorLines(result.log);
  expect(errors).toHaveLength(1);
  expect(errors[0]).toMatch(message);
  expect(result.log).not.toMatch(/\n\s+at /); // no stack trace
  expect(result.outputs).toEqual({});
  expect(await cluster.calls()).toEqual([]);
});

test('a unit template without {{image}}, with an unknown or a broken placeholder, is refused', async () => {
  const noImage = await templateFile(
    'no-image.service',
    '[Service]\nExecStart=/bin/true {{version}}\n[X-Fleet]\nGlobal=true\n',
  );
  const unknown = await templateFile(
    'unknown.service',
    '[Service]\nExecStart=/bin/run {{image}} {{tag}}\n[X-Fleet]\nGlobal=true\n',
  );
  const unterminated = await templateFile(
    'unterminated.service',
    '[Unit]\nDescription={{version\n[Service]\nExecStart=/bin/run {{image}}\n[X-Fleet]\nGlobal=true\n',
  );
  const nested = await templateFile(
    'nested.service',
    '[Service]\nExecStart=/bin/run {{ {{image}} }}\n[X-Fleet]\nGlobal=true\n',
  );
  const notGlobal = await templateFile(
    'local.service',
    '[Service]\nExecStart=/bin/run {{image}}\n',
  );
  for (const [file, message] of [
    [noImage, /^Input "unit-template" \(.*no-image\.service\): the unit never uses \{\{image\}\}/],
    [
      unknown,
      /^Input "unit-template" \(.*unknown\.service\): unknown placeholder \{\{tag\}\}; the placeholders are \{\{image\}\}, \{\{version\}\}, \{\{unit\}\}\.$/,
    ],
    [
      unterminated,
      /^Input "unit-template" \(.*unterminated\.service\) line 2: "\{\{" is not part of a placeholder; write placeholders whole, as \{\{image\}\}, \{\{version\}\}, \{\{unit\}\}\.$/,
    ],
    [nested, /^Input "unit-template" \(.*nested\.service\) line 2: "\{\{" is not part of/],
    [notGlobal, /the unit is not global \(\[X-Fleet\] Global=true\)/],
    [
      path.join(work, 'absent.service'),
      /^Input "unit-template": cannot read ".*absent\.service": ENOENT/,
    ],
  ] as const) {
    const result = await runBundle(
      'deploy-fleet',
      cluster.inputs({ image: IMAGE, 'unit-template': file }),
    );
    expect(result.code).toBe(1);
    expect(errorLines(result.log)).toEqual([expect.stringMatching(message)]);
  }
  expect(await cluster.calls()).toEqual([]);
});

test('a wrong known-hosts entry is refused with both fingerprints, nothing started, key not logged', async () => {
  const keyFile = path.join(work, 'impostor');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', keyFile]);
  const [type, blob] = (await fs.readFile(`${keyFile}.pub`, 'utf8')).split(/\s+/);
  const impostor = execFileSync('ssh-keygen', ['-l', '-f', `${keyFile}.pub`])
    .toString()
    .split(/\s+/)[1] as string;
  const result = await runBundle(
    'deploy-fleet',
    cluster.inputs({
      image: IMAGE,
      'known-hosts': `[127.0.0.1]:${cluster.sshd.port} ${type} ${blob}`,
    }),
  );
  expect(result.code).toBe(1);
  const errors = errorLines(result.log);
  expect(errors).toHaveLength(1);
  expect(errors[0]).toContain(cluster.sshd.hostKeyFingerprints[0]);
  expect(errors[0]).toContain(impostor);
  expect(errors[0]).toMatch(/^Host key verification failed for \[127\.0\.0\.1\]:\d+: /);
  const keyLine = cluster.sshd.privateKey.split('\n')[1] as string;
  const logged = result.log.split('\n').filter((line) => !line.startsWith('::add-mask::'));
  expect(logged.join('\n')).not.toContain(keyLine);
  expect(await cluster.calls()).toEqual([]);
});

test('a key the server does not accept is refused clearly', async () => {
  const other = await cluster.sshd.makeKeyPair('ecdsa');
  const result = await runBundle(
    'deploy-fleet',
    cluster.inputs({ image: IMAGE, 'ssh-key': other.privateKey }),
  );
  expect(result.code).toBe(1);
  expect(errorLines(result.log)).toEqual([
    expect.stringMatching(
      /^SSH authentication as "archcore-ssh" at \[127\.0\.0\.1\]:\d+ failed: the server did not accept the key \(ecdsa-sha2-nistp256 SHA256:/,
    ),
  ]);
  expect(await cluster.calls()).toEqual([]);
});
