import { jest } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { stopServices } from '../../actions/deploy-fleet/src/services.js';
import {
  INSTALLER_REFUSED_STATUS,
  renderCloudConfig,
} from '../../actions/make-iso/src/cloud-config.js';
import { parseInputs, type Role } from '../../actions/make-iso/src/inputs.js';
import { actionInputs } from '../helpers/action-inputs.js';
import { applyCloudConfig } from '../helpers/cloudinit-applier.js';
import { exampleInputs } from '../helpers/make-iso-fixtures.js';
import { freePort } from '../helpers/process.js';
import { bootMachine, machineRoot, type Machine } from '../helpers/systemd-machine.js';

/**
 * The generated units on a booted systemd (a Debian root under systemd-nspawn, systemd 252 as PID
 * 1), applied by a coreos-cloudinit stand-in written from its documented behaviour
 * (test/helpers/cloudinit-applier.ts). What Flatcar has and this root lacks is stood in for, and
 * says so: a `core` user, a docker.service that does nothing, and a `docker` CLI script that runs
 * Debian's docker-registry binary with the container's --env settings and passes its exit status
 * on, as `docker run` does (no Docker engine runs here). Without the drain timeout that registry
 * dies of the SIGTERM (docker run then exits 143; a real registry container was seen to exit 2):
 * either way the unit ends failed. fleetd in the release archive is a
 * script that just runs (fleet cannot be had); etcd is Debian's own binary.
 *
 * The machine shares the host's network: the release server is this process, on loopback, and
 * 127.0.0.2 plays the master's private address.
 */

jest.setTimeout(600_000);

const DOCKER_STANDIN = `#!/bin/bash
# STAND-IN for the docker CLI (test suite; no Docker engine here). "run" starts Debian's
# docker-registry with the container's --env settings and the volume's host directory as its
# storage, waits for it and exits with its status as docker run does (128+N for a signal N);
# "stop NAME" sends it SIGTERM and waits until both it and the "run" process have ended.
state=/run/docker-standin
mkdir -p "$state"
case $1 in
  run)
    shift; envs=(); name=registry; storage=/var/lib/registry
    while [ $# -gt 1 ]; do
      case $1 in
        --env) envs+=("$2"); shift 2 ;;
        --name) name=$2; shift 2 ;;
        --volume) storage=\${2%%:*}; shift 2 ;;
        --network) shift 2 ;;
        --rm) shift ;;
        *) break ;;
      esac
    done
    mkdir -p "$storage"
    printf 'version: 0.1\\nstorage:\\n  filesystem:\\n    rootdirectory: %s\\n' "$storage" > "$state/$name.yml"
    env "\${envs[@]}" /usr/bin/docker-registry serve "$state/$name.yml" &
    echo "$! $$" > "$state/$name.pids"
    wait $!
    exit $? ;;
  stop)
    read -r container client < "$state/$2.pids" || exit 1
    kill -TERM "$container"
    while kill -0 "$container" 2>/dev/null || kill -0 "$client" 2>/dev/null; do sleep 0.1; done ;;
  rm) exit 0 ;;
  *) echo "docker stand-in: $1 not implemented" >&2; exit 1 ;;
esac
`;

const DOCKER_SERVICE_STANDIN = `[Unit]
Description=STAND-IN for Flatcar's docker.service (test suite; the docker CLI here is a script)
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/true
`;

let work: string;
let root: string;
const machines: Machine[] = [];
let server: http.Server | undefined;
let port: number;
const archives = new Map<string, Buffer>();

function tarOf(name: string, files: Record<string, string | Buffer>): Buffer {
  const dir = path.join(work, name);
  fs.mkdirSync(path.join(dir, name), { recursive: true });
  for (const [file, content] of Object.entries(files)) {
    fs.writeFileSync(path.join(dir, name, file), content, { mode: 0o755 });
  }
  execFileSync('tar', ['-czf', `${dir}.tar.gz`, '-C', dir, name]);
  return fs.readFileSync(`${dir}.tar.gz`);
}

const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

