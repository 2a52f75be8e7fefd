import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { startService } from './process.js';

/**
 * A Docker-compatible API without a Docker engine: `podman system service` on a unix socket
 * (vfs storage, cgroupfs, runc, file events: what works in this container, see
 * docs/dev/tool-facts.md), trusting one plain-HTTP registry. The `docker` CLI talks to it
 * through DOCKER_HOST.
 */
export interface PodmanService {
  dockerHost: string;
  env: NodeJS.ProcessEnv;
  log(): string;
  stop(): Promise<void>;
}

/**
 * podman's global options that work here: its own storage under `dir` (vfs), cgroupfs, runc,
 * file events.
 */
export function podmanGlobalArgs(dir: string): string[] {
  return [
    ...['--root', path.join(dir, 'root'), '--runroot', path.join(dir, 'runroot')],
    ...['--storage-driver', 'vfs', '--cgroup-manager', 'cgroupfs'],
    ...['--events-backend', 'file', '--runtime', 'runc'],
  ];
}

/** `podman run` options that work here: no network, ulimits the sandbox allows. */
export const PODMAN_RUN_ARGS = [
  '--rm',
  '--network=none',
  ...['--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024'],
];

export async function startPodmanService(insecureRegistries: string[]): Promise<PodmanService> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'podman-service-'));
  const socket = path.join(dir, 'podman.sock');
  await fs.writeFile(
    path.join(dir, 'containers.conf'),
    [
      '[containers]',
      'default_ulimits = ["nofile=1024:1024","nproc=1024:1024"]',
      '[engine]',
      'cgroup_manager = "cgroupfs"',
      'events_logger = "file"',
      'runtime = "runc"',
      '',
    ].join('\n'),
  );
  await fs.writeFile(
    path.join(dir, 'storage.conf'),
    [
      '[storage]',
      'driver = "vfs"',
      `graphroot = "${dir}/root"`,
      `runroot = "${dir}/runroot"`,
      '',
    ].join('\n'),
  );
  await fs.writeFile(
    path.join(dir, 'registries.conf'),
    insecureRegistries
      .map((location) => `[[registry]]\nlocation = "${location}"\ninsecure = true\n`)
      .join('\n'),
  );
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CONTAINERS_CONF: path.join(dir, 'containers.conf'),
    CONTAINERS_STORAGE_CONF: path.join(dir, 'storage.conf'),
    CONTAINERS_REGISTRIES_CONF: path.join(dir, 'registries.conf'),
  };
  const service = startService(
    'podman',
    [...podmanGlobalArgs(dir), 'system', 'service', '--time=0', `unix://${socket}`],
    { env },
  );
  const deadline = Date.now() + 15_000;
  while (!(await fs.stat(socket).catch(() => undefined))) {
    if (Date.now() > deadline || service.child.exitCode !== null) {
      await service.stop();
      await fs.rm(dir, { recursive: true, force: true });
      throw new Error(`podman system service did not start:\n${service.log()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const dockerHost = `unix://${socket}`;
  return {
    dockerHost,
    env: { ...env, DOCKER_HOST: dockerHost },
    log: service.log,
    stop: async () => {
      await service.stop();
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}
