import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { projectRoot } from '../../../scripts/lib/project-root.js';
import { freePort, startService, waitForPort, type Service } from '../process.js';
import { startSshd, type Sshd, type SshdOptions } from '../sshd.js';
import { startFleetStandin, type FleetStandin, type StandinOptions } from './api.js';

/** The stand-in commands of the SSH user's PATH: test/fixtures/fleet-standin/. */
const COMMANDS_DIR = path.join(projectRoot, 'test', 'fixtures', 'fleet-standin');

export interface FleetCluster {
  sshd: Sshd;
  standin: FleetStandin;
  /** A real etcd (v2 API) on loopback, where the deploy lock and record go. */
  etcd: { port: number; url: string; service: Service };
  /** The fleet socket on the "master". */
  socketPath: string;
  /** The recorded sudo/systemctl calls, one per line. */
  calls(): Promise<string[]>;
  /** Which units the systemctl stand-in considers running. */
  running(unit: string): boolean;
  /** Makes `systemctl start UNIT` fail. */
  failStart(unit: string): Promise<void>;
  /** The action inputs that reach this cluster. */
  inputs(extra?: Record<string, string>): Record<string, string>;
  stop(): Promise<void>;
}

export interface FleetClusterOptions extends Omit<
  StandinOptions,
  'socketPath' | 'socketGid' | 'registered'
> {
  sshd?: SshdOptions;
  /** The API answers 503 unless this unit was started (default arch-core-etcd.service; '' = always). */
  etcdUnit?: string;
}

/**
 * Copies the fleetctl, sudo and systemctl stand-ins into the session's bin dir, with this
 * process's node beside them for fleetctl. They keep their state (calls.log, which units run)
 * in ../systemd beside that bin dir, made here for the SSH user; returns its path.
 */
async function installCommands(sshd: Sshd): Promise<string> {
  for (const command of ['fleetctl', 'sudo', 'systemctl']) {
    const target = path.join(sshd.binDir, command);
    await fs.copyFile(path.join(COMMANDS_DIR, command), target);
    await fs.chmod(target, 0o755);
  }
  await fs.symlink(process.execPath, path.join(sshd.binDir, 'node'));
  const stateDir = path.join(path.dirname(sshd.binDir), 'systemd');
  await fs.mkdir(stateDir, { mode: 0o755 });
  await fs.chown(stateDir, sshd.uid, sshd.gid);
  return stateDir;
}

/**
 * A real etcd with the v2 API on 127.0.0.1 (one member, data in the sshd's directory). It runs
 * for the whole cluster's life: the systemctl stand-in only marks arch-core-etcd.service started.
 */
async function startEtcd(dir: string): Promise<FleetCluster['etcd']> {
  const port = await freePort();
  const peerPort = await freePort();
  const client = `http://127.0.0.1:${port}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const service = startService('etcd', [
    `--data-dir=${path.join(dir, 'etcd-data')}`,
    '--enable-v2=true',
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=default=${peer}`,
  ]);
  try {
    await waitForPort(port, 20_000);
  } catch (error) {
    await service.stop();
    throw new Error(`etcd did not start: ${service.log().slice(-2000)}`, { cause: error });
  }
  return { port, url: client, service };
}

function clusterHandle(
  sshd: Sshd,
  standin: FleetStandin,
  stateDir: string,
  etcd: FleetCluster['etcd'],
): FleetCluster {
  const log = path.join(stateDir, 'calls.log');
  return {
    sshd,
    standin,
    etcd,
    socketPath: standin.socketPath,
    async calls() {
      const text = await fs.readFile(log, 'utf8').catch(() => '');
      return text.split('\n').filter((line) => line !== '');
    },
    running: (unit) => existsSync(path.join(stateDir, unit)),
    async failStart(unit) {
      await fs.writeFile(path.join(stateDir, `fail-start-${unit}`), '');
    },
    inputs(extra = {}) {
      return {
        host: `${sshd.host}:${sshd.port}`,
        'ssh-user': sshd.user,
        'ssh-key': sshd.privateKey,
        'known-hosts': sshd.knownHosts,
        'fleet-endpoint': standin.socketPath,
        'etcd-endpoint': `127.0.0.1:${etcd.port}`,
        ...extra,
      };
    },
    async stop() {
      await standin.close();
      await etcd.service.stop();
      await sshd.stop();
    },
  };
}

/** A real sshd + the fleet stand-in behind it + fleetctl/sudo/systemctl stand-ins. */
export async function startFleetCluster(options: FleetClusterOptions): Promise<FleetCluster> {
  const sshd = await startSshd(options.sshd);
  let etcd: FleetCluster['etcd'] | undefined;
  try {
    const runDir = path.join(sshd.dir, 'run');
    await fs.mkdir(runDir, { mode: 0o755 });
    const stateDir = await installCommands(sshd);
    etcd = await startEtcd(sshd.dir);
    const etcdUnit = options.etcdUnit ?? 'arch-core-etcd.service';
    const standin = await startFleetStandin({
      ...options,
      socketPath: path.join(runDir, 'fleet.sock'),
      socketGid: sshd.gid,
      registered: etcdUnit ? () => existsSync(path.join(stateDir, etcdUnit)) : undefined,
    });
    return clusterHandle(sshd, standin, stateDir, etcd);
  } catch (error) {
    await etcd?.service.stop();
    await sshd.stop();
    throw error;
  }
}