beforeAll(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'make-iso-boot-'));
  const started = Date.now();
  root = await machineRoot((line) => process.stderr.write(`${line}\n`));
  process.stderr.write(`systemd machine root ready in ${Date.now() - started} ms\n`);
  archives.set(
    '/fleet.tar.gz',
    tarOf('fleet-v1.0.0-linux-amd64', {
      fleetd: '#!/bin/sh\n# STAND-IN for fleetd (test suite): it just runs.\nexec sleep infinity\n',
      fleetctl: '#!/bin/sh\necho fleetctl stand-in\n',
    }),
  );
  archives.set(
    '/etcd.tar.gz',
    tarOf('etcd-v3.4.0-linux-amd64', {
      etcd: fs.readFileSync('/usr/bin/etcd'),
      etcdctl: fs.readFileSync('/usr/bin/etcdctl'),
    }),
  );
  server = http.createServer((request, response) => {
    const archive = archives.get(request.url ?? '');
    if (archive) response.writeHead(200).end(archive);
    else response.writeHead(404).end();
  });
  port = await freePort();
});

afterAll(async () => {
  for (const machine of machines) await machine.terminate();
  if (server?.listening) await new Promise((resolve) => server?.close(resolve));
  fs.rmSync(work, { recursive: true, force: true });
});

async function configFor(role: Role, overrides: Record<string, string>): Promise<string> {
  const settings = parseInputs(
    actionInputs('make-iso', {
      ...exampleInputs(),
      'master-address': '10.9.9.9',
      'etcd-client-port': String(await freePort()),
      'registry-port': String(await freePort()),
      'fleet-url': `http://127.0.0.1:${port}/fleet.tar.gz`,
      'fleet-sha256': sha(archives.get('/fleet.tar.gz') as Buffer),
      'etcd-url': `http://127.0.0.1:${port}/etcd.tar.gz`,
      'etcd-sha256': sha(archives.get('/etcd.tar.gz') as Buffer),
      ...overrides,
    }),
  );
  return renderCloudConfig(settings, role).replace(/10\.9\.9\.9/g, '127.0.0.2');
}

/** Boots a machine with Flatcar's parts stood in for (see the header). */
async function boot(suffix: string): Promise<Machine> {
  const machine = await bootMachine(root, `arch-core-boot-${process.pid}-${suffix}`);
  machines.push(machine);
  machine.exec(['useradd', '--user-group', '--create-home', 'core']);
  machine.exec(['sh', '-c', 'cat > /usr/bin/docker && chmod 0755 /usr/bin/docker'], DOCKER_STANDIN);
  machine.exec(['sh', '-c', 'cat > /etc/systemd/system/docker.service'], DOCKER_SERVICE_STANDIN);
  return machine;
}

function show(machine: Machine, unit: string, property: string): string {
  return machine.exec(['systemctl', 'show', '--value', '-p', property, unit]).stdout.trim();
}

