import { jest } from '@jest/globals';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { parseUnitText, splitCommand } from '../../actions/make-iso/src/audit.js';
import {
  INSTALLER_REFUSED_STATUS,
  renderCloudConfig,
} from '../../actions/make-iso/src/cloud-config.js';
import { parseInputs, type Role } from '../../actions/make-iso/src/inputs.js';
import { actionInputs } from '../helpers/action-inputs.js';
import { exampleInputs, publicKeyLine } from '../helpers/make-iso-fixtures.js';
import { freePort, startService, waitForPort, type Service } from '../helpers/process.js';

/**
 * What the cloud-configs put on a machine, checked with the real programs that will read it:
 * OpenSSH's sshd (-t and the effective -T settings), iptables-restore / ip6tables-restore
 * --test, etcd started with the generated unit's own flags (v2 API answering, peer port on
 * loopback), and the generated installer script run for real (curl, sha256sum, tar) in a private
 * mount namespace with /opt on a tmpfs, against a local HTTP server.
 */

jest.setTimeout(120_000);

interface Config {
  write_files: Array<{ path: string; content: string }>;
  coreos: { units: Array<{ name: string; content?: string }> };
}

const settingsSets = {
  example: parseInputs(actionInputs('make-iso', exampleInputs())),
  varied: parseInputs(
    actionInputs('make-iso', {
      'ssh-authorized-keys': publicKeyLine('ssh-rsa'),
      'master-address': '192.168.7.1',
      'private-interface': 'ens224',
      'ssh-port': '40022',
      'application-ports': '80 443 5353/udp',
      'fleet-sha256': 'f'.repeat(64),
    }),
  ),
};

let work: string;
beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'make-iso-machine-'));
});
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

function config(set: keyof typeof settingsSets, role: Role): Config {
  return parseYaml(renderCloudConfig(settingsSets[set], role)) as Config;
}

function fileOf(parsed: Config, file: string): string {
  const content = parsed.write_files.find((entry) => entry.path === file)?.content;
  if (content === undefined) throw new Error(`no ${file}`);
  return content;
}

const cases = (['example', 'varied'] as const).flatMap((set) =>
  (['master', 'slave'] as Role[]).map((role) => [set, role] as const),
);

describe.each(cases)('%s inputs, %s', (set, role) => {
  const parsed = config(set, role);
  const settings = settingsSets[set];

  test('sshd accepts its sshd_config and the effective settings are the lock-down', () => {
    const dir = fs.mkdtempSync(path.join(work, 'sshd-'));
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, 'host_key')]);
    fs.writeFileSync(path.join(dir, 'sshd_config'), fileOf(parsed, '/etc/ssh/sshd_config'));
    const args = ['-f', path.join(dir, 'sshd_config'), '-h', path.join(dir, 'host_key')];
    execFileSync('/usr/sbin/sshd', ['-t', ...args]);
    const effective = execFileSync('/usr/sbin/sshd', ['-T', ...args], { encoding: 'utf8' }).split(
      '\n',
    );
    expect(effective).toEqual(
      expect.arrayContaining([
        'passwordauthentication no',
        'kbdinteractiveauthentication no',
        'permitrootlogin no',
        'allowusers core',
        'authenticationmethods publickey',
        'permitemptypasswords no',
      ]),
    );
  });

  test('iptables-restore and ip6tables-restore accept the rule sets', () => {
    for (const [tool, file] of [
      ['iptables-restore', '/var/lib/iptables/rules-save'],
      ['ip6tables-restore', '/var/lib/ip6tables/rules-save'],
    ] as const) {
      const result = spawnSync(tool, ['--test'], { input: fileOf(parsed, file), encoding: 'utf8' });
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
    }
    const rules = fileOf(parsed, '/var/lib/iptables/rules-save');
    expect(rules).toContain(`--dport ${settings.sshPort} -j ACCEPT`);
    expect(rules.includes(`--dport ${settings.etcdClientPort}`)).toBe(role === 'master');
  });
});

test('iptables-restore --test really rejects a broken rule set (the check above can fail)', () => {
  const result = spawnSync('iptables-restore', ['--test'], {
    input: '*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dport twenty -j ACCEPT\nCOMMIT\n',
  });
  expect(result.status).not.toBe(0);
});