async function until(check: () => boolean, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

const journal = (machine: Machine, unit: string): string =>
  machine.exec(['journalctl', '-u', unit, '--no-pager', '-o', 'cat']).stdout;

describe('the master, booted', () => {
  let master: Machine;

  test('a release server down for over 60 s at first boot: installed after, fleet and etcd start', async () => {
    master = await boot('master');
    const config = await configFor('master', {});
    const applying = Date.now();
    const log = applyCloudConfig(master, config);
    // Nothing waits for the download: the timers start fleet and the etcd installer.
    expect(Date.now() - applying).toBeLessThan(20_000);
    expect(log).toContain('Result of "start" on "arch-core-start-fleet.timer": done');
    // The update window opens during the outage: the start of etcd waits for its binaries.
    const etcdStart = master.execAsync(['systemctl', 'start', 'arch-core-etcd.service']);
    await new Promise((resolve) => setTimeout(resolve, 65_000));
    expect(show(master, 'arch-core-install-fleet.service', 'ActiveState')).toBe('activating');
    expect(show(master, 'fleet.service', 'ActiveState')).not.toBe('active');
    expect(journal(master, 'arch-core-install-fleet.service')).toMatch(
      /Failed to connect[\s\S]*attempt \d+ failed; retrying/,
    );
    await new Promise<void>((resolve) => server?.listen(port, '127.0.0.1', resolve));
    await until(() => show(master, 'fleet.service', 'ActiveState') === 'active', 'fleet', 180_000);
    expect(master.exec(['test', '-x', '/opt/bin/fleetd']).code).toBe(0);
    expect(journal(master, 'arch-core-install-fleet.service')).toContain('fleet installed from');
    expect((await etcdStart).code).toBe(0);
    expect(show(master, 'arch-core-etcd.service', 'ActiveState')).toBe('active');
    expect(journal(master, 'arch-core-install-etcd.service')).toContain('etcd installed from');
  });

  test('the registry started and stopped as deploy-fleet does ends inactive, not failed', async () => {
    const unit = 'arch-core-registry.service';
    expect(master.exec(['systemctl', 'start', unit]).code).toBe(0);
    await until(() => journal(master, unit).includes('listening on'), 'the registry', 30_000);
    expect(master.exec(['systemctl', 'stop', unit]).code).toBe(0);
    expect(show(master, unit, 'ActiveState')).toBe('inactive');
    expect(show(master, unit, 'Result')).toBe('success');
  });

  test('a registry unit without the drain timeout ends failed: deploy-fleet warns and resets it', async () => {
    const unit = 'arch-core-registry-nodrain.service';
    const content = master.exec(['cat', '/etc/systemd/system/arch-core-registry.service']).stdout;
    expect(content).toContain('REGISTRY_HTTP_DRAINTIMEOUT');
    master.exec(
      ['sh', '-c', `cat > /etc/systemd/system/${unit} && systemctl daemon-reload`],
      content.replace(/^.*REGISTRY_HTTP_DRAINTIMEOUT.*\n/m, ''),
    );
    expect(master.exec(['systemctl', 'start', unit]).code).toBe(0);
    await until(() => journal(master, unit).includes('listening on'), 'the registry', 30_000);
    // deploy-fleet's own stop over a connection into the machine (root inside: sudo dropped).
    const connection = {
      exec: (argv: string[]) => master.execAsync(argv[0] === 'sudo' ? argv.slice(1) : argv),
    };
    const written: string[] = [];
    const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      written.push(String(chunk));
      return true;
    });
    try {
      await stopServices(connection as never, [unit]);
    } finally {
      spy.mockRestore();
    }
    const warning = written.join('').split('::warning::')[1] ?? '';
    expect(warning).toContain(`${unit} on the master ended failed after its stop`);
    expect(warning).toContain('its failed state was reset');
    expect(warning).toMatch(/Main process exited, code=exited, status=\d+/);
    expect(show(master, unit, 'ActiveState')).toBe('inactive');
    expect(master.exec(['systemctl', 'is-failed', unit]).code).not.toBe(0);
  });
});

test('a wrong fleet sha256 is refused, not retried: fleet stays uninstalled, the journal says why', async () => {
  if (!server?.listening)
    await new Promise<void>((resolve) => server?.listen(port, '127.0.0.1', resolve));
  const slave = await boot('slave');
  applyCloudConfig(slave, await configFor('slave', { 'fleet-sha256': '0'.repeat(64) }));
  const installer = 'arch-core-install-fleet.service';
  await until(() => show(slave, installer, 'ActiveState') === 'failed', 'the refusal', 60_000);
  expect(show(slave, installer, 'ExecMainStatus')).toBe(String(INSTALLER_REFUSED_STATUS));
  await new Promise((resolve) => setTimeout(resolve, 35_000));
  expect(show(slave, installer, 'NRestarts')).toBe('0');
  expect(show(slave, installer, 'ActiveState')).toBe('failed');
  expect(journal(slave, installer)).toContain('does not match sha256');
  expect(show(slave, 'fleet.service', 'ActiveState')).not.toBe('active');
  expect(slave.exec(['test', '-e', '/opt/bin/fleetd']).code).not.toBe(0);
});