describe("etcd started with the master unit's own flags", () => {
  let etcd: Service | undefined;
  afterAll(async () => etcd?.stop());

  test('serves the v2 API on the private address and loopback; peers only on loopback', async () => {
    // 127.0.0.2 plays the master's private address (any 127/8 address is local on Linux).
    const client = await freePort();
    const settings = parseInputs(
      actionInputs('make-iso', {
        ...exampleInputs(),
        'master-address': '10.9.9.9',
        'etcd-client-port': String(client),
      }),
    );
    const unit = (parseYaml(renderCloudConfig(settings, 'master')) as Config).coreos.units.find(
      (entry) => entry.name === 'arch-core-etcd.service',
    );
    const exec =
      parseUnitText(unit?.content ?? '')
        .get('Service')
        ?.get('ExecStart')?.[0] ?? '';
    const [binary, ...args] = splitCommand(exec.replace(/10\.9\.9\.9/g, '127.0.0.2'));
    expect(binary).toBe('/opt/bin/etcd');
    const dataDir = path.join(work, 'etcd-data');
    etcd = startService(
      'etcd',
      args.map((arg) => (arg.startsWith('--data-dir=') ? `--data-dir=${dataDir}` : arg)),
    );
    await waitForPort(client, 20_000);
    for (const host of ['127.0.0.1', '127.0.0.2']) {
      const put = await fetch(`http://${host}:${client}/v2/keys/arch-core/${host}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'value=up',
      });
      expect(put.status).toBeLessThan(300);
      const got = (await (
        await fetch(`http://${host}:${client}/v2/keys/arch-core/${host}`)
      ).json()) as {
        node: { value: string };
      };
      expect(got.node.value).toBe('up');
    }
    const peers = execFileSync('ss', ['-Hltn', `sport = :${client + 1}`], { encoding: 'utf8' });
    expect(peers.trim().split('\n')).toHaveLength(1);
    expect(peers).toContain(`127.0.0.1:${client + 1}`);
  });
});

describe('the installer script, run for real in a private mount namespace', () => {
  let server: http.Server;
  let port: number;
  let downloads = 0;
  let archive: Buffer;

  beforeAll(async () => {
    const source = path.join(work, 'release', 'fleet-v1.0.0-linux-amd64');
    fs.mkdirSync(source, { recursive: true });
    for (const name of ['fleetd', 'fleetctl']) {
      fs.writeFileSync(path.join(source, name), `#!/bin/sh\necho ${name} v1.0.0\n`, {
        mode: 0o755,
      });
    }
    execFileSync('tar', [
      '-czf',
      path.join(work, 'fleet.tar.gz'),
      '-C',
      path.join(work, 'release'),
      '.',
    ]);
    archive = fs.readFileSync(path.join(work, 'fleet.tar.gz'));
    server = http.createServer((request, response) => {
      downloads++;
      if (request.url === '/fleet.tar.gz') response.writeHead(200).end(archive);
      else response.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => new Promise<void>((resolve) => server.close(() => resolve())));

  /**
   * Runs the installer (twice when asked) with /opt and /var/tmp on tmpfs; returns what it left.
   * Asynchronous: the HTTP server it downloads from lives in this process.
   */
  async function install(
    sha256: string,
    times = 1,
  ): Promise<{ status: number | null; stderr: string; listing: string }> {
    const script = path.join(work, 'arch-core-install');
    fs.writeFileSync(
      script,
      fileOf(config('example', 'slave'), '/opt/arch-core/bin/arch-core-install'),
      { mode: 0o755 },
    );
    const run = `bash ${script} fleet http://127.0.0.1:${port}/fleet.tar.gz ${sha256} fleetd fleetctl`;
    const body = [
      'mount -t tmpfs tmpfs /opt && mount -t tmpfs tmpfs /var/tmp',
      ...Array.from({ length: times }, () => run),
      'status=$?',
      'ls -l /opt/bin /opt/arch-core/installed >&2 || true',
      '/opt/bin/fleetd 2>/dev/null',
      'exit $status',
    ];
    const child = spawn('unshare', [
      '-m',
      '--propagation',
      'private',
      'bash',
      '-c',
      body.join('\n'),
    ]);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
    return { status, stderr, listing: stdout };
  }

  test('a matching archive installs the binaries once (a second run downloads nothing)', async () => {
    const before = downloads;
    const result = await install(createHash('sha256').update(archive).digest('hex'), 2);
    expect(result.status).toBe(0);
    expect(result.listing).toBe('fleetd v1.0.0\n');
    expect(result.stderr).toMatch(/-rwxr-xr-x .* fleetctl/);
    expect(downloads - before).toBe(1);
  });

  test('a mismatching archive is refused (not retried) and installs nothing', async () => {
    const before = downloads;
    const result = await install('0'.repeat(64));
    expect(result.status).toBe(INSTALLER_REFUSED_STATUS);
    expect(downloads - before).toBe(1);
    expect(result.stderr).toContain('does not match sha256');
    expect(result.stderr).not.toContain('fleetd');
    expect(result.listing).toBe('');
  });
});
